package gateway

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCachedChildrenAreTheVectorsSeries(t *testing.T) {
	for _, tt := range []struct {
		name   string
		bump   func(m *metrics)
		metric string
		labels []string
		want   float64
	}{
		{"fixed counter child", func(m *metrics) { m.moReceivedBy.with("reply").Inc() },
			"imzagate_mo_received_total", []string{"kind", "reply"}, 1},
		{"counter label outside the fixed set", func(m *metrics) { m.receiptsBy.with("new_outcome").Inc() },
			"imzagate_receipts_total", []string{"outcome", "new_outcome"}, 1},
		{"stage histogram child", func(m *metrics) { m.stageLatencyBy.with("end_to_end").Observe(0.5) },
			"imzagate_session_stage_seconds", []string{"stage", "end_to_end"}, 1},
		{"session started twice", func(m *metrics) { m.sessionStarted("AUTHENTICATE", "p1"); m.sessionStarted("AUTHENTICATE", "p1") },
			"imzagate_sessions_started_total", []string{"operation", "AUTHENTICATE", "portal", "p1"}, 2},
		{"http request counted by code", func(m *metrics) {
			m.observeHTTP("POST /v1/x", "POST", 201, 0.01)
			m.observeHTTP("POST /v1/x", "POST", 201, 0.01)
			m.observeHTTP("POST /v1/x", "POST", 400, 0.01)
		}, "imzagate_http_requests_total", []string{"route", "POST /v1/x", "method", "POST", "code", "201"}, 2},
		{"http duration shared across codes", func(m *metrics) {
			m.observeHTTP("POST /v1/x", "POST", 201, 0.01)
			m.observeHTTP("POST /v1/x", "POST", 400, 0.01)
		}, "imzagate_http_request_duration_seconds", []string{"route", "POST /v1/x"}, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			tt.bump(newMetrics(reg))
			if got := metricValue(t, reg, tt.metric, tt.labels...); got != tt.want {
				t.Fatalf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
}

// seriesCount is the number of series of the metric named name.
func seriesCount(t *testing.T, reg *prometheus.Registry, name string) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestCachedHistogramsKeepTheirSeriesSet(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	// Durations have no series before the first observation, as before the
	// children were cached; completed sessions are pre-created per result.
	if n := seriesCount(t, reg, "imzagate_session_duration_seconds"); n != 0 {
		t.Fatalf("%d session duration series before any session", n)
	}
	if n := seriesCount(t, reg, "imzagate_sessions_completed_total"); n != len(allResults) {
		t.Fatalf("%d completed series, want one per result (%d)", n, len(allResults))
	}
	m.sessionDurationBy.with(ResultOK).Observe(1)
	m.sessionDurationBy.with(ResultOK).Observe(2)
	if n := seriesCount(t, reg, "imzagate_session_duration_seconds"); n != 1 {
		t.Fatalf("%d session duration series, want 1", n)
	}
	if got := metricValue(t, reg, "imzagate_session_duration_seconds", "result", ResultOK); got != 2 {
		t.Fatalf("%v observations, want 2", got)
	}
}

// BenchmarkMetricsPerSession is the metric updates of one session: two HTTP
// requests, the start, four stages, the MO, the receipt and the result.
func BenchmarkMetricsPerSession(b *testing.B) {
	m := newMetrics(prometheus.NewRegistry())
	b.Run("WithLabelValues", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.httpRequests.WithLabelValues("POST /v1/authentication", "POST", "201").Inc()
			m.httpDuration.WithLabelValues("POST /v1/authentication").Observe(0.01)
			m.httpRequests.WithLabelValues("GET /v1/sessions/{id}", "GET", "200").Inc()
			m.httpDuration.WithLabelValues("GET /v1/sessions/{id}").Observe(0.01)
			m.sessionsStarted.WithLabelValues("AUTHENTICATE", "p1").Inc()
			for _, s := range []string{"accepted_submitted", "submitted_delivered", "submitted_reply", "end_to_end"} {
				m.stageLatency.WithLabelValues(s).Observe(0.01)
			}
			m.moReceived.WithLabelValues("reply").Inc()
			m.receipts.WithLabelValues("delivered").Inc()
			m.sessionsDone.WithLabelValues(ResultOK).Inc()
			m.sessionDuration.WithLabelValues(ResultOK).Observe(0.03)
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.observeHTTP("POST /v1/authentication", "POST", 201, 0.01)
			m.observeHTTP("GET /v1/sessions/{id}", "GET", 200, 0.01)
			m.sessionStarted("AUTHENTICATE", "p1")
			for _, s := range []string{"accepted_submitted", "submitted_delivered", "submitted_reply", "end_to_end"} {
				m.stageLatencyBy.with(s).Observe(0.01)
			}
			m.moReceivedBy.with("reply").Inc()
			m.receiptsBy.with("delivered").Inc()
			m.sessionsDoneBy.with(ResultOK).Inc()
			m.sessionDurationBy.with(ResultOK).Observe(0.03)
		}
	})
}
