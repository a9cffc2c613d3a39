package gateway

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSeriesExistFromStart: before any request, every problem code, every
// route's success and 5xx series, every result's duration and every
// portal's budget series are exported at zero, so the dashboard's panels
// and the alert rules see 0, not "no data".
func TestSeriesExistFromStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	newMetrics(reg, testPortals())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]map[string]bool{} // metric → "label=value" present
	for _, mf := range mfs {
		set := map[string]bool{}
		for _, m := range mf.GetMetric() {
			key := ""
			for _, lp := range m.GetLabel() {
				key += lp.GetName() + "=" + lp.GetValue() + ","
			}
			set[key] = true
		}
		series[mf.GetName()] = set
	}
	want := func(metric, key string) {
		t.Helper()
		if !series[metric][key] {
			t.Errorf("%s{%s} missing before first use", metric, key)
		}
	}
	for code := range codeStatus {
		want("imzagate_api_errors_total", "code="+code+",")
	}
	for _, code := range []string{CodeIdempotencyKeyReused, CodeUserIDBudget, CodeOperatorUnavailable, CodeInternal} {
		want("imzagate_api_errors_total", "code="+code+",")
	}
	for _, r := range apiRoutes {
		want("imzagate_http_requests_total", "code=500,method="+r.method+",route="+r.pattern+",")
		want("imzagate_http_request_duration_seconds", "route="+r.pattern+",")
	}
	want("imzagate_http_requests_total", "code=201,method=POST,route=POST /v1/authentications,")
	for _, res := range allResults {
		want("imzagate_session_duration_seconds", "result="+res+",")
		want("imzagate_sessions_completed_total", "result="+res+",")
	}
	for _, p := range testPortals() {
		for _, m := range []string{"imzagate_user_id_failures_total", "imzagate_user_id_budget_blocks_total", "imzagate_user_id_budget_refused_total"} {
			want(m, "portal="+p.ID+",")
		}
	}
	for _, r := range otaReasons {
		want("imzagate_ota_errors_total", "reason="+r+",")
	}
	want("imzagate_receipts_total", "outcome=sim_error,")
	if len(series["imzagate_mt_counter_resyncs_total"]) != 1 {
		t.Error("imzagate_mt_counter_resyncs_total missing")
	}
}
