package sessions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// backend describes what the contract suite runs against.
type backend struct {
	// client returns a new client to the same Redis; each Store under
	// test gets its own, as separate gateway processes would.
	client func(t *testing.T) redis.UniversalClient
	// memoryUsage: the server implements MEMORY USAGE (miniredis does not).
	memoryUsage bool
	// sentinel: the client is a Sentinel failover client.
	sentinel bool
}

// env is one contract test's world: a store with a fake clock and a
// counting hook, on a key space of its own (a random pepper).
type env struct {
	t      *testing.T
	be     backend
	store  *Store
	rdb    redis.UniversalClient
	clock  *fakeClock
	hook   *countHook
	pepper []byte
}

func newEnv(t *testing.T, be backend, mod func(*Options)) *env {
	t.Helper()
	e := &env{t: t, be: be, clock: newFakeClock(), hook: &countHook{}, pepper: randomPepper()}
	e.rdb = be.client(t)
	e.rdb.AddHook(e.hook)
	// A generous deadline: the suite runs beside other packages' tests on
	// a small shared machine; TestUnavailable checks the deadlines.
	opts := Options{Pepper: e.pepper, Now: e.clock.Now, Logger: testLogger(t), OpTimeout: 10 * time.Second}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(e.rdb, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	e.store = s
	return e
}

// peer is a second gateway instance on the same Redis and key space.
func (e *env) peer() *Store {
	e.t.Helper()
	s, err := New(e.be.client(e.t), Options{Pepper: e.pepper, Now: e.clock.Now, Logger: testLogger(e.t), OpTimeout: e.store.opts.OpTimeout})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = s.Close() })
	return s
}

func (e *env) start(phone string) *Session {
	e.t.Helper()
	sess := sampleSession(phone)
	if err := e.store.Start(context.Background(), sess, time.Minute); err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	return sess
}

// runContract runs every rule of the store against one backend.
func runContract(t *testing.T, be backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, be backend)
	}{
		{"SubscriberRoundTrip", testSubscriberRoundTrip},
		{"SubscriberInvalid", testSubscriberInvalid},
		{"ImportExport", testImportExport},
		{"ImportBadLine", testImportBadLine},
		{"ImportLaterLineWins", testImportLaterLineWins},
		{"CheckUserID", testCheckUserID},
		{"UnknownAndWrongLookAlike", testUnknownAndWrongLookAlike},
		{"LockoutTiming", testLockoutTiming},
		{"LockoutSlidingWindow", testLockoutSlidingWindow},
		{"LockoutConcurrent", testLockoutConcurrent},
		{"SessionLifecycle", testSessionLifecycle},
		{"Outstanding", testOutstanding},
		{"ConcurrentStarts", testConcurrentStarts},
		{"ConcurrentCompletes", testConcurrentCompletes},
		{"ExpiryReadsAsTimeout", testExpiry},
		{"Idempotency", testIdempotency},
		{"StartInvalid", testStartInvalid},
		{"WaitAcrossInstances", testWaitAcrossInstances},
		{"WaitContextEnd", testWaitContextEnd},
		{"WaitOwned", testWaitOwned},
		{"SubmittedAfterCompletion", testSubmittedAfterCompletion},
		{"WaitExpiry", testWaitExpiry},
		{"MTCounter", testMTCounter},
		{"MOCounter", testMOCounter},
		{"RoundTrips", testRoundTrips},
		{"Ping", testPing},
		{"CheckAndStart", testCheckAndStart},
		{"AcceptMOAndComplete", testAcceptMOAndComplete},
		{"SubscriberAndRunning", testSubscriberAndRunning},
		{"StartScriptRerun", testStartScriptRerun},
		{"WaitOwnedSubscriber", testWaitOwnedSubscriber},
		{"KeyNames", testKeyNames},
		{"MemoryPerSession", testMemoryPerSession},
		{"SegmentsAnyOrder", testSegmentsAnyOrder},
		{"SegmentsInvalid", testSegmentsInvalid},
		{"SegmentsTwoInstances", testSegmentsTwoInstances},
		{"SegmentsConcurrent", testSegmentsConcurrent},
		{"SegmentsTTL", testSegmentsTTL},
		{"SegmentsLease", testSegmentsLease},
		{"SegmentsKeyNames", testSegmentsKeyNames},
		{"CertificateStatus", testCertificateStatus},
		{"SegmentsCaps", testSegmentsCaps},
		{"IdempotencyFingerprint", testIdempotencyFingerprint},
		{"LockoutConcurrentRight", testLockoutConcurrentRight},
		{"MTCounterResync", testMTCounterResync},
		{"ResendClaim", testResendClaim},
		{"PortalBudget", testPortalBudget},
		{"LocalSessions", testLocalSessions},
		{"AdESState", testAdESState},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, be)
		})
	}
}

