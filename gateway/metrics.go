package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the gateway's own series (issue 7): HTTP, sessions, OTA errors,
// MO correlation and callbacks. Labels are bounded: route patterns, codes,
// results, configured portal ids, fixed reasons. Never a phone number.
type metrics struct {
	httpRequests     *prometheus.CounterVec
	httpDuration     *prometheus.HistogramVec
	httpInFlight     prometheus.Gauge
	apiErrors        *prometheus.CounterVec
	sessionsStarted  *prometheus.CounterVec
	sessionsDone     *prometheus.CounterVec
	sessionDuration  *prometheus.HistogramVec
	stageLatency     *prometheus.HistogramVec
	otaErrors        *prometheus.CounterVec
	moReplays        prometheus.Counter
	moReceived       *prometheus.CounterVec
	moUnmatched      *prometheus.CounterVec
	receipts         *prometheus.CounterVec
	callbacksSent    prometheus.Counter
	callbacksFailed  prometheus.Counter
	callbacksRetried prometheus.Counter
	callbacksDropped prometheus.Counter
	callbackDuration prometheus.Histogram
	callbackQueue    prometheus.Gauge
	ready            prometheus.Gauge
}

// latencyBuckets cover 1 ms to about 2 minutes: HTTP answers in
// milliseconds, a user answers the phone in seconds to a minute.
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 2.5, 15)

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		httpRequests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_http_requests_total", Help: "Portal API requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "imzagate_http_request_duration_seconds", Help: "Portal API request latency by route pattern (long-polls included).",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		httpInFlight: f.NewGauge(prometheus.GaugeOpts{
			Name: "imzagate_http_requests_in_flight", Help: "Portal API requests being served.",
		}),
		apiErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_api_errors_total", Help: "Portal API error answers by stable error code.",
		}, []string{"code"}),
		sessionsStarted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_sessions_started_total", Help: "Sessions started by operation and portal.",
		}, []string{"operation", "portal"}),
		sessionsDone: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_sessions_completed_total", Help: "Sessions completed by final result (counted by the instance that completed them).",
		}, []string{"result"}),
		sessionDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "imzagate_session_duration_seconds", Help: "Time from acceptance to completion by final result.",
			Buckets: latencyBuckets,
		}, []string{"result"}),
		stageLatency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "imzagate_session_stage_seconds", Help: "Stage latencies: accepted_submitted, submitted_delivered, submitted_reply, end_to_end.",
			Buckets: latencyBuckets,
		}, []string{"stage"}),
		otaErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_ota_errors_total", Help: "MO packets that failed OTA processing, by reason (checksum, counter, keys, format, tar, por_status, other).",
		}, []string{"reason"}),
		moReplays: f.NewCounter(prometheus.CounterOpts{
			Name: "imzagate_mo_replays_total", Help: "MO replies rejected because their counter was not higher than the last accepted one.",
		}),
		moReceived: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_mo_received_total", Help: "MO messages handed to the correlator, by kind (reply, por, invalid).",
		}, []string{"kind"}),
		moUnmatched: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_mo_unmatched_total", Help: "MO messages acknowledged without effect, by reason (unknown_phone, no_session, late, phone_mismatch).",
		}, []string{"reason"}),
		receipts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_receipts_total", Help: "Delivery receipts seen by the correlator, by outcome (delivered, failed, absent, unmatched, early).",
		}, []string{"outcome"}),
		callbacksSent: f.NewCounter(prometheus.CounterOpts{
			Name: "imzagate_callbacks_sent_total", Help: "Callbacks the portal accepted with a 2xx answer.",
		}),
		callbacksFailed: f.NewCounter(prometheus.CounterOpts{
			Name: "imzagate_callbacks_failed_total", Help: "Callbacks given up after the last retry.",
		}),
		callbacksRetried: f.NewCounter(prometheus.CounterOpts{
			Name: "imzagate_callbacks_retried_total", Help: "Callback attempts repeated after a failure.",
		}),
		callbacksDropped: f.NewCounter(prometheus.CounterOpts{
			Name: "imzagate_callbacks_dropped_total", Help: "Callbacks dropped because the queue was full.",
		}),
		callbackDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name: "imzagate_callback_duration_seconds", Help: "Latency of one callback attempt.", Buckets: latencyBuckets,
		}),
		callbackQueue: f.NewGauge(prometheus.GaugeOpts{
			Name: "imzagate_callback_queue_length", Help: "Callbacks waiting for a worker.",
		}),
		ready: f.NewGauge(prometheus.GaugeOpts{
			Name: "imzagate_ready", Help: "1 when /readyz answers OK (store reachable, a bind up per operator, not draining).",
		}),
	}
	// Pre-create bounded series so dashboards and alerts see zeros, not gaps.
	for _, r := range allResults {
		m.sessionsDone.WithLabelValues(r)
	}
	for _, r := range []string{"checksum", "counter", "keys", "format", "tar", "por_status", "other"} {
		m.otaErrors.WithLabelValues(r)
	}
	for _, r := range []string{"unknown_phone", "no_session", "late", "phone_mismatch"} {
		m.moUnmatched.WithLabelValues(r)
	}
	for _, k := range []string{"reply", "por", "invalid"} {
		m.moReceived.WithLabelValues(k)
	}
	for _, o := range []string{"delivered", "failed", "absent", "unmatched", "early"} {
		m.receipts.WithLabelValues(o)
	}
	for _, s := range []string{"accepted_submitted", "submitted_delivered", "submitted_reply", "end_to_end"} {
		m.stageLatency.WithLabelValues(s)
	}
	return m
}

// MetricNames lists every metric name the gateway package exports, for
// dashboards, alert rules and the test that checks them.
func MetricNames() []string {
	return []string{
		"imzagate_http_requests_total", "imzagate_http_request_duration_seconds", "imzagate_http_requests_in_flight",
		"imzagate_api_errors_total", "imzagate_sessions_started_total", "imzagate_sessions_completed_total",
		"imzagate_session_duration_seconds", "imzagate_session_stage_seconds", "imzagate_ota_errors_total",
		"imzagate_mo_replays_total", "imzagate_mo_received_total", "imzagate_mo_unmatched_total",
		"imzagate_receipts_total", "imzagate_callbacks_sent_total", "imzagate_callbacks_failed_total",
		"imzagate_callbacks_retried_total", "imzagate_callbacks_dropped_total", "imzagate_callback_duration_seconds",
		"imzagate_callback_queue_length", "imzagate_ready",
	}
}
