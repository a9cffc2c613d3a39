package gateway

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
)

// testPortals are two configured portals: p1 may do everything, p2 only logins.
func testPortals() []*Portal {
	return []*Portal{{ID: "p1"}, {ID: "p2", Operations: []applet.Operation{applet.OpAuthenticate}}}
}

// metricHelp is every metric the gateway exports with its help text:
// dashboards, alert rules and their tests depend on both.
var metricHelp = map[string]string{
	"imzagate_http_requests_total":           "Portal API requests by route pattern, method and status code.",
	"imzagate_http_request_duration_seconds": "Portal API request latency by route pattern (long-polls included).",
	"imzagate_http_requests_in_flight":       "Portal API requests being served.",
	"imzagate_api_errors_total":              "Portal API error answers by stable error code.",
	"imzagate_sessions_started_total":        "Sessions started by operation and portal.",
	"imzagate_sessions_completed_total":      "Sessions completed by final result (counted by the instance that completed them).",
	"imzagate_session_duration_seconds":      "Time from acceptance to completion by final result.",
	"imzagate_session_stage_seconds":         "Stage latencies: accepted_submitted, submitted_delivered, submitted_reply, end_to_end.",
	"imzagate_ota_errors_total":              "MO packets that failed OTA processing or may not change a session, by reason (checksum, counter, keys, format, tar, por_status, other, echoed_mt, por_unsecured, por_stale, por_info).",
	"imzagate_mo_replays_total":              "MO replies rejected because their counter was not higher than the last accepted one.",
	"imzagate_mo_received_total":             "MO messages handed to the correlator, by kind (reply, por, invalid).",
	"imzagate_mo_unmatched_total":            "MO messages acknowledged without effect, by reason (unknown_phone, no_session, late, phone_mismatch).",
	"imzagate_receipts_total":                "Delivery receipts seen by the correlator, by outcome (delivered, failed, absent, unmatched, early, sim_error).",
	"imzagate_callbacks_sent_total":          "Callbacks the portal accepted with a 2xx answer.",
	"imzagate_callbacks_failed_total":        "Callbacks given up after the last retry.",
	"imzagate_callbacks_retried_total":       "Callback attempts repeated after a failure.",
	"imzagate_callbacks_dropped_total":       "Callbacks dropped because the queue was full.",
	"imzagate_callback_duration_seconds":     "Latency of one callback attempt.",
	"imzagate_callback_queue_length":         "Callbacks waiting for a worker.",
	"imzagate_ready":                         "1 when /readyz answers OK (store reachable, a bind up per operator, not draining).",
	"imzagate_mt_counter_resyncs_total":      "Commands sealed again with a counter moved ahead after the card answered CNTR low.",
	"imzagate_user_id_failures_total":        "Wrong User IDs (or unknown phones) by portal.",
	"imzagate_user_id_budget_blocks_total":   "Times a portal spent its budget of wrong User IDs and was blocked.",
	"imzagate_user_id_budget_refused_total":  "Starts and lookups refused because the portal is blocked for its wrong User IDs.",
}

func TestMetricNamesAndHelp(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, testPortals())
	// The vectors without children made up front get one each.
	m.observeHTTP("GET /v1/x", "GET", 200, 0.1)
	m.apiErrors.WithLabelValues(CodeInternal).Inc()
	m.sessionDuration.WithLabelValues(sessions.ResultOK).Observe(1)
	m.callbackDuration.Observe(1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetHelp()
	}
	for name, help := range metricHelp {
		if got[name] != help {
			t.Errorf("%s: help %q, want %q", name, got[name], help)
		}
	}
	if len(got) != len(metricHelp) {
		t.Errorf("%d metrics exported, want %d: %v", len(got), len(metricHelp), got)
	}
}