func testSubscriberRoundTrip(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	if _, err := e.store.Subscriber(ctx, phone); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Subscriber(unknown) = %v; want ErrNotFound", err)
	}
	want := sampleSubscriber(phone)
	want.Certificates[0].NotBefore = want.Certificates[0].NotBefore.Add(1500 * time.Millisecond) // sub-second dropped
	if err := e.store.PutSubscriber(ctx, want, "123456"); err != nil {
		t.Fatal(err)
	}
	got, err := e.store.Subscriber(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	want.Certificates = normalizeCertificates(want.Certificates)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Subscriber = %+v\nwant %+v", got, want)
	}
	// Update without the User ID keeps it.
	want.Certificates[1].Status = StatusRevoked
	want.Operator = "bakcell"
	if err := e.store.PutSubscriber(ctx, want, ""); err != nil {
		t.Fatal(err)
	}
	if got, err = e.store.CheckUserID(ctx, phone, "123456"); err != nil || got.Operator != "bakcell" || got.Certificates[1].Status != StatusRevoked {
		t.Fatalf("after update CheckUserID = %+v, %v", got, err)
	}
	if err := e.store.PutSubscriber(ctx, sampleSubscriber(newPhone()), ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of unknown subscriber = %v; want ErrNotFound", err)
	}
	if err := e.store.DeleteSubscriber(ctx, phone); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteSubscriber(ctx, phone); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete = %v; want ErrNotFound", err)
	}
	if _, err := e.store.CheckUserID(ctx, phone, "123456"); !errors.Is(err, ErrBadUserID) {
		t.Fatalf("CheckUserID after delete = %v; want ErrBadUserID", err)
	}
}

func testSubscriberInvalid(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		mod    func(*Subscriber)
		userID string
	}{
		{"phone without plus", func(s *Subscriber) { s.Phone = "994501234567" }, "123456"},
		{"phone too long", func(s *Subscriber) { s.Phone = "+9945012345678901" }, "123456"},
		{"phone letters", func(s *Subscriber) { s.Phone = "+99450123456a" }, "123456"},
		{"iccid short", func(s *Subscriber) { s.ICCID = "899940123456789012" }, "123456"},
		{"key version 0", func(s *Subscriber) { s.KeyVersion = 0 }, "123456"},
		{"key version 16", func(s *Subscriber) { s.KeyVersion = 16 }, "123456"},
		{"operator upper", func(s *Subscriber) { s.Operator = "Azercell" }, "123456"},
		{"user id 5 digits", func(s *Subscriber) {}, "12345"},
		{"user id letters", func(s *Subscriber) {}, "12345x"},
		{"business without voen", func(s *Subscriber) { s.Certificates[1].TaxID = "" }, "123456"},
		{"voen 9 digits", func(s *Subscriber) { s.Certificates[1].TaxID = "123456789" }, "123456"},
		{"cert type", func(s *Subscriber) { s.Certificates[0].Type = "private" }, "123456"},
		{"cert status", func(s *Subscriber) { s.Certificates[0].Status = "expired" }, "123456"},
		{"key ref 0", func(s *Subscriber) { s.Certificates[0].KeyRef = 0 }, "123456"},
		{"key ref 16", func(s *Subscriber) { s.Certificates[0].KeyRef = 16 }, "123456"},
		{"empty der", func(s *Subscriber) { s.Certificates[0].DER = nil }, "123456"},
		{"huge der", func(s *Subscriber) { s.Certificates[0].DER = make([]byte, MaxDERLen+1) }, "123456"},
		{"validity reversed", func(s *Subscriber) {
			s.Certificates[0].NotBefore, s.Certificates[0].NotAfter = s.Certificates[0].NotAfter, s.Certificates[0].NotBefore
		}, "123456"},
		{"too many certs", func(s *Subscriber) {
			for range MaxCertificates {
				s.Certificates = append(s.Certificates, sampleCert(3, CertPersonal))
			}
		}, "123456"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sub := sampleSubscriber(newPhone())
			tc.mod(&sub)
			if err := e.store.PutSubscriber(ctx, sub, tc.userID); !errors.Is(err, ErrInvalid) {
				t.Fatalf("PutSubscriber = %v; want ErrInvalid", err)
			}
		})
	}
}

func importLine(phone, userID string) string {
	return fmt.Sprintf(`{"phone":%q,"iccid":"8999401234567890123","user_id":%q,"key_version":1,"operator":"nar",`+
		`"certificates":[{"type":"personal","key_ref":1,"der":"MIIBCgAB","not_before":"2025-01-01T00:00:00Z","not_after":"2028-01-01T00:00:00Z","status":"active"}]}`,
		phone, userID)
}

