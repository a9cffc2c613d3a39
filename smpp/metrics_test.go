package smpp_test

import (
	"context"
	"testing"
	"time"

	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
	"github.com/prometheus/client_golang/prometheus"
)

// metricValue sums the series of name whose labels include want.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		found := false
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			found = true
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
		return sum, found
	}
	return 0, false
}

func TestMetricsAndSMSCEnquireLink(t *testing.T) {
	// The SMSC probes every 10 ms: the client must answer at any time.
	srv := smsctest.Start(t, smsc.Options{EnquireLinkInterval: 10 * time.Millisecond})
	reg := prometheus.NewRegistry()
	rec := newRecorder()
	p, err := smpp.NewPool(smpp.PoolOptions{Registerer: reg, Logger: testLogger(t), Operators: []smpp.Operator{{
		Name: "azercell", Prefixes: []string{"99450"}, Binds: []smpp.BindConfig{fastBind(srv.Addr())}}}})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, func(ctx context.Context) error { return p.Run(ctx, rec) })
	waitBound(t, p)
	time.Sleep(100 * time.Millisecond) // ten SMSC probes
	if _, err := p.Submit(context.Background(), "994501234567", [][]byte{seg(1)}); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "receipt", func() bool { return len(rec.receipts) == 1 })
	// The answered counter moves before deliver_sm_resp is written, so once
	// the SMSC has counted the delivery the metrics are final.
	for deadline := time.Now().Add(5 * time.Second); srv.Stats().Deliveries != 1; {
		if time.Now().After(deadline) {
			t.Fatal("deliver_sm_resp not seen by the SMSC")
		}
		time.Sleep(time.Millisecond)
	}
	if st := srv.Stats(); st.Binds != 1 {
		t.Errorf("binds %d: the link dropped under SMSC enquire_link", st.Binds)
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"imzagate_smpp_bind_up", map[string]string{"operator": "azercell", "bind": "azercell-1"}, 1},
		{"imzagate_smpp_submits_total", map[string]string{"operator": "azercell", "status": "ESME_ROK"}, 1},
		{"imzagate_smpp_submit_duration_seconds", map[string]string{"operator": "azercell"}, 1},
		{"imzagate_smpp_window_in_use", map[string]string{"operator": "azercell"}, 0},
		{"imzagate_smpp_deliver_sm_received_total", map[string]string{"kind": "receipt"}, 1},
		{"imzagate_smpp_deliver_sm_answered_total", map[string]string{"status": "ESME_ROK"}, 1},
		{"imzagate_smpp_receipts_total", map[string]string{"state": "DELIVRD"}, 1},
		{"imzagate_smpp_breaker_state", map[string]string{"operator": "azercell"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := metricValue(t, reg, tt.name, tt.labels)
			if !ok || got != tt.want {
				t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
			}
		})
	}
}

// TestMetricsExistBeforeTheFirstEvent: a new pool exports its operators' and
// binds' series at zero, so alert rules over rate() or == 0 see a value
// instead of nothing before the first throttle, reconnect or breaker trip.
func TestMetricsExistBeforeTheFirstEvent(t *testing.T) {
	reg := prometheus.NewRegistry()
	bind := fastBind("127.0.0.1:1")
	bind.Name = "azercell-1"
	_, err := smpp.NewPool(smpp.PoolOptions{Registerer: reg, Logger: testLogger(t), Operators: []smpp.Operator{{
		Name: "azercell", Prefixes: []string{"99450"}, Binds: []smpp.BindConfig{bind}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"imzagate_smpp_bind_up", map[string]string{"operator": "azercell", "bind": "azercell-1"}},
		{"imzagate_smpp_throttle_events_total", map[string]string{"operator": "azercell", "bind": "azercell-1"}},
		{"imzagate_smpp_reconnects_total", map[string]string{"operator": "azercell", "reason": "enquire_link_timeout"}},
		{"imzagate_smpp_bind_errors_total", map[string]string{"operator": "azercell", "status": "ESME_RINVPASWD"}},
		{"imzagate_smpp_late_responses_total", map[string]string{"operator": "azercell"}},
		{"imzagate_smpp_enquire_link_failures_total", map[string]string{"operator": "azercell"}},
		{"imzagate_smpp_enquire_link_duration_seconds", map[string]string{"operator": "azercell"}},
		{"imzagate_smpp_breaker_state", map[string]string{"operator": "azercell"}},
		{"imzagate_smpp_breaker_transitions_total", map[string]string{"operator": "azercell", "to": "open"}},
		{"imzagate_smpp_deliver_sm_answered_total", map[string]string{"operator": "azercell", "status": "ESME_RX_T_APPN"}},
		{"imzagate_smpp_mo_segments_total", map[string]string{"operator": "azercell", "result": "held"}},
		{"imzagate_smpp_mo_segments_total", map[string]string{"operator": "azercell", "result": "refused"}},
		{"imzagate_smpp_receipts_total", map[string]string{"operator": "azercell", "state": "UNDELIV"}},
		{"imzagate_smpp_receipts_total", map[string]string{"operator": "azercell", "state": "EXPIRED"}},
		{"imzagate_smpp_deliver_sm_answered_total", map[string]string{"operator": "azercell", "status": "ESME_RX_P_APPN"}},
		{"imzagate_smpp_submits_total", map[string]string{"operator": "azercell", "status": "outcome_unknown"}},
	} {
		v, found := metricValue(t, reg, c.name, c.labels)
		if !found || v != 0 {
			t.Errorf("%s%v: found=%v value=%v, want a zero series", c.name, c.labels, found, v)
		}
	}
}
