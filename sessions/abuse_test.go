package sessions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Parts from a number that is not a subscriber leave nothing in Redis;
// a sender over its cap loses its least recently active message first; a
// total over its cap loses the least recently active senders first.
func testSegmentsCaps(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	g, err := e.store.MOSegments(SegmentOptions{MaxPerSender: 32, MaxTotal: 40, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	discarded := func(reason string) float64 {
		return testutil.ToFloat64(g.metrics.byReason[reason])
	}

	stranger := newPhone()
	for ref := range 50 {
		key := fmt.Sprintf("azercell|%s|08|%d|20", stranger[1:], ref)
		if _, err := g.Add(ctx, stranger, key, 20, 1, segPart(1)); !errors.Is(err, ErrNotSubscriber) {
			t.Fatalf("part from a stranger: %v, want ErrNotSubscriber", err)
		}
	}
	if _, err := g.Add(ctx, "994501234567", "k", 2, 1, segPart(1)); !errors.Is(err, ErrNotSubscriber) {
		t.Fatalf("part from an address that is no E.164 phone: %v", err)
	}
	if n := e.rdb.Exists(ctx, e.store.phone(stranger).senderKey()).Val(); n != 0 {
		t.Fatal("a stranger's parts were kept")
	}
	if got := discarded(discardNotSubscriber); got != 51 {
		t.Fatalf("not_subscriber discards %v, want 51", got)
	}

	// One sender: a 20-part message in progress, then junk first parts.
	phone := subscriberPhone(t, e.store)
	genuine := segKey(phone, 20)
	for seq := 1; seq <= 10; seq++ {
		if _, err := g.Add(ctx, phone, genuine, 20, seq, segPart(seq)); err != nil {
			t.Fatal(err)
		}
	}
	for ref := range 30 {
		e.clock.Advance(time.Millisecond)
		key := fmt.Sprintf("azercell|%s|00|%d|20", phone[1:], 100+ref)
		if _, err := g.Add(ctx, phone, key, 20, 1, segPart(1)); err != nil {
			t.Fatal(err)
		}
	}
	if n := partsOf(t, e, phone); n > 32 {
		t.Fatalf("sender holds %d parts, cap 32", n)
	}
	if discarded(discardSenderCap) < 1 {
		t.Fatal("no eviction counted")
	}
	// The genuine message was the least recently active: it went first.
	e.clock.Advance(time.Millisecond)
	if got, err := g.Add(ctx, phone, genuine, 20, 11, segPart(11)); err != nil || got != nil {
		t.Fatalf("part 11: %v %q", err, got)
	}
	if n := e.rdb.HExists(ctx, e.store.phone(phone).senderKey(), g.messageID(genuine)+".1").Val(); n {
		t.Fatal("the least recently active message was not the one evicted")
	}

	// Many senders: the total stays at its cap; the newest sender keeps
	// its parts and completes its message.
	var last string
	for range 10 {
		last = subscriberPhone(t, e.store)
		e.clock.Advance(time.Millisecond)
		for seq := 1; seq <= 5; seq++ {
			if _, err := g.Add(ctx, last, segKey(last, 6), 6, seq, segPart(seq)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if total, _ := e.rdb.Get(ctx, g.totalKeys()[2]).Int(); total > 40 {
		t.Fatalf("total %d parts pending, cap 40", total)
	}
	if discarded(discardTotalCap) < 1 {
		t.Fatal("no total-cap eviction counted")
	}
	got, err := g.Add(ctx, last, segKey(last, 6), 6, 6, segPart(6))
	if err != nil {
		t.Fatal(err)
	}
	wantSet(t, got, 6)
	total, _ := e.rdb.Get(ctx, g.totalKeys()[2]).Int()
	if err := g.Done(ctx, last, segKey(last, 6)); err != nil {
		t.Fatal(err)
	}
	if after, _ := e.rdb.Get(ctx, g.totalKeys()[2]).Int(); after != total-6 {
		t.Fatalf("total after Done %d, want %d", after, total-6)
	}
}

// partsOf counts the parts pending for phone.
func partsOf(t *testing.T, e *env, phone string) int {
	t.Helper()
	n := 0
	for _, f := range e.rdb.HKeys(context.Background(), e.store.phone(phone).senderKey()).Val() {
		if bytes.ContainsRune([]byte(f), '.') {
			n++
		}
	}
	return n
}

// The Idempotency-Key is bound to its request's fingerprint.
func testIdempotencyFingerprint(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	fp := bytes.Repeat([]byte{1}, FingerprintLen)
	first := sampleSession(phone)
	first.IdempotencyKey, first.IdempotencyFingerprint = "req-1", fp
	if err := e.store.Start(ctx, first, time.Minute); err != nil {
		t.Fatal(err)
	}
	same := sampleSession(phone)
	same.IdempotencyKey, same.IdempotencyFingerprint = "req-1", fp
	if err := e.store.Start(ctx, same, time.Minute); !errors.Is(err, ErrDuplicate) || same.ID != first.ID {
		t.Fatalf("same request: %v, id %s; want ErrDuplicate and %s", err, same.ID, first.ID)
	}
	other := sampleSession(phone)
	other.IdempotencyKey, other.IdempotencyFingerprint = "req-1", bytes.Repeat([]byte{2}, FingerprintLen)
	if err := e.store.Start(ctx, other, time.Minute); !errors.Is(err, ErrIdempotencyMismatch) || errors.Is(err, ErrDuplicate) {
		t.Fatalf("other request, same key: %v; want ErrIdempotencyMismatch", err)
	}
	if other.ID != "" {
		t.Fatal("a refused start filled in a session")
	}
	bad := sampleSession(newPhone())
	bad.IdempotencyKey, bad.IdempotencyFingerprint = "req-2", []byte{1, 2, 3}
	if err := e.store.Start(ctx, bad, time.Minute); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short fingerprint: %v", err)
	}
}

// Concurrent checks with the right User ID are never locked out: those
// beyond the limit are told to wait, and once the rest are judged the
// phone is free.
func testLockoutConcurrentRight(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	if err := e.store.PutSubscriber(ctx, sampleSubscriber(phone), "111111"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, busy := 0, 0
	for range n {
		wg.Go(func() {
			_, err := e.store.CheckUserID(ctx, phone, "111111")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, ErrOutstanding) && !errors.Is(err, ErrLocked):
				busy++
			default:
				t.Errorf("right User ID: %v", err)
			}
		})
	}
	wg.Wait()
	if ok == 0 || ok+busy != n {
		t.Fatalf("ok %d busy %d of %d", ok, busy, n)
	}
	if _, err := e.store.CheckUserID(ctx, phone, "111111"); err != nil {
		t.Fatalf("after the burst: %v", err)
	}
	// An attempt whose process died while judging counts as a failure once
	// stale: five such and the phone is locked.
	keys, args := e.store.attemptCall(e.store.phone(phone))
	for range 5 {
		if _, err := scriptAttempt.Run(ctx, e.rdb, keys, args...).Slice(); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Millisecond)
		keys, args = e.store.attemptCall(e.store.phone(phone))
	}
	if _, err := e.store.CheckUserID(ctx, phone, "111111"); !errors.Is(err, ErrOutstanding) {
		t.Fatalf("five attempts in judgement: %v, want ErrOutstanding", err)
	}
	e.clock.Advance(e.store.staleAttempt() + time.Second)
	if _, err := e.store.CheckUserID(ctx, phone, "111111"); !errors.Is(err, ErrLocked) {
		t.Fatalf("five abandoned attempts: %v, want ErrLocked", err)
	}
}

// A resync moves the MT counter a step past the echoed value, never
// backwards, and NextMTCounter continues above it at once.
func testMTCounterResync(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	const iccid = "8999401234567890124"
	c1, err := e.store.NextMTCounter(ctx, iccid)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := e.store.ResyncMTCounter(ctx, iccid, c1)
	if err != nil {
		t.Fatal(err)
	}
	if r1 < c1+ResyncStep {
		t.Fatalf("resync %d, want ≥ %d + %d", r1, c1, ResyncStep)
	}
	start := time.Now()
	c2, err := e.store.NextMTCounter(ctx, iccid)
	if err != nil || c2 <= r1 {
		t.Fatalf("next after resync %d (%v), want > %d", c2, err, r1)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("next after resync waited %v for the clock", d)
	}
	// An old echoed value never moves it backwards.
	r2, err := e.store.ResyncMTCounter(ctx, iccid, 5)
	if err != nil || r2 <= c2 {
		t.Fatalf("second resync %d (%v), want > %d", r2, err, c2)
	}
	if _, err := e.store.ResyncMTCounter(ctx, iccid, MaxCounter); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("resync past the range: %v", err)
	}
}

// MarkSubmitted keeps the MT counter; ClaimResend replaces it once.
func testResendClaim(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	sess := sampleSession(newPhone())
	sess.DisplayText = "e-taxes: Giriş"
	if err := e.store.Start(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkSubmitted(ctx, sess.ID, 1000, []string{"m1"}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Get(ctx, sess.ID)
	if err != nil || got.MTCounter != 1000 || got.DisplayText != sess.DisplayText || got.Resent {
		t.Fatalf("after submit: %+v %v", got, err)
	}
	if err := e.store.ClaimResend(ctx, sess.ID, 999, 2000); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("claim with a stale counter: %v", err)
	}
	if err := e.store.ClaimResend(ctx, sess.ID, 1000, 2000); err != nil {
		t.Fatal(err)
	}
	if err := e.store.ClaimResend(ctx, sess.ID, 2000, 3000); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second claim: %v", err)
	}
	if err := e.store.MarkResubmitted(ctx, sess.ID, []string{"m2", "m3"}); err != nil {
		t.Fatal(err)
	}
	got, _ = e.store.Get(ctx, sess.ID)
	if got.MTCounter != 2000 || !got.Resent || len(got.MessageIDs) != 2 || got.Submitted.IsZero() {
		t.Fatalf("after the resend: %+v", got)
	}
	if _, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultOK}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkResubmitted(ctx, sess.ID, []string{"m4"}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("resubmitted after completion: %v", err)
	}
	if err := e.store.MarkSubmitted(ctx, sess.ID, 0, nil, e.clock.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("counter 0: %v", err)
	}
}