func testImportExport(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	const n = 2500 // three batches, the last partial
	var in bytes.Buffer
	phones := make([]string, n)
	for i := range n {
		phones[i] = newPhone()
		in.WriteString(importLine(phones[i], fmt.Sprintf("%06d", i)))
		in.WriteString("\n")
		if i == 10 {
			in.WriteString("\n") // blank lines are skipped
		}
	}
	var calls []int
	got, err := e.store.ImportSubscribers(ctx, &in, func(k int) { calls = append(calls, k) })
	if err != nil || got != n {
		t.Fatalf("ImportSubscribers = %d, %v; want %d", got, err, n)
	}
	if want := []int{1000, 2000, 2500}; !reflect.DeepEqual(calls, want) {
		t.Fatalf("progress calls %v; want %v", calls, want)
	}
	if _, err := e.store.CheckUserID(ctx, phones[1234], "001234"); err != nil {
		t.Fatalf("CheckUserID of imported subscriber: %v", err)
	}
	// Export, wipe, re-import the export: User IDs survive as HMACs.
	// Other tests share the server, so count only our own key space: the
	// export decodes every subscriber, and ours are those whose phone we
	// know.
	var out bytes.Buffer
	total, err := e.store.ExportSubscribers(ctx, &out)
	if err != nil || total < n {
		t.Fatalf("ExportSubscribers = %d, %v; want at least %d", total, err, n)
	}
	mine := map[string]bool{}
	for _, p := range phones {
		mine[p] = true
	}
	var ours bytes.Buffer
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		sub, uid, uidMAC, err := parseSubscriberLine([]byte(line))
		if err != nil || uid != "" || len(uidMAC) != 32 {
			t.Fatalf("export line %q: %v", line, err)
		}
		if mine[sub.Phone] {
			ours.WriteString(line + "\n")
			delete(mine, sub.Phone)
		}
	}
	if len(mine) != 0 {
		t.Fatalf("%d imported subscribers missing from the export", len(mine))
	}
	for _, p := range phones[:100] {
		if err := e.store.DeleteSubscriber(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := e.store.ImportSubscribers(ctx, &ours, nil); err != nil || got != n {
		t.Fatalf("re-import = %d, %v", got, err)
	}
	if _, err := e.store.CheckUserID(ctx, phones[42], "000042"); err != nil {
		t.Fatalf("CheckUserID after export/import: %v", err)
	}
}

// Batches are written concurrently, yet a later line for the same phone
// (here two batches apart, both in flight at once) must win.
func testImportLaterLineWins(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	dup := newPhone()
	var in strings.Builder
	for i := range 2500 {
		switch i {
		case 4:
			in.WriteString(importLine(dup, "111111") + "\n")
		case 2400:
			in.WriteString(importLine(dup, "222222") + "\n")
		default:
			in.WriteString(importLine(newPhone(), "333333") + "\n")
		}
	}
	if n, err := e.store.ImportSubscribers(ctx, strings.NewReader(in.String()), nil); err != nil || n != 2500 {
		t.Fatalf("ImportSubscribers = %d, %v", n, err)
	}
	if _, err := e.store.CheckUserID(ctx, dup, "222222"); err != nil {
		t.Fatalf("the later line's User ID: %v; want a match", err)
	}
	if _, err := e.store.CheckUserID(ctx, dup, "111111"); !errors.Is(err, ErrBadUserID) {
		t.Fatalf("the earlier line's User ID: %v; want ErrBadUserID", err)
	}
}

func testImportBadLine(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	tests := []struct {
		name, line, want string
	}{
		{"not json", `{"phone":`, "json"},
		{"unknown field", strings.Replace(importLine(newPhone(), "123456"), `"operator"`, `"operater"`, 1), "json"},
		{"both user ids", strings.Replace(importLine(newPhone(), "123456"), `"key_version"`, `"user_id_hmac":"00","key_version"`, 1), "exactly one"},
		{"no user id", strings.Replace(importLine(newPhone(), "123456"), `"user_id":"123456",`, ``, 1), "exactly one"},
		{"bad phone", importLine("0501234567", "123456"), "phone"},
		{"trailing data", importLine(newPhone(), "123456") + ` {}`, "after the object"},
		{"digits right after the object", importLine(newPhone(), "123456") + `00`, "after the object"}, // found by FuzzSubscriberLine
		{"object over two lines", strings.Replace(importLine(newPhone(), "123456"), `,"iccid"`, ",\n\"iccid\"", 1), "json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			good := newPhone()
			in := importLine(good, "111111") + "\n" + tc.line + "\n" + importLine(newPhone(), "222222") + "\n"
			n, err := e.store.ImportSubscribers(ctx, strings.NewReader(in), nil)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ImportSubscribers = %d, %v; want ErrInvalid at line 2 mentioning %q", n, err, tc.want)
			}
			if n != 0 {
				t.Fatalf("imported %d from a batch with a bad line; want 0", n)
			}
		})
	}
	long := strings.NewReader(`{"phone":"` + strings.Repeat("1", MaxImportLineLen) + `"}` + "\n")
	if _, err := e.store.ImportSubscribers(ctx, long, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("over-long line: %v; want ErrInvalid", err)
	}
}

func testCheckUserID(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	sub := sampleSubscriber(phone)
	if err := e.store.PutSubscriber(ctx, sub, "654321"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, phone, userID string
		want                error
	}{
		{"match", phone, "654321", nil},
		{"wrong", phone, "654320", ErrBadUserID},
		{"unknown phone", newPhone(), "654321", ErrBadUserID},
		{"malformed user id", phone, "65432", ErrInvalid},
		{"malformed phone", "+0123", "654321", ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.store.CheckUserID(ctx, tc.phone, tc.userID)
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckUserID = %v; want %v", err, tc.want)
			}
			if tc.want == nil && got.ICCID != sub.ICCID {
				t.Fatalf("CheckUserID returned %+v", got)
			}
		})
	}
}

// An unknown phone and a wrong User ID must not be told apart: same error,
// same commands, same number of round trips.
func testUnknownAndWrongLookAlike(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	if err := e.store.PutSubscriber(ctx, sampleSubscriber(phone), "111111"); err != nil {
		t.Fatal(err)
	}
	_, _ = e.store.CheckUserID(ctx, newPhone(), "000000") // load the scripts
	e.hook.reset()
	_, errWrong := e.store.CheckUserID(ctx, phone, "222222")
	wrongCmds := e.hook.commands()
	e.hook.reset()
	_, errUnknown := e.store.CheckUserID(ctx, newPhone(), "222222")
	unknownCmds := e.hook.commands()
	if errWrong != errUnknown || errWrong != ErrBadUserID {
		t.Fatalf("wrong → %v, unknown → %v; want the same ErrBadUserID", errWrong, errUnknown)
	}
	// Both register the attempt, then record it as a failure.
	if wrongCmds != unknownCmds || wrongCmds != "evalsha evalsha" {
		t.Fatalf("wrong ran %q, unknown ran %q; want the same two evalsha each", wrongCmds, unknownCmds)
	}
}

