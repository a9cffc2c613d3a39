package gateway

import (
	"strconv"
	"sync"

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

	// Children of the vectors above for their fixed label values, looked up
	// once: WithLabelValues hashes the labels and takes the vector's lock,
	// and the hot paths asked for a dozen children per session.
	sessionsDoneBy    children[prometheus.Counter]
	sessionDurationBy lazyChildren[prometheus.Observer]
	stageLatencyBy    children[prometheus.Observer]
	otaErrorsBy       children[prometheus.Counter]
	moReceivedBy      children[prometheus.Counter]
	moUnmatchedBy     children[prometheus.Counter]
	receiptsBy        children[prometheus.Counter]
	// started and http cache children whose labels are known only at run
	// time but bounded: configured portal ids, route patterns, methods
	// (methodLabel) and the status codes the handlers write.
	started sync.Map // [2]string{operation, portal} → prometheus.Counter
	http    sync.Map // httpKey → *httpChildren
}

// children maps a one-label vector's fixed label values to their children.
// The map is filled in newMetrics and only read afterwards, so it needs no
// lock; a value outside it falls back to the vector.
type children[T any] struct {
	fixed map[string]T
	vec   func(...string) T
}

func newChildren[T any](vec func(...string) T, values ...string) children[T] {
	c := children[T]{fixed: make(map[string]T, len(values)), vec: vec}
	for _, v := range values {
		c.fixed[v] = vec(v)
	}
	return c
}

// with returns the child for label value v.
func (c children[T]) with(v string) T {
	if x, ok := c.fixed[v]; ok {
		return x
	}
	return c.vec(v)
}

// lazyChildren caches a one-label vector's children as they are first
// asked for; the label values must come from a bounded set.
type lazyChildren[T any] struct {
	m   *sync.Map // label value → T
	vec func(...string) T
}

// with returns the child for label value v, creating it on first use.
func (c lazyChildren[T]) with(v string) T {
	if x, ok := c.m.Load(v); ok {
		return x.(T)
	}
	x, _ := c.m.LoadOrStore(v, c.vec(v))
	return x.(T)
}

// httpKey labels one request's series.
type httpKey struct {
	route, method string
	code          int
}

// httpChildren are the request counter and duration children of one key.
type httpChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// observeHTTP counts one request and its duration.
func (m *metrics) observeHTTP(route, method string, code int, seconds float64) {
	k := httpKey{route: route, method: method, code: code}
	c, ok := m.http.Load(k)
	if !ok {
		c, _ = m.http.LoadOrStore(k, &httpChildren{
			requests: m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)),
			duration: m.httpDuration.WithLabelValues(route),
		})
	}
	hc := c.(*httpChildren)
	hc.requests.Inc()
	hc.duration.Observe(seconds)
}

// sessionStarted counts a started session.
func (m *metrics) sessionStarted(operation, portal string) {
	k := [2]string{operation, portal}
	c, ok := m.started.Load(k)
	if !ok {
		c, _ = m.started.LoadOrStore(k, m.sessionsStarted.WithLabelValues(operation, portal))
	}
	c.(prometheus.Counter).Inc()
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
	// Pre-create bounded series so dashboards and alerts see zeros, not
	// gaps, and keep their children for the hot paths.
	m.sessionsDoneBy = newChildren(m.sessionsDone.WithLabelValues, allResults...)
	// Session durations have no series before their first observation, as
	// before: their children are cached as they are first used.
	m.sessionDurationBy = lazyChildren[prometheus.Observer]{m: new(sync.Map), vec: m.sessionDuration.WithLabelValues}
	m.otaErrorsBy = newChildren(m.otaErrors.WithLabelValues, "checksum", "counter", "keys", "format", "tar", "por_status", "other")
	m.moUnmatchedBy = newChildren(m.moUnmatched.WithLabelValues, "unknown_phone", "no_session", "late", "phone_mismatch")
	m.moReceivedBy = newChildren(m.moReceived.WithLabelValues, "reply", "por", "invalid")
	m.receiptsBy = newChildren(m.receipts.WithLabelValues, "delivered", "failed", "absent", "unmatched", "early")
	m.stageLatencyBy = newChildren(m.stageLatency.WithLabelValues, "accepted_submitted", "submitted_delivered", "submitted_reply", "end_to_end")
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
