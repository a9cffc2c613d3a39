package sessions

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// family returns the samples of one metric family.
func family(t *testing.T, reg prometheus.Gatherer, name string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()
		}
	}
	return nil
}

func counterSum(ms []*dto.Metric) float64 {
	var sum float64
	for _, m := range ms {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

func labels(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	reg := prometheus.NewPedanticRegistry()
	s, err := New(clientFor(t, srv.Addr), Options{Pepper: randomPepper(), Registerer: reg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	sess := sampleSession(newPhone())
	if err := s.Start(ctx, sess, 60e9); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, sess.ID); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{
		"imzagate_redis_command_duration_seconds",
		"imzagate_redis_pool_hits_total", "imzagate_redis_pool_misses_total", "imzagate_redis_pool_timeouts_total",
		"imzagate_redis_pool_stale_connections_total", "imzagate_redis_pool_connections", "imzagate_redis_pool_idle_connections",
	} {
		if !names[want] {
			t.Errorf("metric %s not registered; have %v", want, names)
		}
	}
	if n := len(family(t, reg, "imzagate_redis_command_duration_seconds")); n < 2 {
		t.Errorf("%d command label sets observed; want evalsha and hgetall at least", n)
	}
	// A miss (redis.Nil) is not an error; a dead server is.
	if _, err := s.ByTxn(ctx, [8]byte{9}); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	zero := family(t, reg, "imzagate_redis_errors_total")
	if len(zero) == 0 {
		t.Fatal("no error series before the first error: alerts on the error rate would see nothing")
	}
	if n := counterSum(zero); n != 0 {
		t.Fatalf("errors counted for a miss: %v: %v", n, zero)
	}
	srv.Stop()
	if _, err := s.Get(ctx, sess.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatal(err)
	}
	errs := family(t, reg, "imzagate_redis_errors_total")
	var hgetallNetwork float64
	for _, m := range errs {
		if labels(m) == "command=hgetall,kind=network" {
			hgetallNetwork = m.GetCounter().GetValue()
		}
	}
	if hgetallNetwork != 1 || counterSum(errs) != 1 {
		t.Fatalf("errors after a dead server: %v", errs)
	}
	// A second store on the same registry is a configuration error, not a panic.
	if _, err := New(clientFor(t, srv.Addr), Options{Pepper: randomPepper(), Registerer: reg}); err == nil {
		t.Fatal("registering the metrics twice succeeded")
	}
}