func testLockoutTiming(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	if err := e.store.PutSubscriber(ctx, sampleSubscriber(phone), "111111"); err != nil {
		t.Fatal(err)
	}
	// Four failures, then a match: the match clears them.
	for range 4 {
		if _, err := e.store.CheckUserID(ctx, phone, "999999"); !errors.Is(err, ErrBadUserID) {
			t.Fatal(err)
		}
	}
	if _, err := e.store.CheckUserID(ctx, phone, "111111"); err != nil {
		t.Fatalf("match after 4 failures: %v", err)
	}
	// Five failures lock, even against the right User ID.
	for i := range 5 {
		e.clock.Advance(time.Minute)
		if _, err := e.store.CheckUserID(ctx, phone, "999999"); !errors.Is(err, ErrBadUserID) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
	}
	_, err := e.store.CheckUserID(ctx, phone, "111111")
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.RetryAfter != 15*time.Minute {
		t.Fatalf("after 5 failures: %v; want LockedError with RetryAfter 15m", err)
	}
	e.clock.Advance(15*time.Minute - time.Millisecond)
	if _, err := e.store.CheckUserID(ctx, phone, "111111"); !errors.Is(err, ErrLocked) {
		t.Fatalf("1ms before the lock ends: %v; want ErrLocked", err)
	}
	e.clock.Advance(time.Millisecond)
	if _, err := e.store.CheckUserID(ctx, phone, "111111"); err != nil {
		t.Fatalf("when the lock ends: %v; want a match", err)
	}
	// Unknown phones lock the same way.
	unknown := newPhone()
	for range 5 {
		_, _ = e.store.CheckUserID(ctx, unknown, "999999")
	}
	if _, err := e.store.CheckUserID(ctx, unknown, "999999"); !errors.Is(err, ErrLocked) {
		t.Fatalf("unknown phone after 5 failures: %v; want ErrLocked", err)
	}
}

func testLockoutSlidingWindow(t *testing.T, be backend) {
	e := newEnv(t, be, func(o *Options) {
		o.LockoutAttempts = 3
		o.LockoutWindow = 10 * time.Minute
		o.LockoutDuration = time.Minute
	})
	ctx := context.Background()
	phone := newPhone()
	if err := e.store.PutSubscriber(ctx, sampleSubscriber(phone), "111111"); err != nil {
		t.Fatal(err)
	}
	fail := func() error { _, err := e.store.CheckUserID(ctx, phone, "999999"); return err }
	// Failures 6 minutes apart: never 3 within 10 minutes.
	for i := range 6 {
		if err := fail(); !errors.Is(err, ErrBadUserID) {
			t.Fatalf("spread failure %d: %v; want ErrBadUserID", i, err)
		}
		e.clock.Advance(6 * time.Minute)
	}
	// Three within the window lock for the configured minute.
	e.clock.Advance(10 * time.Minute)
	for range 3 {
		_ = fail()
		e.clock.Advance(time.Second)
	}
	var le *LockedError
	if err := fail(); !errors.As(err, &le) || le.RetryAfter != time.Minute-time.Second {
		t.Fatalf("after 3 quick failures: %v; want locked for 59s more", err)
	}
	// The served lock is forgiven: one more failure does not relock.
	e.clock.Advance(time.Minute)
	if err := fail(); !errors.Is(err, ErrBadUserID) {
		t.Fatalf("first failure after the lock: %v; want ErrBadUserID", err)
	}
}

