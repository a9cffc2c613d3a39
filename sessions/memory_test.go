package sessions

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/redis/go-redis/v9"
)

// Budgets of Redis memory of one running session (docs/performance.md §3):
// its record, the phone's running marker and the transaction index. The
// aim is 512 bytes; three keys of their own cost about 600 in MEMORY
// USAGE and 870 in used_memory (each key also has its entries in the
// main and expiry tables), so the budgets hold today's figures and fail
// on any growth. Reaching 512 needs one key fewer (docs/performance.md §3).
const (
	maxUsagePerSession      = 640 // MEMORY USAGE of the three keys
	maxUsedMemoryPerSession = 960 // INFO used_memory growth per session
)

// gatewaySession is a session as the gateway starts a login: no callback,
// no idempotency key, a short display text.
func gatewaySession(phone string) *Session {
	h := make([]byte, 32)
	for i := range h {
		h[i] = byte(i * 7)
	}
	return &Session{Portal: "e-taxes", Operation: OpAuthenticate, Phone: phone, ICCID: "89994012345678901234",
		KeyRef: 1, Hash: h, HashAlg: "SHA-256", VerificationCode: "0127", DisplayText: "Login to e-taxes.gov.az",
		Operator: "azercell"}
}

// usedMemory reads INFO memory's used_memory.
func usedMemory(t *testing.T, rdb redis.UniversalClient) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("INFO memory lacks used_memory")
	return 0
}

// TestMemoryPerRunningSession measures what N running sessions add to a
// real redis-server's used_memory, and the MEMORY USAGE of one session's
// keys, against the budget.
func TestMemoryPerRunningSession(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := clientFor(t, srv.Addr)
	s, err := New(rdb, Options{Pepper: randomPepper(), Logger: testLogger(t), OpTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if err := s.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	before := usedMemory(t, rdb)
	var last *Session
	for range n {
		last = gatewaySession(newPhone())
		if err := s.Start(ctx, last, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	perSession := float64(usedMemory(t, rdb)-before) / n
	ref := s.phone(last.Phone)
	var usage int64
	for _, k := range []string{ref.sessionKey(last.ID), ref.runKey(), txnKey(last.TxnID)} {
		u, err := rdb.MemoryUsage(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		usage += u
	}
	t.Logf("a running session: %.0f bytes of used_memory (over %d), MEMORY USAGE of its keys %d bytes", perSession, n, usage)
	if perSession > maxUsedMemoryPerSession || usage > maxUsagePerSession {
		t.Fatalf("a running session takes %.0f bytes (used_memory) and %d (MEMORY USAGE); budgets %d and %d",
			perSession, usage, maxUsedMemoryPerSession, maxUsagePerSession)
	}
}
