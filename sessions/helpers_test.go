package sessions

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// fakeClock is Options.Now for tests that move time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Now().Truncate(time.Millisecond)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// countHook counts round trips (one per command or pipeline) and records
// command names. A new connection's handshake (HELLO, CLIENT SETINFO) is
// not the store's doing and is not counted.
type countHook struct {
	n     atomic.Int64
	mu    sync.Mutex
	names []string
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if handshake(cmd) {
			return next(ctx, cmd)
		}
		h.n.Add(1)
		h.mu.Lock()
		h.names = append(h.names, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		all := true
		for _, c := range cmds {
			all = all && handshake(c)
		}
		if all {
			return next(ctx, cmds)
		}
		h.n.Add(1)
		h.mu.Lock()
		h.names = append(h.names, "pipeline")
		h.mu.Unlock()
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

func (h *countHook) reset() {
	h.n.Store(0)
	h.mu.Lock()
	h.names = nil
	h.mu.Unlock()
}

func (h *countHook) commands() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.names, " ")
}

// testLogger sends logs to the test output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// randomPepper gives each test its own key space on a shared server.
func randomPepper() []byte {
	p := make([]byte, 32)
	_, _ = rand.Read(p)
	return p
}

var phoneSeq atomic.Int64

// newPhone returns a fresh E.164 number.
func newPhone() string {
	return fmt.Sprintf("+99450%07d", phoneSeq.Add(1)%10_000_000)
}

func sampleCert(keyRef byte, typ string) Certificate {
	c := Certificate{Type: typ, KeyRef: keyRef, DER: []byte{0x30, 0x82, 0x01, 0x0a, keyRef, 0x01, 0x02},
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC),
		Status: StatusActive}
	if typ == CertBusiness {
		c.TaxID = "1234567890"
	}
	return c
}

func sampleSubscriber(phone string) Subscriber {
	return Subscriber{Phone: phone, ICCID: "8999401234567890123", KeyVersion: 1, Operator: "azercell",
		Certificates: []Certificate{sampleCert(1, CertPersonal), sampleCert(2, CertBusiness)}}
}

func sampleSession(phone string) *Session {
	h := make([]byte, 32)
	for i := range h {
		h[i] = byte(i)
	}
	return &Session{Portal: "e-taxes", Operation: OpSign, Phone: phone, ICCID: "8999401234567890123",
		KeyRef: 2, Hash: h, HashAlg: "SHA-256", VerificationCode: "0127",
		CallbackURL: "https://portal.example/cb"}
}
