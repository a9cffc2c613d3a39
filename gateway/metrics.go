package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
)

// metrics are the gateway's own series: HTTP, sessions, OTA errors, MO
// correlation and callbacks. Labels are bounded: route patterns, codes,
// results, configured portal ids, fixed reasons; never a phone number.
// The children of every label value known when the gateway starts are
// made once in newMetrics, so the hot paths neither hash labels nor take
// the vectors' locks; HTTP series are looked up per request.
type metrics struct {
	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge
	apiErrors    *prometheus.CounterVec

	sessionsStarted   *prometheus.CounterVec
	startedBy         map[startedKey]prometheus.Counter // the configured portals' operations
	sessionsCompleted *prometheus.CounterVec
	completedBy       map[string]prometheus.Counter // every final result
	// sessionDuration has no series for a result before a session ends
	// with it, so it is looked up at each completion.
	sessionDuration *prometheus.HistogramVec
	stage           stageMetrics

	otaErrors   map[string]prometheus.Counter // by reason: every otaReason and "other"
	moReplays   prometheus.Counter
	moReceived  moKindMetrics
	moUnmatched moUnmatchedMetrics
	receipts    receiptMetrics

	callbacksSent    prometheus.Counter
	callbacksFailed  prometheus.Counter
	callbacksRetried prometheus.Counter
	callbacksDropped prometheus.Counter
	callbackDuration prometheus.Histogram
	callbackQueue    prometheus.Gauge
	ready            prometheus.Gauge

	resyncs        prometheus.Counter     // MT counters moved ahead after "CNTR low"
	userIDFailures *prometheus.CounterVec // wrong User IDs by portal
	userIDBlocks   *prometheus.CounterVec // portals blocked for their budget of wrong User IDs
	userIDRefusals *prometheus.CounterVec // requests refused while the portal was blocked
}

// startedKey labels imzagate_sessions_started_total.
type startedKey struct {
	operation applet.Operation
	portal    string
}

// stageMetrics are the children of imzagate_session_stage_seconds.
type stageMetrics struct {
	acceptedSubmitted, submittedDelivered, submittedReply, endToEnd prometheus.Observer
}

// moKindMetrics are the children of imzagate_mo_received_total.
type moKindMetrics struct {
	reply, por, invalid prometheus.Counter
}

// moUnmatchedMetrics are the children of imzagate_mo_unmatched_total.
type moUnmatchedMetrics struct {
	unknownPhone, noSession, late, phoneMismatch prometheus.Counter
}

// receiptMetrics are the children of imzagate_receipts_total.
type receiptMetrics struct {
	delivered, failed, absent, unmatched, early, simError prometheus.Counter
}

// allResults lists every final result a session can end with.
var allResults = []string{sessions.ResultOK, sessions.ResultUserCancelled, sessions.ResultTimeout,
	sessions.ResultPINBlocked, sessions.ResultCardBlocked, sessions.ResultNoKey, sessions.ResultDeliveryError,
	sessions.ResultPhoneAbsent, sessions.ResultSIMError, sessions.ResultSignatureInvalid,
	ResultCertificateRevoked, ResultCancelledByPortal, ResultCancelledByAdmin}

// otaReasons lists every reason otaReason gives, and "other".
var otaReasons = []string{"checksum", "counter", "keys", "format", "tar", "por_status", "other",
	reasonEchoedMT, reasonPoRUnsecured, reasonPoRStale, reasonPoRInfo}

// latencyBuckets cover 1 ms to about 2 minutes: HTTP answers in
// milliseconds, a user answers the phone in seconds to a minute.
var latencyBuckets = prometheus.ExponentialBuckets(0.001, 2.5, 15)

// newMetrics registers the gateway's metrics on reg and makes the children
// of the fixed label values and of the operations the portals ps may start.
func newMetrics(reg prometheus.Registerer, ps []*Portal) *metrics {
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
		sessionsCompleted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_sessions_completed_total", Help: "Sessions completed by final result (counted by the instance that completed them).",
		}, []string{"result"}),
		sessionDuration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "imzagate_session_duration_seconds", Help: "Time from acceptance to completion by final result.",
			Buckets: latencyBuckets,
		}, []string{"result"}),
		moReplays: f.NewCounter(prometheus.CounterOpts{
			Name: "imzagate_mo_replays_total", Help: "MO replies rejected because their counter was not higher than the last accepted one.",
		}),
		ready: f.NewGauge(prometheus.GaugeOpts{
			Name: "imzagate_ready", Help: "1 when /readyz answers OK (store reachable, a bind up per operator, not draining).",
		}),
	}
	m.curry(ps)
	m.stage = newStageMetrics(f)
	m.otaErrors = newOTAErrorMetrics(f)
	m.moReceived, m.moUnmatched, m.receipts = newMOMetrics(f)
	m.newCallbackMetrics(f)
	m.newAbuseMetrics(f)
	m.initSeries(ps)
	return m
}