// TestCurriedChildren: the children newMetrics makes are the vectors'
// series with the right labels, exported at zero before their first use
// (dashboards see zeros, not gaps); a label value outside the fixed sets
// still counts.
func TestCurriedChildren(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, testPortals())
	m.moReceived.reply.Inc()
	m.moUnmatched.phoneMismatch.Inc()
	m.receipts.early.Inc()
	m.otaError("tar").Inc()
	m.otaError("no such reason").Inc()
	m.started(applet.OpAuthenticate, "p1").Inc()
	m.started(applet.OpAuthenticate, "p1").Inc()
	m.started(applet.OpSign, "p2").Inc() // p2 may not sign: counted all the same
	m.completed(sessions.ResultPhoneAbsent).Inc()
	m.completed("NEW_RESULT").Inc()
	want := `
# HELP imzagate_mo_received_total MO messages handed to the correlator, by kind (reply, por, invalid).
# TYPE imzagate_mo_received_total counter
imzagate_mo_received_total{kind="invalid"} 0
imzagate_mo_received_total{kind="por"} 0
imzagate_mo_received_total{kind="reply"} 1
# HELP imzagate_mo_unmatched_total MO messages acknowledged without effect, by reason (unknown_phone, no_session, late, phone_mismatch).
# TYPE imzagate_mo_unmatched_total counter
imzagate_mo_unmatched_total{reason="late"} 0
imzagate_mo_unmatched_total{reason="no_session"} 0
imzagate_mo_unmatched_total{reason="phone_mismatch"} 1
imzagate_mo_unmatched_total{reason="unknown_phone"} 0
# HELP imzagate_receipts_total Delivery receipts seen by the correlator, by outcome (delivered, failed, absent, unmatched, early, sim_error).
# TYPE imzagate_receipts_total counter
imzagate_receipts_total{outcome="absent"} 0
imzagate_receipts_total{outcome="delivered"} 0
imzagate_receipts_total{outcome="early"} 1
imzagate_receipts_total{outcome="failed"} 0
imzagate_receipts_total{outcome="sim_error"} 0
imzagate_receipts_total{outcome="unmatched"} 0
# HELP imzagate_ota_errors_total MO packets that failed OTA processing or may not change a session, by reason (checksum, counter, keys, format, tar, por_status, other, echoed_mt, por_unsecured, por_stale, por_info).
# TYPE imzagate_ota_errors_total counter
imzagate_ota_errors_total{reason="checksum"} 0
imzagate_ota_errors_total{reason="counter"} 0
imzagate_ota_errors_total{reason="echoed_mt"} 0
imzagate_ota_errors_total{reason="format"} 0
imzagate_ota_errors_total{reason="keys"} 0
imzagate_ota_errors_total{reason="other"} 1
imzagate_ota_errors_total{reason="por_info"} 0
imzagate_ota_errors_total{reason="por_stale"} 0
imzagate_ota_errors_total{reason="por_status"} 0
imzagate_ota_errors_total{reason="por_unsecured"} 0
imzagate_ota_errors_total{reason="tar"} 1
# HELP imzagate_sessions_started_total Sessions started by operation and portal.
# TYPE imzagate_sessions_started_total counter
imzagate_sessions_started_total{operation="AUTHENTICATE",portal="p1"} 2
imzagate_sessions_started_total{operation="AUTHENTICATE",portal="p2"} 0
imzagate_sessions_started_total{operation="SIGN",portal="p1"} 0
imzagate_sessions_started_total{operation="SIGN",portal="p2"} 1
# HELP imzagate_sessions_completed_total Sessions completed by final result (counted by the instance that completed them).
# TYPE imzagate_sessions_completed_total counter
imzagate_sessions_completed_total{result="CANCELLED_BY_ADMIN"} 0
imzagate_sessions_completed_total{result="CANCELLED_BY_PORTAL"} 0
imzagate_sessions_completed_total{result="CARD_BLOCKED"} 0
imzagate_sessions_completed_total{result="CERTIFICATE_REVOKED"} 0
imzagate_sessions_completed_total{result="DELIVERY_ERROR"} 0
imzagate_sessions_completed_total{result="NEW_RESULT"} 1
imzagate_sessions_completed_total{result="NO_KEY"} 0
imzagate_sessions_completed_total{result="OK"} 0
imzagate_sessions_completed_total{result="PHONE_ABSENT"} 1
imzagate_sessions_completed_total{result="PIN_BLOCKED"} 0
imzagate_sessions_completed_total{result="SIGNATURE_INVALID"} 0
imzagate_sessions_completed_total{result="SIM_ERROR"} 0
imzagate_sessions_completed_total{result="TIMEOUT"} 0
imzagate_sessions_completed_total{result="USER_CANCELLED"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "imzagate_mo_received_total", "imzagate_mo_unmatched_total",
		"imzagate_receipts_total", "imzagate_ota_errors_total", "imzagate_sessions_started_total", "imzagate_sessions_completed_total"); err != nil {
		t.Fatal(err)
	}
}

// TestHistogramSeries: the stage children are the four stages, made up
// front; session durations have one series per final result from the
// start, and no more after observations.
func TestHistogramSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, testPortals())
	if n, err := testutil.GatherAndCount(reg, "imzagate_session_stage_seconds"); err != nil || n != 4 {
		t.Fatalf("%d stage series (%v), want 4", n, err)
	}
	if n := testutil.CollectAndCount(m.sessionDuration); n != len(allResults) {
		t.Fatalf("%d session duration series before any session, want one per result", n)
	}
	m.stage.endToEnd.Observe(0.5)
	m.stage.endToEnd.Observe(0.7)
	m.sessionDuration.WithLabelValues(sessions.ResultOK).Observe(1)
	m.sessionDuration.WithLabelValues(sessions.ResultOK).Observe(2)
	if n := testutil.CollectAndCount(m.sessionDuration); n != len(allResults) {
		t.Fatalf("%d session duration series, want %d", n, len(allResults))
	}
	for _, tt := range []struct {
		metric string
		labels []string
		want   float64
	}{
		{"imzagate_session_stage_seconds", []string{"stage", "end_to_end"}, 2},
		{"imzagate_session_stage_seconds", []string{"stage", "accepted_submitted"}, 0},
		{"imzagate_session_duration_seconds", []string{"result", sessions.ResultOK}, 2},
	} {
		if got := metricValue(t, reg, tt.metric, tt.labels...); got != tt.want {
			t.Errorf("%s%v: %v observations, want %v", tt.metric, tt.labels, got, tt.want)
		}
	}
}

// TestObserveHTTP: requests count by route, method and code; their
// duration by route only.
func TestObserveHTTP(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg, nil)
	m.observeHTTP("POST /v1/x", "POST", 201, 0.01)
	m.observeHTTP("POST /v1/x", "POST", 201, 0.01)
	m.observeHTTP("POST /v1/x", "POST", 400, 0.01)
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("POST /v1/x", "POST", "201")); got != 2 {
		t.Fatalf("201 requests %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.httpRequests.WithLabelValues("POST /v1/x", "POST", "400")); got != 1 {
		t.Fatalf("400 requests %v, want 1", got)
	}
	if n := testutil.CollectAndCount(m.httpDuration); n != len(apiRoutes)+1 {
		t.Fatalf("%d duration series, want one per route", n)
	}
	if got := metricValue(t, reg, "imzagate_http_request_duration_seconds", "route", "POST /v1/x"); got != 3 {
		t.Fatalf("%v duration observations, want 3", got)
	}
}

// BenchmarkMetricsPerSession is the metric updates of one session: two HTTP
// requests, the start, four stages, the MO, the receipt and the result.
func BenchmarkMetricsPerSession(b *testing.B) {
	m := newMetrics(prometheus.NewRegistry(), testPortals())
	b.ReportAllocs()
	for b.Loop() {
		m.observeHTTP("POST /v1/authentication", "POST", 201, 0.01)
		m.observeHTTP("GET /v1/sessions/{id}", "GET", 200, 0.01)
		m.started(applet.OpAuthenticate, "p1").Inc()
		m.stage.acceptedSubmitted.Observe(0.01)
		m.stage.submittedDelivered.Observe(0.01)
		m.stage.submittedReply.Observe(0.01)
		m.stage.endToEnd.Observe(0.01)
		m.moReceived.reply.Inc()
		m.receipts.delivered.Inc()
		m.completed(sessions.ResultOK).Inc()
		m.sessionDuration.WithLabelValues(sessions.ResultOK).Observe(0.03)
	}
}
