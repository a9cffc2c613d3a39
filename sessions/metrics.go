package sessions

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// metrics is the Redis client instrumentation. Labels are bounded:
// command names come from this package's own calls, and error kinds from a
// fixed list.
type metrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

// knownCommands bounds the command label; anything else is "other".
var knownCommands = map[string]bool{
	"evalsha": true, "eval": true, "hgetall": true, "hset": true, "get": true, "set": true, "del": true,
	"scan": true, "ping": true, "subscribe": true, "publish": true, "memory": true,
	"pipeline": true, "script": true, "hello": true, "client": true, "cluster": true,
}

func registerMetrics(rdb redis.UniversalClient, reg prometheus.Registerer) error {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "imzagate_redis_command_duration_seconds",
			Help:    "Latency of Redis commands and pipelines issued by the session store, by command.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"command"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_redis_errors_total",
			Help: "Failed Redis commands by command and kind (timeout, network, redis).",
		}, []string{"command", "kind"}),
	}
	// The store's main commands get their error series at zero up front, so
	// an alert on the error rate sees 0 rather than no series until the
	// first failure (whose increase rate() would then miss).
	for _, cmd := range []string{"evalsha", "hgetall", "pipeline"} {
		for _, kind := range []string{"timeout", "network", "redis"} {
			m.errors.WithLabelValues(cmd, kind)
		}
	}
	for _, c := range []prometheus.Collector{m.duration, m.errors, poolCollector{rdb}} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	rdb.AddHook(m)
	return nil
}

func commandLabel(name string) string {
	name = strings.ToLower(name)
	if knownCommands[name] {
		return name
	}
	return "other"
}

func (m *metrics) observe(cmd string, start time.Time) {
	m.duration.WithLabelValues(commandLabel(cmd)).Observe(time.Since(start).Seconds())
}

// countError counts a failed command. Misses (redis.Nil), NOSCRIPT (the
// script is then sent in full) and errors of the connection handshake
// (CLIENT SETINFO and friends, which older servers reject and go-redis
// ignores) are not failures.
func (m *metrics) countError(cmd string, err error) {
	if err == nil || errors.Is(err, redis.Nil) || strings.HasPrefix(err.Error(), "NOSCRIPT") {
		return
	}
	kind := errorKind(err)
	if lc := strings.ToLower(cmd); kind == "redis" && (lc == "client" || lc == "hello") {
		return
	}
	m.errors.WithLabelValues(commandLabel(cmd), kind).Inc()
}

func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ne), errors.Is(err, net.ErrClosed):
		return "network"
	}
	var re redis.Error
	if errors.As(err, &re) {
		return "redis"
	}
	return "network"
}

// DialHook implements redis.Hook.
func (m *metrics) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (m *metrics) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		m.observe(cmd.Name(), start)
		m.countError(cmd.Name(), err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (m *metrics) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		m.observe("pipeline", start)
		for _, c := range cmds {
			m.countError(c.Name(), c.Err())
		}
		return err
	}
}

// poolCollector exports the client's connection pool statistics.
type poolCollector struct{ rdb redis.UniversalClient }

var (
	poolDescs = struct {
		hits, misses, timeouts, stale, total, idle *prometheus.Desc
	}{
		hits:     prometheus.NewDesc("imzagate_redis_pool_hits_total", "Times a free connection was found in the pool.", nil, nil),
		misses:   prometheus.NewDesc("imzagate_redis_pool_misses_total", "Times no free connection was found in the pool.", nil, nil),
		timeouts: prometheus.NewDesc("imzagate_redis_pool_timeouts_total", "Times waiting for a pool connection timed out.", nil, nil),
		stale:    prometheus.NewDesc("imzagate_redis_pool_stale_connections_total", "Stale connections removed from the pool.", nil, nil),
		total:    prometheus.NewDesc("imzagate_redis_pool_connections", "Connections in the pool.", nil, nil),
		idle:     prometheus.NewDesc("imzagate_redis_pool_idle_connections", "Idle connections in the pool.", nil, nil),
	}
)

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolDescs.hits
	ch <- poolDescs.misses
	ch <- poolDescs.timeouts
	ch <- poolDescs.stale
	ch <- poolDescs.total
	ch <- poolDescs.idle
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.rdb.PoolStats()
	if st == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(poolDescs.hits, prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(poolDescs.misses, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(poolDescs.timeouts, prometheus.CounterValue, float64(st.Timeouts))
	ch <- prometheus.MustNewConstMetric(poolDescs.stale, prometheus.CounterValue, float64(st.StaleConns))
	ch <- prometheus.MustNewConstMetric(poolDescs.total, prometheus.GaugeValue, float64(st.TotalConns))
	ch <- prometheus.MustNewConstMetric(poolDescs.idle, prometheus.GaugeValue, float64(st.IdleConns))
}
