package audit

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics of one Trail. Labels are bounded: kinds are the known ones or
// "other", reasons a fixed list.
type metrics struct {
	records     *prometheus.CounterVec
	batchSize   prometheus.Histogram
	batchTime   prometheus.Histogram
	dropped     prometheus.Counter
	writeErrors *prometheus.CounterVec
	chains      *prometheus.CounterVec
	verifyFails prometheus.Counter
	anchorFails prometheus.Counter
}

var knownKinds = map[Kind]bool{
	KindSessionStart: true, KindSessionComplete: true, KindCallback: true, KindAdminCall: true,
	KindConfigReload: true, KindCheckpoint: true, KindChainStart: true, KindDropped: true,
}

func kindLabel(k Kind) string {
	if knownKinds[k] {
		return string(k)
	}
	return "other"
}

func newMetrics(reg prometheus.Registerer, queueDepth func() float64) (*metrics, error) {
	m := &metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_audit_records_total",
			Help: "Audit records written to the store, by kind.",
		}, []string{"kind"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "imzagate_audit_batch_records",
			Help:    "Records per batch the audit writer appended in one round trip.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}),
		batchTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "imzagate_audit_batch_duration_seconds",
			Help:    "Time to append one batch of audit records (durable batches include the replica wait).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "imzagate_audit_dropped_total",
			Help: "Audit records dropped because the writer's queue was full (or the trail closed).",
		}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_audit_write_errors_total",
			Help: "Failed audit batch writes, by reason (unavailable, not_replicated, gap, invalid).",
		}, []string{"reason"}),
		chains: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_audit_chains_started_total",
			Help: "Audit chains this writer started, by reason (start, day, gap).",
		}, []string{"reason"}),
		verifyFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "imzagate_audit_verify_failures_total",
			Help: "Online verifications of the audit trail that found a broken link.",
		}),
		anchorFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "imzagate_audit_anchor_errors_total",
			Help: "Checkpoints that could not be stored as their chain's anchor in the index.",
		}),
	}
	for _, r := range []string{"unavailable", "not_replicated", "gap", "invalid"} {
		m.writeErrors.WithLabelValues(r)
	}
	for _, r := range []string{"start", "day", "gap"} {
		m.chains.WithLabelValues(r)
	}
	for k := range knownKinds {
		m.records.WithLabelValues(string(k))
	}
	if reg == nil {
		return m, nil
	}
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "imzagate_audit_queue_depth",
		Help: "Audit records waiting in the writer's queue.",
	}, queueDepth)
	for _, c := range []prometheus.Collector{m.records, m.batchSize, m.batchTime, m.dropped, m.writeErrors,
		m.chains, m.verifyFails, m.anchorFails, depth} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
