package trust

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the Checker's imzagate_trust_* series. Labels are bounded:
// outcome, layer, result, source and status by the constants of this
// package, issuer by the CAs whose CRLs are held (at most
// CRLOptions.MaxSources).
type metrics struct {
	ocspDuration prometheus.Histogram
	ocspOutcomes *prometheus.CounterVec
	cache        *prometheus.CounterVec
	crlFetches   *prometheus.CounterVec
	results      *prometheus.CounterVec

	// Children of the hot paths, resolved once: a label look-up per check
	// would cost more than the in-process answer itself.
	processHit, processMiss prometheus.Counter
	resultsBy               map[Source]map[State]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		ocspDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "imzagate_trust_ocsp_request_duration_seconds",
			Help:    "Time from sending an OCSP request to reading the whole response.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		ocspOutcomes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_trust_ocsp_responses_total",
			Help: "OCSP requests by outcome: good, revoked, unknown (the responder does not know the certificate), error, bad_signature, stale.",
		}, []string{"outcome"}),
		cache: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_trust_ocsp_cache_lookups_total",
			Help: "OCSP response look-ups by layer (process, redis) and result (hit, miss, invalid, error).",
		}, []string{"layer", "result"}),
		crlFetches: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_trust_crl_fetches_total",
			Help: "CRL fetches by issuer and result: ok, error (not fetched), rejected (fetched but refused; the previous CRL is kept).",
		}, []string{"issuer", "result"}),
		results: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_trust_status_results_total",
			Help: "Revocation statuses given, by source (ocsp, crl, provisioned, none) and status (good, revoked, unknown).",
		}, []string{"source", "status"}),
	}
	for _, o := range []string{outcomeGood, outcomeRevoked, outcomeUnknown, outcomeError, outcomeBadSignature, outcomeStale} {
		m.ocspOutcomes.WithLabelValues(o)
	}
	m.processHit = m.cache.WithLabelValues("process", "hit")
	m.processMiss = m.cache.WithLabelValues("process", "miss")
	m.resultsBy = make(map[Source]map[State]prometheus.Counter)
	for _, src := range []Source{SourceOCSP, SourceCRL, SourceProvisioned, ""} {
		label := string(src)
		if src == "" {
			label = "none"
		}
		m.resultsBy[src] = make(map[State]prometheus.Counter)
		for _, st := range []State{StateGood, StateRevoked, StateUnknown} {
			m.resultsBy[src][st] = m.results.WithLabelValues(label, string(st))
		}
	}
	return m
}

func (m *metrics) result(st Status) {
	m.resultsBy[st.Source][st.State].Inc()
}

// crlCollector reports each held CRL's age and nextUpdate when scraped, so
// the age keeps growing while refreshes fail.
type crlCollector struct {
	store      *crlStore
	now        func() time.Time
	age, until *prometheus.Desc
}

func newCRLCollector(s *crlStore, now func() time.Time) *crlCollector {
	return &crlCollector{store: s, now: now,
		age: prometheus.NewDesc("imzagate_trust_crl_age_seconds",
			"Seconds since the thisUpdate of the CRL held for the issuer.", []string{"issuer"}, nil),
		until: prometheus.NewDesc("imzagate_trust_crl_next_update_timestamp_seconds",
			"The nextUpdate of the CRL held for the issuer, as Unix time.", []string{"issuer"}, nil),
	}
}

// Describe sends the two descriptors.
func (c *crlCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.age
	ch <- c.until
}

// Collect sends the series of every source that holds a CRL.
func (c *crlCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, src := range c.store.list() {
		d := src.cur.Load()
		if d == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, now.Sub(d.thisUpdate).Seconds(), src.label)
		ch <- prometheus.MustNewConstMetric(c.until, prometheus.GaugeValue, float64(d.nextUpdate.UnixMilli())/1000, src.label)
	}
}