// Concurrent guesses cannot get more than the allowed number judged.
func testLockoutConcurrent(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	if err := e.store.PutSubscriber(ctx, sampleSubscriber(phone), "111111"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := e.store.CheckUserID(ctx, phone, fmt.Sprintf("%06d", 200000+i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	judged := 0
	for err := range errs {
		switch {
		case errors.Is(err, ErrBadUserID):
			judged++
		case errors.Is(err, ErrLocked), errors.Is(err, ErrOutstanding):
		default:
			t.Fatalf("unexpected %v", err)
		}
	}
	if judged != 5 {
		t.Fatalf("%d of %d concurrent guesses were judged; want exactly 5", judged, n)
	}
}

func testSessionLifecycle(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	sess := e.start(phone)
	if len(sess.ID) != idLen || sess.TxnID == [8]byte{} || sess.State != StateRunning ||
		!sess.ExpiresAt.Equal(sess.Accepted.Add(time.Minute)) {
		t.Fatalf("Start filled %+v", sess)
	}
	got, err := e.store.Get(ctx, sess.ID)
	if err != nil || !reflect.DeepEqual(got, *sess) {
		t.Fatalf("Get = %+v, %v\nwant %+v", got, err, *sess)
	}
	if got, err := e.store.ByTxn(ctx, sess.TxnID); err != nil || got.ID != sess.ID {
		t.Fatalf("ByTxn = %v, %v", got.ID, err)
	}
	if got, err := e.store.RunningByPhone(ctx, phone); err != nil || got.ID != sess.ID {
		t.Fatalf("RunningByPhone = %v, %v", got.ID, err)
	}
	at := e.clock.Now().Add(time.Second)
	if err := e.store.MarkSubmitted(ctx, sess.ID, 7, []string{"a1", "a2"}, at); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkSubmitted(ctx, sess.ID, 7, []string{"b"}, at.Add(time.Second)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second MarkSubmitted = %v; want ErrDuplicate", err)
	}
	if err := e.store.MarkDelivered(ctx, sess.ID, at.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkDelivered(ctx, sess.ID, at.Add(3*time.Second)); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("second MarkDelivered = %v; want ErrDuplicate", err)
	}
	e.clock.Advance(10 * time.Second)
	sig := bytes.Repeat([]byte{0xAB}, 2420) // an ML-DSA-44 signature
	done, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultOK, SigAlg: "ML-DSA-44", Signature: sig})
	if err != nil {
		t.Fatal(err)
	}
	if done.State != StateComplete || done.Result != ResultOK || !bytes.Equal(done.Signature, sig) ||
		!done.Completed.Equal(e.clock.Now()) || !reflect.DeepEqual(done.MessageIDs, []string{"a1", "a2"}) ||
		!done.Submitted.Equal(at) || !done.Delivered.Equal(at.Add(2*time.Second)) {
		t.Fatalf("Complete returned %+v", done)
	}
	again, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultUserCancelled})
	if !errors.Is(err, ErrDuplicate) || errors.Is(err, ErrExpired) || again.Result != ResultOK {
		t.Fatalf("second Complete = %s, %v; want the first result and ErrDuplicate", again.Result, err)
	}
	if err := e.store.MarkDelivered(ctx, sess.ID, at); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("MarkDelivered after completion = %v; want ErrDuplicate", err)
	}
	if _, err := e.store.RunningByPhone(ctx, phone); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RunningByPhone after completion = %v; want ErrNotFound", err)
	}
	e.start(phone) // the phone is free again
	// Kept for the retention period, then gone.
	e.clock.Advance(DefaultRetention - time.Millisecond)
	if got, err := e.store.Get(ctx, sess.ID); err != nil || got.Result != ResultOK {
		t.Fatalf("Get within retention = %v, %v", got.Result, err)
	}
	e.clock.Advance(time.Millisecond)
	if _, err := e.store.Get(ctx, sess.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after retention = %v; want ErrNotFound", err)
	}
	// Physically too: the record's TTL is the retention period.
	if ttl := e.rdb.PTTL(ctx, e.store.phone(phone).sessionKey(sess.ID)).Val(); ttl <= 0 || ttl > DefaultRetention {
		t.Fatalf("completed record PTTL %v; want within (0, %v]", ttl, DefaultRetention)
	}
	for _, id := range []string{"", "nope", strings.Repeat("z", idLen)} {
		if _, err := e.store.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%q) = %v; want ErrNotFound", id, err)
		}
	}
	if _, err := e.store.ByTxn(ctx, [8]byte{1, 2, 3}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ByTxn(unknown) = %v; want ErrNotFound", err)
	}
}

func testOutstanding(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	phone := newPhone()
	e.start(phone)
	if err := e.store.Start(context.Background(), sampleSession(phone), time.Minute); !errors.Is(err, ErrOutstanding) {
		t.Fatalf("second Start = %v; want ErrOutstanding", err)
	}
	e.start(newPhone()) // another phone is not affected
}

func testConcurrentStarts(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	phone := newPhone()
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- e.store.Start(context.Background(), sampleSession(phone), time.Minute) })
	}
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrOutstanding):
			t.Fatalf("unexpected %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent starts won; want exactly 1", won)
	}
}

func testConcurrentCompletes(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	sess := e.start(newPhone())
	peer := e.peer()
	const n = 16
	type outcome struct {
		code string
		err  error
	}
	out := make(chan outcome, n)
	var wg sync.WaitGroup
	for i := range n {
		st := e.store
		if i%2 == 1 {
			st = peer // duplicates arriving at another instance
		}
		code := fmt.Sprintf("CODE_%d", i)
		wg.Go(func() {
			_, err := st.Complete(context.Background(), sess.ID, Result{Code: code})
			out <- outcome{code, err}
		})
	}
	wg.Wait()
	close(out)
	var winner string
	for o := range out {
		switch {
		case o.err == nil:
			if winner != "" {
				t.Fatalf("two completes applied: %s and %s", winner, o.code)
			}
			winner = o.code
		case !errors.Is(o.err, ErrDuplicate):
			t.Fatalf("unexpected %v", o.err)
		}
	}
	got, err := e.store.Get(context.Background(), sess.ID)
	if winner == "" || err != nil || got.Result != winner {
		t.Fatalf("stored result %q (%v); winner %q", got.Result, err, winner)
	}
}

