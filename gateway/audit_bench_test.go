package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// BenchmarkStartLoginAudited is BenchmarkStartLogin with the audit trail
// on a real redis-server: the start's record is queued and written by the
// trail's batching writer in the background. It reports the Redis round
// trips the trail made per start (its appends are batched).
func BenchmarkStartLoginAudited(b *testing.B) {
	srv := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	b.Cleanup(func() { rdb.Close() })
	var trips countTrips
	rdb.AddHook(&trips)
	log, err := sessions.NewAuditLog(rdb, sessions.AuditLogOptions{})
	if err != nil {
		b.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	tr, err := audit.New(audit.Options{Store: log, SigningKey: key, PhoneKey: bytes.Repeat([]byte{1}, 32), Instance: "bench", SyncReplicas: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()

	u := newTestUser(b)
	s, _ := startBenchServer(b, u, func(o *ServerOptions) { o.Audit = tr })
	h := s.Handler()
	body := `{"phoneNumber":"+994501234567","userId":"123456","hash":"` + validHash + `","hashType":"SHA256"}`
	trips.n.Store(0)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/authentications", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key1)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(trips.n.Load())/float64(b.N), "redis-trips/start")
}

// countTrips counts the round trips a client makes (a pipeline is one).
type countTrips struct{ n atomic.Int64 }

func (c *countTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *countTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *countTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}