// curry makes the children of the started and completed counters.
func (m *metrics) curry(ps []*Portal) {
	m.startedBy = make(map[startedKey]prometheus.Counter)
	for _, p := range ps {
		for _, op := range []applet.Operation{applet.OpAuthenticate, applet.OpSign} {
			if p.allows(op) {
				m.startedBy[startedKey{op, p.ID}] = m.sessionsStarted.WithLabelValues(op.String(), p.ID)
			}
		}
	}
	m.completedBy = make(map[string]prometheus.Counter, len(allResults))
	for _, r := range allResults {
		m.completedBy[r] = m.sessionsCompleted.WithLabelValues(r)
	}
}

func newStageMetrics(f promauto.Factory) stageMetrics {
	v := f.NewHistogramVec(prometheus.HistogramOpts{
		Name: "imzagate_session_stage_seconds", Help: "Stage latencies: accepted_submitted, submitted_delivered, submitted_reply, end_to_end.",
		Buckets: latencyBuckets,
	}, []string{"stage"})
	return stageMetrics{v.WithLabelValues("accepted_submitted"), v.WithLabelValues("submitted_delivered"),
		v.WithLabelValues("submitted_reply"), v.WithLabelValues("end_to_end")}
}

func newOTAErrorMetrics(f promauto.Factory) map[string]prometheus.Counter {
	v := f.NewCounterVec(prometheus.CounterOpts{
		Name: "imzagate_ota_errors_total", Help: "MO packets that failed OTA processing or may not change a session, by reason (checksum, counter, keys, format, tar, por_status, other, echoed_mt, por_unsecured, por_stale, por_info).",
	}, []string{"reason"})
	by := make(map[string]prometheus.Counter, len(otaReasons))
	for _, r := range otaReasons {
		by[r] = v.WithLabelValues(r)
	}
	return by
}

func newMOMetrics(f promauto.Factory) (moKindMetrics, moUnmatchedMetrics, receiptMetrics) {
	kind := f.NewCounterVec(prometheus.CounterOpts{
		Name: "imzagate_mo_received_total", Help: "MO messages handed to the correlator, by kind (reply, por, invalid).",
	}, []string{"kind"})
	un := f.NewCounterVec(prometheus.CounterOpts{
		Name: "imzagate_mo_unmatched_total", Help: "MO messages acknowledged without effect, by reason (unknown_phone, no_session, late, phone_mismatch).",
	}, []string{"reason"})
	rc := f.NewCounterVec(prometheus.CounterOpts{
		Name: "imzagate_receipts_total", Help: "Delivery receipts seen by the correlator, by outcome (delivered, failed, absent, unmatched, early, sim_error).",
	}, []string{"outcome"})
	return moKindMetrics{kind.WithLabelValues("reply"), kind.WithLabelValues("por"), kind.WithLabelValues("invalid")},
		moUnmatchedMetrics{un.WithLabelValues("unknown_phone"), un.WithLabelValues("no_session"),
			un.WithLabelValues("late"), un.WithLabelValues("phone_mismatch")},
		receiptMetrics{rc.WithLabelValues("delivered"), rc.WithLabelValues("failed"), rc.WithLabelValues("absent"),
			rc.WithLabelValues("unmatched"), rc.WithLabelValues("early"), rc.WithLabelValues("sim_error")}
}

func (m *metrics) newCallbackMetrics(f promauto.Factory) {
	m.callbacksSent = f.NewCounter(prometheus.CounterOpts{
		Name: "imzagate_callbacks_sent_total", Help: "Callbacks the portal accepted with a 2xx answer.",
	})
	m.callbacksFailed = f.NewCounter(prometheus.CounterOpts{
		Name: "imzagate_callbacks_failed_total", Help: "Callbacks given up after the last retry.",
	})
	m.callbacksRetried = f.NewCounter(prometheus.CounterOpts{
		Name: "imzagate_callbacks_retried_total", Help: "Callback attempts repeated after a failure.",
	})
	m.callbacksDropped = f.NewCounter(prometheus.CounterOpts{
		Name: "imzagate_callbacks_dropped_total", Help: "Callbacks dropped because the queue was full.",
	})
	m.callbackDuration = f.NewHistogram(prometheus.HistogramOpts{
		Name: "imzagate_callback_duration_seconds", Help: "Latency of one callback attempt.", Buckets: latencyBuckets,
	})
	m.callbackQueue = f.NewGauge(prometheus.GaugeOpts{
		Name: "imzagate_callback_queue_length", Help: "Callbacks waiting for a worker.",
	})
}

// observeHTTP counts one request and its duration.
func (m *metrics) observeHTTP(route, method string, code int, seconds float64) {
	m.httpRequests.WithLabelValues(route, method, strconv.Itoa(code)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(seconds)
}

// started is the counter of sessions op started by portal.
func (m *metrics) started(op applet.Operation, portal string) prometheus.Counter {
	if c, ok := m.startedBy[startedKey{op, portal}]; ok {
		return c
	}
	return m.sessionsStarted.WithLabelValues(op.String(), portal)
}

// completed is the counter of sessions completed with result.
func (m *metrics) completed(result string) prometheus.Counter {
	if c, ok := m.completedBy[result]; ok {
		return c
	}
	return m.sessionsCompleted.WithLabelValues(result)
}

// otaError is the counter of MO packets that failed OTA processing for
// reason; an unknown reason counts as "other".
func (m *metrics) otaError(reason string) prometheus.Counter {
	if c, ok := m.otaErrors[reason]; ok {
		return c
	}
	return m.otaErrors["other"]
}