func testExpiry(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	sess := e.start(phone)
	e.clock.Advance(time.Minute)
	got, err := e.store.Get(ctx, sess.ID)
	if err != nil || got.State != StateComplete || got.Result != ResultTimeout || !got.Completed.Equal(sess.ExpiresAt) {
		t.Fatalf("Get at expiry = %+v, %v; want COMPLETE/TIMEOUT", got, err)
	}
	late, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultOK})
	if !errors.Is(err, ErrExpired) || !errors.Is(err, ErrDuplicate) || late.Result != ResultTimeout {
		t.Fatalf("late Complete = %s, %v; want TIMEOUT and ErrExpired", late.Result, err)
	}
	if err := e.store.MarkSubmitted(ctx, sess.ID, 7, nil, e.clock.Now()); !errors.Is(err, ErrExpired) {
		t.Fatalf("late MarkSubmitted = %v; want ErrExpired", err)
	}
	if got, _ := e.store.Get(ctx, sess.ID); got.Result != ResultTimeout {
		t.Fatalf("after late reply Result = %q; want TIMEOUT (nothing changed)", got.Result)
	}
	if _, err := e.store.RunningByPhone(ctx, phone); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RunningByPhone after expiry = %v; want ErrNotFound", err)
	}
	e.start(phone) // an expired session no longer blocks the phone
	e.clock.Advance(DefaultRetention)
	if _, err := e.store.Get(ctx, sess.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after retention = %v; want ErrNotFound", err)
	}
	if ttl := e.rdb.PTTL(ctx, e.store.phone(phone).sessionKey(sess.ID)).Val(); ttl <= 0 || ttl > time.Minute+DefaultRetention {
		t.Fatalf("record PTTL %v; want within (0, ttl+retention]", ttl)
	}
}

func testIdempotency(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	first := sampleSession(phone)
	first.IdempotencyKey = "req-1"
	if err := e.store.Start(ctx, first, time.Minute); err != nil {
		t.Fatal(err)
	}
	again := sampleSession(phone)
	again.IdempotencyKey = "req-1"
	if err := e.store.Start(ctx, again, time.Minute); !errors.Is(err, ErrDuplicate) || again.ID != first.ID {
		t.Fatalf("replayed Start = %v, id %s; want ErrDuplicate and id %s", err, again.ID, first.ID)
	}
	other := sampleSession(phone)
	other.Portal, other.IdempotencyKey = "bank", "req-1"
	if err := e.store.Start(ctx, other, time.Minute); !errors.Is(err, ErrOutstanding) {
		t.Fatalf("another portal's key = %v; want ErrOutstanding", err)
	}
}

func testStartInvalid(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	tests := []struct {
		name string
		mod  func(*Session)
		ttl  time.Duration
	}{
		{"ttl too short", func(*Session) {}, time.Millisecond},
		{"ttl too long", func(*Session) {}, 2 * time.Hour},
		{"preset id", func(s *Session) { s.ID = "x" }, time.Minute},
		{"preset txn", func(s *Session) { s.TxnID[0] = 1 }, time.Minute},
		{"no portal", func(s *Session) { s.Portal = "" }, time.Minute},
		{"portal with space", func(s *Session) { s.Portal = "e taxes" }, time.Minute},
		{"operation", func(s *Session) { s.Operation = "LOGIN" }, time.Minute},
		{"auth with sign key", func(s *Session) { s.Operation = OpAuthenticate }, time.Minute},
		{"sign with auth key", func(s *Session) { s.KeyRef = 1 }, time.Minute},
		{"empty hash", func(s *Session) { s.Hash = nil }, time.Minute},
		{"hash too long", func(s *Session) { s.Hash = make([]byte, 65) }, time.Minute},
		{"code letters", func(s *Session) { s.VerificationCode = "12a4" }, time.Minute},
		{"bad phone", func(s *Session) { s.Phone = "+1" }, time.Minute},
		{"callback with newline", func(s *Session) { s.CallbackURL = "https://x/\n" }, time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := sampleSession(newPhone())
			tc.mod(s)
			if err := e.store.Start(context.Background(), s, tc.ttl); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Start = %v; want ErrInvalid", err)
			}
		})
	}
	sess := e.start(newPhone())
	if err := e.store.MarkSubmitted(context.Background(), sess.ID, 7, []string{"bad\nid"}, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MarkSubmitted with a newline in an id = %v; want ErrInvalid", err)
	}
	if _, err := e.store.Complete(context.Background(), sess.ID, Result{Code: "ok"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Complete with a lower-case code = %v; want ErrInvalid", err)
	}
}

