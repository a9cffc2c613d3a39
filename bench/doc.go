// Package bench is the load generator of imzagate and its report: it
// drives the portal HTTP API the way real portals do and measures every
// stage of a session in HDR histograms.
//
// # Protocol flow of one simulated session
//
//	take a user with no running session (one running session per phone)
//	POST /v1/authentications or /v1/signatures   → 201 {sessionId}      [start]
//	GET  /v1/sessions/{id}?timeoutMs=N (repeat)  → {state: COMPLETE, …} [end to end]
//	read the gateway's stage stamps: accepted → submitted               [submit]
//	                                 submitted → completed              [reply]
//	return the user to the pool
//
// The start and end-to-end figures are timed by the generator; submit and
// reply come from the session's "stages" as the gateway stamped them, so
// they hold no HTTP time. A session that ends with a result other than OK,
// a start refused with a problem+json code, or a failure of the generator
// itself (CLIENT_*) is tallied by its code and kept out of the histograms.
//
// # Loads
//
// Closed loop (Options.Concurrency): N workers each run one session after
// another, so the offered load falls when the gateway slows down.
//
// Open loop (Options.Rate): sessions start on a fixed schedule whatever the
// gateway does. Every latency is measured from the session's intended start,
// not from when the request actually left, so queueing inside the generator
// or the gateway is counted rather than hidden (no coordinated omission).
// Sweep runs one open loop per rate for a latency-against-load plot.
//
// Both modes have a warm-up that is run but not recorded, then the measured
// window; sessions still running when the window closes are waited for.
//
// # All in one
//
// StartRedis runs a private redis-server (no persistence) on a free
// loopback port for the all-in-one benchmark (package bench/allinone).
//
// # Report
//
// Result.WriteTable prints throughput, p50/p90/p99/p99.9/max per stage and
// errors by code; Report.WriteJSON writes the same data for machines;
// WriteSweepPlot and WriteHistogramPlot draw SVG or PNG with gonum/plot;
// Report.Write does all three where Outputs say. RunSweep runs one load or
// a sweep of open loops and closes a sweep with WriteSweepTable. The sweep
// plot has a logarithmic latency axis, its legend beside the plot, and the
// capacity knee (Knee: the last load whose runs still complete 95% of what
// is offered with a p99 within three times the lightest run's) marked.
package bench
