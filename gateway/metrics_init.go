package gateway

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// newAbuseMetrics registers the series of counter resyncs and of the
// portals' budgets of wrong User IDs.
func (m *metrics) newAbuseMetrics(f promauto.Factory) {
	m.resyncs = f.NewCounter(prometheus.CounterOpts{
		Name: "imzagate_mt_counter_resyncs_total",
		Help: "Commands sealed again with a counter moved ahead after the card answered CNTR low.",
	})
	m.userIDFailures = f.NewCounterVec(prometheus.CounterOpts{
		Name: "imzagate_user_id_failures_total", Help: "Wrong User IDs (or unknown phones) by portal.",
	}, []string{"portal"})
	m.userIDBlocks = f.NewCounterVec(prometheus.CounterOpts{
		Name: "imzagate_user_id_budget_blocks_total", Help: "Times a portal spent its budget of wrong User IDs and was blocked.",
	}, []string{"portal"})
	m.userIDRefusals = f.NewCounterVec(prometheus.CounterOpts{
		Name: "imzagate_user_id_budget_refused_total", Help: "Starts and lookups refused because the portal is blocked for its wrong User IDs.",
	}, []string{"portal"})
}

// apiRoute is one route pattern of the API and the status of its success.
type apiRoute struct {
	pattern, method string
	ok              int
}

// apiRoutes are the routes whose HTTP series exist from the start.
var apiRoutes = []apiRoute{
	{"POST /v1/authentications", "POST", 201},
	{"POST /v1/signatures", "POST", 201},
	{"GET /v1/sessions/{id}", "GET", 200},
	{"GET /v1/certificates", "GET", 200},
	{"GET /v1/openapi.yaml", "GET", 200},
}

// initSeries makes, at zero, every labelled series a dashboard panel or an
// alert rule reads, for every label value known at start: a panel over a
// series that does not exist yet shows "no data" rather than 0, and rate()
// misses the first increase of a series that appears mid-window.
func (m *metrics) initSeries(ps []*Portal) {
	for code := range codeStatus {
		m.apiErrors.WithLabelValues(code)
	}
	for _, r := range apiRoutes {
		for _, code := range []int{r.ok, 500, 503} {
			m.httpRequests.WithLabelValues(r.pattern, r.method, strconv.Itoa(code))
		}
		m.httpDuration.WithLabelValues(r.pattern)
	}
	for _, res := range allResults {
		m.sessionDuration.WithLabelValues(res)
	}
	for _, p := range ps {
		m.userIDFailures.WithLabelValues(p.ID)
		m.userIDBlocks.WithLabelValues(p.ID)
		m.userIDRefusals.WithLabelValues(p.ID)
	}
}