func testWaitAcrossInstances(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waiter := e.peer() // the instance holding the portal's long poll
	const n = 8
	ids := make([]string, n)
	for i := range ids {
		ids[i] = e.start(newPhone()).ID
	}
	results := make(chan Session, 2*n)
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for _, id := range ids {
		for range 2 { // two waiters per session share the one subscription
			wg.Go(func() {
				s, err := waiter.Wait(ctx, id)
				if err != nil {
					errs <- err
					return
				}
				results <- s
			})
		}
	}
	// Complete only once every waiter is registered, so each of them
	// exercises the wakeup path, not the first read.
	for waiter.notify.waiting() < 2*n {
		time.Sleep(time.Millisecond)
	}
	for _, id := range ids {
		if _, err := e.store.Complete(ctx, id, Result{Code: ResultUserCancelled}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatalf("Wait: %v", err)
	}
	count := 0
	for s := range results {
		if s.State != StateComplete || s.Result != ResultUserCancelled {
			t.Fatalf("Wait returned %+v", s)
		}
		count++
	}
	if count != 2*n {
		t.Fatalf("%d waits returned; want %d", count, 2*n)
	}
	if subs := waiter.notify.subscriptions.Load(); subs != 1 {
		t.Fatalf("%d subscriptions for %d waiters; want 1 per process", subs, 2*n)
	}
	// A completed session returns at once.
	if s, err := waiter.Wait(ctx, ids[0]); err != nil || s.Result != ResultUserCancelled {
		t.Fatalf("Wait on a completed session = %v, %v", s.Result, err)
	}
	if _, err := waiter.Wait(ctx, "unknown"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Wait(unknown) = %v; want ErrNotFound", err)
	}
}

func testWaitContextEnd(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	sess := e.start(newPhone())
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	got, err := e.store.Wait(ctx, sess.ID)
	if !errors.Is(err, context.DeadlineExceeded) || got.ID != sess.ID || got.State != StateRunning {
		t.Fatalf("Wait until ctx end = %+v, %v; want the running session and DeadlineExceeded", got, err)
	}
	if e.store.notify.waiting() != 0 {
		t.Fatal("waiter left registered after Wait returned")
	}
}

// A reply that completes the session before its submit is recorded does
// not lose the submitted stamp: MarkSubmitted still stores it (once) and
// reports ErrDuplicate; a late receipt's stamp is not added.
func testSubmittedAfterCompletion(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	sess := e.start(newPhone())
	if _, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultOK, SigAlg: "ED25519", Signature: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	at := e.clock.Now().Add(-time.Millisecond)
	steps := []struct {
		name string
		call func() error
	}{
		{"submit after completion", func() error { return e.store.MarkSubmitted(ctx, sess.ID, 7, []string{"m1", "m2"}, at) }},
		{"second submit", func() error { return e.store.MarkSubmitted(ctx, sess.ID, 7, []string{"x"}, at.Add(time.Second)) }},
		{"receipt after completion", func() error { return e.store.MarkDelivered(ctx, sess.ID, at.Add(time.Second)) }},
	}
	for _, st := range steps {
		if err := st.call(); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("%s = %v; want ErrDuplicate", st.name, err)
		}
	}
	got, err := e.store.Get(ctx, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != StateComplete || got.Result != ResultOK || !got.Submitted.Equal(at.Truncate(time.Millisecond)) ||
		!reflect.DeepEqual(got.MessageIDs, []string{"m1", "m2"}) || !got.Delivered.IsZero() {
		t.Fatalf("after a late submit: %+v", got)
	}
}

// WaitOwned answers another portal's session as not found at once, and
// the owner's completed session at once, each after exactly one read.
func testWaitOwned(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess := e.start(newPhone())
	start := time.Now()
	if _, err := e.store.WaitOwned(ctx, sess.ID, "another-portal"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("WaitOwned(other portal) = %v; want ErrNotFound", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("WaitOwned(other portal) took %v; want an answer at once", d)
	}
	if _, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultUserCancelled}); err != nil {
		t.Fatal(err)
	}
	e.hook.reset()
	got, err := e.store.WaitOwned(ctx, sess.ID, sess.Portal)
	if err != nil || got.ID != sess.ID || got.Result != ResultUserCancelled {
		t.Fatalf("WaitOwned(completed) = %+v, %v", got, err)
	}
	if n := e.hook.n.Load(); n != 1 {
		t.Fatalf("WaitOwned on a completed session took %d round trips (%s); want 1", n, e.hook.commands())
	}
	if e.store.notify.waiting() != 0 {
		t.Fatal("waiter left registered after WaitOwned returned")
	}
}

// A session that expires publishes nothing; Wait must still return it as
// TIMEOUT at its expiry (real clock: the store's timer is real).
func testWaitExpiry(t *testing.T, be backend) {
	e := newEnv(t, be, func(o *Options) { o.Now = time.Now })
	sess := sampleSession(newPhone())
	if err := e.store.Start(context.Background(), sess, MinSessionTTL); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := e.store.Wait(ctx, sess.ID)
	if err != nil || got.Result != ResultTimeout {
		t.Fatalf("Wait on an expiring session = %+v, %v; want TIMEOUT", got, err)
	}
	if time.Now().Before(sess.ExpiresAt) {
		t.Fatal("Wait returned TIMEOUT before the expiry")
	}
}

func testMTCounter(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	iccid := "8999401234567890123"
	var last uint64
	for i := range 20 {
		v, err := e.store.NextMTCounter(ctx, iccid)
		if err != nil {
			t.Fatal(err)
		}
		if v <= last || v > MaxCounter {
			t.Fatalf("counter %d: %d after %d", i, v, last)
		}
		last = v
	}
	// Several instances at once: all distinct.
	peer := e.peer()
	seen := sync.Map{}
	var wg sync.WaitGroup
	for i := range 4 {
		st := e.store
		if i%2 == 1 {
			st = peer
		}
		wg.Go(func() {
			for range 10 {
				v, err := st.NextMTCounter(ctx, iccid)
				if err != nil {
					t.Error(err)
					return
				}
				if _, dup := seen.LoadOrStore(v, true); dup || v <= last {
					t.Errorf("counter %d reused or not above %d", v, last)
				}
			}
		})
	}
	wg.Wait()
	if _, err := e.store.NextMTCounter(ctx, "123"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad ICCID: %v; want ErrInvalid", err)
	}
}

