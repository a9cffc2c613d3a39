package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// quietRedis drops go-redis's own log lines (dial retries while a test's
// server is down on purpose).
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	os.Exit(m.Run())
}

func clientFor(t testing.TB, addrs ...string) redis.UniversalClient {
	t.Helper()
	c := redis.NewUniversalClient(sessions.ClientOptions(addrs, ""))
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

var testKey = func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
}()

var instanceSeq atomic.Int64

// newTrail returns a Trail on rdb with test keys and a fresh instance name.
func newTrail(t testing.TB, rdb redis.UniversalClient, mutate func(*Options)) *Trail {
	t.Helper()
	log, err := sessions.NewAuditLog(rdb, sessions.AuditLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Store: log, SigningKey: testKey, PhoneKey: []byte("0123456789abcdef-phone-key"),
		Instance:   fmt.Sprintf("gw-%d", instanceSeq.Add(1)),
		Logger:     testLogger(t),
		Registerer: prometheus.NewRegistry(),
	}
	if mutate != nil {
		mutate(&opts)
	}
	tr, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// running is a Trail whose Run goroutine a test controls.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start runs tr.Run until stop (or the test's end).
func start(t testing.TB, tr *Trail) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- tr.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

// stop ends Run (draining the queue and closing the chain) and returns its error.
func (r *running) stop() error {
	r.once.Do(func() {
		r.cancel()
		r.err = <-r.done
	})
	return r.err
}

// sessionRecord is a session.start record as the gateway would write it.
func sessionRecord(tr *Trail, i int) Record {
	return Record{
		Kind:    KindSessionStart,
		Actor:   Actor{ID: "e-taxes", Role: "portal"},
		Subject: Subject{Session: fmt.Sprintf("0123456789abcdefghij%016d", i)},
		Phone:   tr.Phone(fmt.Sprintf("+99450%07d", i%10_000_000)),
		Outcome: "STARTED",
		Details: map[string]string{"op": "sign", "operator": "azercell"},
	}
}

func adminRecord(i int) Record {
	return Record{
		Kind:    KindAdminCall,
		Actor:   Actor{ID: "alice@support", Role: "support"},
		Subject: Subject{Ref: fmt.Sprintf("DELETE /admin/v1/subscribers/%d", i)},
		Outcome: "200",
	}
}

// exportAll exports every chain of today and yesterday (tests' clocks).
func exportAll(t testing.TB, tr *Trail) []byte {
	t.Helper()
	var buf bytes.Buffer
	now := tr.opts.Now()
	if err := tr.Export(context.Background(), &buf, now.Add(-48*time.Hour), now.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func verifyAll(t testing.TB, tr *Trail) (*Report, error) {
	t.Helper()
	now := tr.opts.Now()
	return tr.Verify(context.Background(), now.Add(-48*time.Hour), now.Add(48*time.Hour))
}

// lines splits an export into its lines (without newlines).
func lines(b []byte) []string {
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func join(ls []string) []byte { return []byte(strings.Join(ls, "\n") + "\n") }

// mustBreak asserts that err is a *Break naming chain and seq whose reason
// contains want.
func mustBreak(t testing.TB, err error, chain string, seq uint64, want string) *Break {
	t.Helper()
	var b *Break
	if !errors.As(err, &b) {
		t.Fatalf("error %v is not a *Break", err)
	}
	if !errors.Is(err, ErrBroken) {
		t.Fatalf("error %v does not match ErrBroken", err)
	}
	if b.Chain != chain || b.Seq != seq || !strings.Contains(b.Reason, want) {
		t.Fatalf("first break = %q (chain %q seq %d); want chain %q seq %d with %q", b.Error(), b.Chain, b.Seq, chain, seq, want)
	}
	return b
}
