package trust

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/internal/testutil"
)

func TestMetricsSeries(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	thisUpdate := time.Now().Add(-90 * time.Second).Truncate(time.Second)
	nextUpdate := thisUpdate.Add(time.Hour)
	w.PublishCRL(thisUpdate, nextUpdate)
	c := w.checker(func(o *Options) {
		o.OCSP.Disabled = true
		o.CRL.URLs = map[string]string{"Asan Imza Test Issuing CA": w.Srv.URL + "/issuing.crl"}
	})
	// Run fetches the configured CRL before any check names it.
	run(t, c)
	testutil.Eventually(t, 10*time.Second, "configured CRL fetched by Run", func() bool { return w.CRLHits.Load() > 0 })
	if _, err := c.Check(ctx, signReq(leaf)); err != nil {
		t.Fatal(err)
	}
	families, err := w.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.Metric{}
	for _, f := range families {
		for _, m := range f.Metric {
			key := f.GetName()
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m
		}
	}
	const issuer = ",issuer=Asan Imza Test Issuing CA"
	age := got["imzagate_trust_crl_age_seconds"+issuer]
	if age == nil || age.Gauge.GetValue() < 89 || age.Gauge.GetValue() > 150 {
		t.Fatalf("CRL age %v", age)
	}
	next := got["imzagate_trust_crl_next_update_timestamp_seconds"+issuer]
	if next == nil || next.Gauge.GetValue() != float64(nextUpdate.Unix()) {
		t.Fatalf("CRL next update %v, want %d", next, nextUpdate.Unix())
	}
	if m := got["imzagate_trust_status_results_total,source=crl,status=good"]; m == nil || m.Counter.GetValue() != 1 {
		t.Fatalf("results %v", m)
	}
	if m := got["imzagate_trust_crl_fetches_total"+issuer+",result=ok"]; m == nil || m.Counter.GetValue() < 1 {
		t.Fatalf("fetches %v", m)
	}
	for _, o := range []string{"good", "revoked", "unknown", "error", "bad_signature", "stale"} {
		if got["imzagate_trust_ocsp_responses_total,outcome="+o] == nil {
			t.Fatalf("outcome %s not exported", o)
		}
	}
}