// A portal's wrong User IDs are budgeted across all phones and instances.
func testPortalBudget(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	b := Budget{Failures: 3, Window: time.Minute, Block: 10 * time.Minute}
	peer := e.peer()
	for i := range 2 {
		s := e.store
		if i == 1 {
			s = peer
		}
		if until, err := s.SpendPortalBudget(ctx, "bank", b); err != nil || !until.IsZero() {
			t.Fatalf("failure %d: %v %v", i+1, until, err)
		}
	}
	if until, _ := e.store.PortalBlockedUntil(ctx, "bank"); !until.IsZero() {
		t.Fatal("blocked before the budget was spent")
	}
	until, err := peer.SpendPortalBudget(ctx, "bank", b)
	if err != nil || !until.Equal(e.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("third failure: %v %v", until, err)
	}
	if got, _ := e.store.PortalBlockedUntil(ctx, "bank"); !got.Equal(until) {
		t.Fatalf("other instance sees %v, want %v", got, until)
	}
	if got, _ := e.store.PortalBlockedUntil(ctx, "e-taxes"); !got.IsZero() {
		t.Fatal("another portal is blocked")
	}
	e.clock.Advance(10*time.Minute + time.Millisecond)
	if got, _ := e.store.PortalBlockedUntil(ctx, "bank"); !got.IsZero() {
		t.Fatalf("still blocked after the block: %v", got)
	}
	// Failures spread wider than the window never block.
	for range 5 {
		if until, _ := e.store.SpendPortalBudget(ctx, "slow", b); !until.IsZero() {
			t.Fatal("failures a minute apart blocked the portal")
		}
		e.clock.Advance(31 * time.Second)
	}
	if _, err := e.store.SpendPortalBudget(ctx, "bank", Budget{Failures: -1}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad budget: %v", err)
	}
}
