package trust

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// roundTrips counts commands and pipelines sent to Redis, leaving out a
// new connection's handshake.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !handshake(cmd) {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		all := true
		for _, c := range cmds {
			all = all && handshake(c)
		}
		if !all {
			h.n.Add(1)
		}
		return next(ctx, cmds)
	}
}

func handshake(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "client", "auth", "select":
		return true
	}
	return false
}

// newStore is one gateway instance's session store on a shared Redis.
func newStore(t testing.TB, addr string, pepper []byte) (*sessions.Store, *roundTrips) {
	t.Helper()
	rdb := redis.NewUniversalClient(sessions.ClientOptions([]string{addr}, ""))
	t.Cleanup(func() { _ = rdb.Close() })
	h := &roundTrips{}
	rdb.AddHook(h)
	s, err := sessions.New(rdb, sessions.Options{Pepper: pepper, OpTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, h
}

func pepper() []byte {
	p := make([]byte, 32)
	_, _ = rand.Read(p)
	return p
}

var _ OCSPCache = (*sessions.Store)(nil)

// Two gateway instances share OCSP answers through one real Redis: the
// second answers from Redis without asking the responder, in exactly one
// round trip, and then from its own memory in none.
func TestSharedRedisCache(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rc, rk := w.DelegatedResponder(true)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	w.StartResponder(rc, rk, 10)
	srv := redistest.Start(t)
	p := pepper()
	storeA, tripsA := newStore(t, srv.Addr, p)
	storeB, tripsB := newStore(t, srv.Addr, p)
	a := w.checker(func(o *Options) { o.Cache = storeA; o.CRL.Disabled = true })
	b := w.checker(func(o *Options) { o.Cache = storeB; o.CRL.Disabled = true; o.Registerer = prometheus.NewRegistry() })

	if st, err := a.Check(ctx, signReq(leaf)); err != nil || st.Source != SourceOCSP {
		t.Fatalf("instance A: %+v, %v", st, err)
	}
	if w.OCSPHits.Load() != 1 || tripsA.n.Load() != 2 { // GET (miss) + SET
		t.Fatalf("instance A: responder %d, redis round trips %d", w.OCSPHits.Load(), tripsA.n.Load())
	}
	der, err := storeA.OCSPResponse(ctx, issuerKeyIDSlice(w.Inter.Certificate()), leaf.SerialNumber.Bytes())
	if err != nil || len(der) == 0 {
		t.Fatalf("cached response: %d octets, %v", len(der), err)
	}

	st, err := b.Check(ctx, signReq(leaf))
	if err != nil || st.State != StateGood || st.Source != SourceOCSP {
		t.Fatalf("instance B: %+v, %v", st, err)
	}
	if w.OCSPHits.Load() != 1 {
		t.Fatalf("instance B asked the responder (%d requests in all)", w.OCSPHits.Load())
	}
	if tripsB.n.Load() != 1 {
		t.Fatalf("instance B: %d redis round trips, want 1", tripsB.n.Load())
	}
	if _, err := b.Check(ctx, signReq(leaf)); err != nil || tripsB.n.Load() != 1 {
		t.Fatalf("instance B again: %v, %d round trips", err, tripsB.n.Load())
	}
	if got := value(t, b.m.cache.WithLabelValues("redis", "hit")); got != 1 {
		t.Fatalf("redis hits %v", got)
	}
}

// What is in Redis is verified like a responder's answer: a forged entry
// gives no status, and an unavailable Redis costs a responder request, not
// a refusal.
func TestRedisCacheIsNotBelieved(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rc, rk := w.DelegatedResponder(true)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	srv := redistest.Start(t)
	store, _ := newStore(t, srv.Addr, pepper())
	// An entry signed by another CA's responder, put there by someone with
	// access to Redis.
	forged := forgedGood(t, w, leaf)
	if err := store.PutOCSPResponse(ctx, issuerKeyIDSlice(w.Inter.Certificate()), leaf.SerialNumber.Bytes(), forged, time.Minute); err != nil {
		t.Fatal(err)
	}
	c := w.checker(func(o *Options) { o.Cache = store; o.CRL.Disabled = true })
	if _, err := c.Check(ctx, signReq(leaf)); !errors.Is(err, ErrStatusUnknown) {
		t.Fatalf("forged cache entry: %v", err)
	}
	if got := value(t, c.m.cache.WithLabelValues("redis", "invalid")); got != 1 {
		t.Fatalf("invalid cache entries %v", got)
	}

	w.StartResponder(rc, rk, 10)
	srv.Stop()
	st, err := c.Check(ctx, signReq(leaf))
	if err != nil || st.State != StateGood || w.OCSPHits.Load() != 2 {
		t.Fatalf("redis down: %+v, %v, responder hits %d", st, err, w.OCSPHits.Load())
	}
	if got := value(t, c.m.cache.WithLabelValues("redis", "error")); got != 1 {
		t.Fatalf("redis errors %v", got)
	}
}

func issuerKeyIDSlice(c *x509.Certificate) []byte {
	k := issuerKeyID(c)
	return k[:]
}
