package smpp

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the SMPP metrics of one pool (or one standalone client). Labels
// are bounded: operator and bind names come from configuration, statuses
// from CommandStatus.String.
type metrics struct {
	bindUp          *prometheus.GaugeVec
	bindErrors      *prometheus.CounterVec
	reconnects      *prometheus.CounterVec
	submits         *prometheus.CounterVec
	submitDuration  *prometheus.HistogramVec
	windowInUse     *prometheus.GaugeVec
	throttles       *prometheus.CounterVec
	lateResponses   *prometheus.CounterVec
	enquireDuration *prometheus.HistogramVec
	enquireFailures *prometheus.CounterVec
	deliverReceived *prometheus.CounterVec
	deliverAnswered *prometheus.CounterVec
	receipts        *prometheus.CounterVec
	breakerState    *prometheus.GaugeVec
	breakerChanges  *prometheus.CounterVec
	reassembly      *prometheus.CounterVec
}

// newMetrics registers on reg; a nil reg builds unregistered metrics.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	lat := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	return &metrics{
		bindUp: f.NewGaugeVec(prometheus.GaugeOpts{Name: "imzagate_smpp_bind_up",
			Help: "1 when the bind is bound, else 0."}, []string{"operator", "bind"}),
		bindErrors: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_bind_errors_total",
			Help: "Failed connect or bind attempts by reason (command_status or dial)."}, []string{"operator", "bind", "status"}),
		reconnects: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_reconnects_total",
			Help: "Sessions lost after being bound, by close reason."}, []string{"operator", "bind", "reason"}),
		submits: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_submits_total",
			Help: "submit_sm responses by command_status (outcome_unknown when none came)."}, []string{"operator", "status"}),
		submitDuration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "imzagate_smpp_submit_duration_seconds",
			Help: "Time from writing submit_sm to its response.", Buckets: lat}, []string{"operator"}),
		windowInUse: f.NewGaugeVec(prometheus.GaugeOpts{Name: "imzagate_smpp_window_in_use",
			Help: "Windowed requests in flight on the bind."}, []string{"operator", "bind"}),
		throttles: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_throttle_events_total",
			Help: "ESME_RTHROTTLED / ESME_RMSGQFUL responses that slowed the bind down."}, []string{"operator", "bind"}),
		lateResponses: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_late_responses_total",
			Help: "Responses that matched no request in flight (after their deadline)."}, []string{"operator", "bind"}),
		enquireDuration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "imzagate_smpp_enquire_link_duration_seconds",
			Help: "enquire_link round-trip time.", Buckets: lat}, []string{"operator"}),
		enquireFailures: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_enquire_link_failures_total",
			Help: "enquire_link requests without a response."}, []string{"operator", "bind"}),
		deliverReceived: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_deliver_sm_received_total",
			Help: "deliver_sm/data_sm received, by kind (mo, receipt)."}, []string{"operator", "kind"}),
		deliverAnswered: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_deliver_sm_answered_total",
			Help: "deliver_sm/data_sm responses sent, by command_status."}, []string{"operator", "status"}),
		receipts: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_receipts_total",
			Help: "Delivery receipts received, by state."}, []string{"operator", "state"}),
		breakerState: f.NewGaugeVec(prometheus.GaugeOpts{Name: "imzagate_smpp_breaker_state",
			Help: "Circuit breaker state per operator: 0 closed, 1 half-open, 2 open."}, []string{"operator"}),
		breakerChanges: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_breaker_transitions_total",
			Help: "Circuit breaker state changes, by new state."}, []string{"operator", "to"}),
		reassembly: f.NewCounterVec(prometheus.CounterOpts{Name: "imzagate_smpp_mo_segments_total",
			Help: "Concatenated MO segments, by result (held, completed, expired, dropped, refused)."}, []string{"operator", "result"}),
	}
}

// initOperator creates the operator's series at zero, so that dashboards and
// alert rules see a 0 rather than an absent series before the first event
// (rate() over a series that appears mid-window misses its first increase).
func (m *metrics) initOperator(operator string) {
	m.breakerState.WithLabelValues(operator).Set(0)
	for _, to := range []string{"closed", "half-open", "open"} {
		m.breakerChanges.WithLabelValues(operator, to)
	}
	m.submits.WithLabelValues(operator, StatusOK.String())
	m.submits.WithLabelValues(operator, "outcome_unknown")
	m.submitDuration.WithLabelValues(operator)
	m.enquireDuration.WithLabelValues(operator)
	for _, kind := range []string{"mo", "receipt"} {
		m.deliverReceived.WithLabelValues(operator, kind)
	}
	for _, st := range []CommandStatus{StatusOK, StatusXTAppn} {
		m.deliverAnswered.WithLabelValues(operator, st.String())
	}
	for _, result := range []string{"held", "completed", "dropped", "expired", "refused"} {
		m.reassembly.WithLabelValues(operator, result)
	}
	for _, st := range []MessageState{StateDelivered, StateExpired, StateDeleted, StateUndeliverable, StateAccepted, StateUnknown, StateRejected} {
		m.receipts.WithLabelValues(operator, st.String())
	}
	m.deliverAnswered.WithLabelValues(operator, StatusXPAppn.String())
}

// initBind creates the bind's series at zero (see initOperator).
func (m *metrics) initBind(operator, bind string) {
	m.bindUp.WithLabelValues(operator, bind).Set(0)
	m.windowInUse.WithLabelValues(operator, bind)
	m.throttles.WithLabelValues(operator, bind)
	m.lateResponses.WithLabelValues(operator, bind)
	m.enquireFailures.WithLabelValues(operator, bind)
	m.bindErrors.WithLabelValues(operator, bind, "connect")
	for _, st := range []CommandStatus{StatusBindFail, StatusInvPaswd, StatusInvSysID, StatusAlyBnd} {
		m.bindErrors.WithLabelValues(operator, bind, st.String())
	}
	for r := ReasonLocalClose; r <= ReasonEnquireLinkTimeout; r++ {
		m.reconnects.WithLabelValues(operator, bind, r.String())
	}
}