func testMOCounter(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	iccid := "89994012345678901234"
	steps := []struct {
		name string
		cntr uint64
		want error
	}{
		{"first", 1, nil},
		{"replay", 1, ErrReplay},
		{"jump", 5, nil},
		{"lower", 3, ErrReplay},
		{"zero", 0, ErrInvalid},
		{"over 5 octets", MaxCounter + 1, ErrInvalid},
		{"max", MaxCounter, nil},
	}
	for _, st := range steps {
		if err := e.store.AcceptMOCounter(ctx, iccid, st.cntr); !errors.Is(err, st.want) {
			t.Fatalf("%s: AcceptMOCounter(%d) = %v; want %v", st.name, st.cntr, err, st.want)
		}
	}
	// The same MO at two instances: one accepts.
	other := "8999400000000000001"
	peer := e.peer()
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for i := range 8 {
		st := e.store
		if i%2 == 1 {
			st = peer
		}
		wg.Go(func() {
			if st.AcceptMOCounter(ctx, other, 7) == nil {
				mu.Lock()
				accepted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if accepted != 1 {
		t.Fatalf("%d instances accepted the same MO counter; want 1", accepted)
	}
}

// Ping answers nil from a live server in one round trip.
func testPing(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	e.hook.reset()
	if err := e.store.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.hook.n.Load(); n != 1 {
		t.Fatalf("Ping took %d round trips (%s); want 1", n, e.hook.commands())
	}
}

// Start + submitted + complete must cost at most 6 round trips.
func testRoundTrips(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	if err := e.store.Ready(ctx); err != nil { // loads the scripts on every master
		t.Fatal(err)
	}
	e.hook.reset()
	sess := e.start(newPhone())
	if err := e.store.MarkSubmitted(ctx, sess.ID, 7, []string{"m1"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultOK, Signature: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if n := e.hook.n.Load(); n > 6 {
		t.Fatalf("start+submitted+complete took %d round trips (%s); target ≤ 6", n, e.hook.commands())
	} else {
		t.Logf("start+submitted+complete: %d round trips (%s)", n, e.hook.commands())
	}
}

// Key names carry no phone number, ICCID or User ID, and every key of one
// phone shares its hash tag (hence its Cluster slot).
func testKeyNames(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	sub := sampleSubscriber(phone)
	if err := e.store.PutSubscriber(ctx, sub, "135790"); err != nil {
		t.Fatal(err)
	}
	_, _ = e.store.CheckUserID(ctx, phone, "000000")
	sess := sampleSession(phone)
	sess.IdempotencyKey = "k1"
	if err := e.store.Start(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	ref := e.store.phone(phone)
	keys := []string{ref.subscriberKey(), ref.failKey(), ref.runKey(), ref.sessionKey(sess.ID), txnKey(sess.TxnID)}
	for _, k := range keys {
		if n := e.rdb.Exists(ctx, k).Val(); n != 1 {
			t.Fatalf("expected key %s to exist", k)
		}
		if !strings.HasPrefix(k, ref.tag) {
			t.Fatalf("key %s lacks the phone's tag %s", k, ref.tag)
		}
		if slot, want := keySlot(k), keySlot(ref.subscriberKey()); slot != want {
			t.Fatalf("key %s in slot %d, subscriber in %d", k, slot, want)
		}
		for _, secret := range []string{phone[1:], phone[4:], sub.ICCID, "135790"} {
			if strings.Contains(k, secret) {
				t.Fatalf("key %s contains %q", k, secret)
			}
		}
	}
}

// keySlot is the Cluster slot (CRC16/XMODEM of the hash tag, mod 16384).
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// The memory of a running session (record, running marker, transaction
// index) must stay within 1 KB.
func testMemoryPerSession(t *testing.T, be backend) {
	if !be.memoryUsage {
		t.Skip("backend has no MEMORY USAGE")
	}
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	sess := e.start(phone)
	ref := e.store.phone(phone)
	total := int64(0)
	for _, k := range []string{ref.sessionKey(sess.ID), ref.runKey(), txnKey(sess.TxnID)} {
		n, err := e.rdb.MemoryUsage(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("MEMORY USAGE %s: %d bytes", k[6:8], n)
		total += n
	}
	t.Logf("MEMORY USAGE of a running session: %d bytes", total)
	// A CAdES session also holds the gateway's prepared state: the DER
	// signed attributes (about 330 octets with a real issuer name), the
	// certificate references and the document digest. A value above
	// hash-max-listpack-value (64) turns the hash into a hashtable, which
	// costs more than the state itself (data-model.md §14).
	cades := sampleSession(newPhone())
	cades.AdES = make([]byte, 420)
	if err := e.store.Start(ctx, cades, time.Minute); err != nil {
		t.Fatal(err)
	}
	cref := e.store.phone(cades.Phone)
	cadesTotal := int64(0)
	for _, k := range []string{cref.sessionKey(cades.ID), cref.runKey(), txnKey(cades.TxnID)} {
		n, err := e.rdb.MemoryUsage(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		cadesTotal += n
	}
	t.Logf("MEMORY USAGE of a running CAdES session: %d bytes", cadesTotal)
	if cadesTotal > 3072 {
		t.Fatalf("a running CAdES session uses %d bytes; target ≤ 3072", cadesTotal)
	}
	sub := sampleSubscriber(phone)
	sub.Certificates[0].DER = make([]byte, 700) // a real ECDSA certificate's size
	if err := e.store.PutSubscriber(ctx, sub, "123456"); err != nil {
		t.Fatal(err)
	}
	if n, err := e.rdb.MemoryUsage(ctx, ref.subscriberKey()).Result(); err == nil {
		t.Logf("MEMORY USAGE of a subscriber with a 700-octet certificate: %d bytes", n)
	}
	if total > 1024 {
		t.Fatalf("a running session uses %d bytes; target ≤ 1024", total)
	}
}
