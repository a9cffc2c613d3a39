package sessions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/embedded"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/redis/go-redis/v9"
)

// CheckAndStart does what CheckUserID, Start and NextMTCounter do, in two
// round trips, and counts, clears and refuses attempts exactly as they do.
func testCheckAndStart(t *testing.T, be backend) {
	e := newEnv(t, be, func(o *Options) { o.LockoutAttempts = 3 })
	ctx := context.Background()
	if err := e.store.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	phone := newPhone()
	sub := sampleSubscriber(phone)
	if err := e.store.PutSubscriber(ctx, sub, "246810"); err != nil {
		t.Fatal(err)
	}
	errPolicy := errors.New("no such certificate")
	build := func(fail bool) func(Subscriber) (*Session, time.Duration, error) {
		return func(got Subscriber) (*Session, time.Duration, error) {
			if fail {
				return nil, 0, errPolicy
			}
			s := sampleSession(got.Phone)
			s.ICCID = got.ICCID
			return s, time.Minute, nil
		}
	}
	failures := func() int64 { return e.rdb.LLen(ctx, e.store.phone(phone).failKey()).Val() }

	tests := []struct {
		name, phone, userID string
		fail                bool
		want                error
		trips               int64 // round trips, 0 = not checked
		failures            int64 // failure-list length afterwards
	}{
		{"wrong user id", phone, "246811", false, ErrBadUserID, 2, 1},
		{"unknown phone", newPhone(), "246810", false, ErrBadUserID, 2, 1},
		{"malformed", phone, "2468", false, ErrInvalid, 0, 1},
		{"policy refuses, attempt cleared", phone, "246810", true, errPolicy, 2, 0},
		{"starts", phone, "246810", false, nil, 2, 0},
		{"busy phone", phone, "246810", false, ErrOutstanding, 2, 0},
	}
	var last uint64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.hook.reset()
			var started *Session
			got, counter, err := e.store.CheckAndStart(ctx, tc.phone, tc.userID, func(s Subscriber) (*Session, time.Duration, error) {
				sess, ttl, err := build(tc.fail)(s)
				started = sess
				return sess, ttl, err
			})
			if !errors.Is(err, tc.want) {
				t.Fatalf("CheckAndStart = %v; want %v", err, tc.want)
			}
			if n := e.hook.n.Load(); tc.trips != 0 && n != tc.trips {
				t.Fatalf("%d round trips (%s); want %d", n, e.hook.commands(), tc.trips)
			}
			if n := failures(); n != tc.failures {
				t.Fatalf("failure list holds %d; want %d", n, tc.failures)
			}
			if tc.want != nil {
				return
			}
			if got.ICCID != sub.ICCID || started.ID == "" || started.State != StateRunning {
				t.Fatalf("subscriber %+v, session %+v", got, started)
			}
			stored, err := e.store.Get(ctx, started.ID)
			if err != nil || stored.TxnID != started.TxnID || stored.Portal != started.Portal {
				t.Fatalf("stored %+v, %v", stored, err)
			}
			if counter == 0 {
				t.Fatal("no counter drawn with the start")
			}
			last = counter
		})
	}
	// The counter drawn with the start is one of the card's sequence.
	next, err := e.store.NextMTCounter(ctx, sub.ICCID)
	if err != nil || next <= last {
		t.Fatalf("NextMTCounter after CheckAndStart = %d, %v; want above %d", next, err, last)
	}

	// Locked: LockoutAttempts failures, then even the right User ID is refused.
	other := newPhone()
	if err := e.store.PutSubscriber(ctx, sampleSubscriber(other), "135791"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, _, _ = e.store.CheckAndStart(ctx, other, "000000", build(false))
	}
	var le *LockedError
	if _, _, err := e.store.CheckAndStart(ctx, other, "135791", build(false)); !errors.As(err, &le) || le.RetryAfter <= 0 {
		t.Fatalf("CheckAndStart on a locked phone = %v; want *LockedError", err)
	}

	// Idempotency: the same key gives the earlier session and ErrDuplicate.
	idem := newPhone()
	if err := e.store.PutSubscriber(ctx, sampleSubscriber(idem), "112233"); err != nil {
		t.Fatal(err)
	}
	withKey := func(Subscriber) (*Session, time.Duration, error) {
		s := sampleSession(idem)
		s.IdempotencyKey = "order-1"
		return s, time.Minute, nil
	}
	var first, second *Session
	if _, _, err := e.store.CheckAndStart(ctx, idem, "112233", func(s Subscriber) (*Session, time.Duration, error) {
		sess, ttl, err := withKey(s)
		first = sess
		return sess, ttl, err
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.store.CheckAndStart(ctx, idem, "112233", func(s Subscriber) (*Session, time.Duration, error) {
		sess, ttl, err := withKey(s)
		second = sess
		return sess, ttl, err
	}); !errors.Is(err, ErrDuplicate) || second.ID != first.ID {
		t.Fatalf("repeated key = %v, %q; want ErrDuplicate and %q", err, second.ID, first.ID)
	}
}

// Without the scripts in the server's cache (a restart, no Ready), the
// pipelined calls fall back to the single-step ones and still work. Each
// backend is private here: flushing the script cache of a server the
// parallel contract tests share would change their round-trip counts.
func TestPipelinedNoScript(t *testing.T) {
	t.Parallel()
	srv, err := embedded.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	real := redistest.Start(t)
	for _, tc := range []struct {
		name string
		addr string
	}{{"embedded", srv.Addr()}, {"redis", real.Addr}} {
		t.Run(tc.name, func(t *testing.T) {
			testPipelinedNoScript(t, backend{client: func(t *testing.T) redis.UniversalClient { return clientFor(t, tc.addr) }})
		})
	}
}

func testPipelinedNoScript(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	sub := sampleSubscriber(phone)
	if err := e.store.PutSubscriber(ctx, sub, "975310"); err != nil {
		t.Fatal(err)
	}
	flush := func() {
		t.Helper()
		if err := forEachShard(ctx, e.rdb, func(ctx context.Context, c redis.Cmdable) error {
			return c.ScriptFlush(ctx).Err()
		}); err != nil {
			t.Fatal(err)
		}
	}
	flush()
	var sess *Session
	_, _, err := e.store.CheckAndStart(ctx, phone, "975310", func(got Subscriber) (*Session, time.Duration, error) {
		sess = sampleSession(got.Phone)
		return sess, time.Minute, nil
	})
	if err != nil || sess.ID == "" {
		t.Fatalf("CheckAndStart without cached scripts = %v", err)
	}
	if n := e.rdb.Exists(ctx, e.store.phone(phone).failKey()).Val(); n != 0 {
		t.Fatal("the attempt was not cleared")
	}
	flush()
	done, cerr, err := e.store.AcceptMOAndComplete(ctx, sub.ICCID, 7, sess.ID, Result{Code: ResultOK, SigAlg: "ED25519", Signature: []byte{1, 2}})
	if err != nil || cerr != nil || done.State != StateComplete || done.Result != ResultOK {
		t.Fatalf("AcceptMOAndComplete without cached scripts = %+v, %v, %v", done, cerr, err)
	}
}

// AcceptMOAndComplete gives the counter's verdict and the completion's
// result separately, in one round trip, each as the single-step call would.
func testAcceptMOAndComplete(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	if err := e.store.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	iccid := "8999401234567890123"
	ok := Result{Code: ResultOK, SigAlg: "ECDSA_P256", Signature: []byte{9, 8, 7}}
	tests := []struct {
		name        string
		cntr        uint64
		complete    bool // the session was completed before
		wantCounter error
		wantErr     error
	}{
		{"new counter", 10, false, nil, nil},
		{"counter seen, session running (redelivery)", 10, false, ErrReplay, nil},
		{"counter seen, session complete", 10, true, ErrReplay, ErrDuplicate},
		{"higher counter, session complete", 11, true, nil, ErrDuplicate},
		{"counter zero", 0, false, ErrInvalid, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sess := e.start(newPhone())
			if tc.complete {
				if _, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultUserCancelled}); err != nil {
					t.Fatal(err)
				}
			}
			e.hook.reset()
			done, cerr, err := e.store.AcceptMOAndComplete(ctx, iccid, tc.cntr, sess.ID, ok)
			if tc.cntr == 0 {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("counter 0: %v; want ErrInvalid", err)
				}
				return
			}
			if !errors.Is(cerr, tc.wantCounter) || tc.wantCounter == nil && cerr != nil {
				t.Fatalf("counter verdict %v; want %v", cerr, tc.wantCounter)
			}
			if !errors.Is(err, tc.wantErr) || tc.wantErr == nil && err != nil {
				t.Fatalf("completion %v; want %v", err, tc.wantErr)
			}
			if n := e.hook.n.Load(); n != 1 {
				t.Fatalf("%d round trips (%s); want 1", n, e.hook.commands())
			}
			want := ResultOK
			if tc.complete {
				want = ResultUserCancelled
			}
			if done.ID != sess.ID || done.State != StateComplete || done.Result != want {
				t.Fatalf("session %+v; want COMPLETE/%s", done, want)
			}
		})
	}
	if _, _, err := e.store.AcceptMOAndComplete(ctx, iccid, 12, "not-an-id", ok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad id = %v; want ErrInvalid", err)
	}
}

// SubscriberAndRunning gives the subscriber and the running session's id
// in one round trip; "" once the session completed; ErrNotFound for an
// unknown phone.
func testSubscriberAndRunning(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	phone := newPhone()
	sub := sampleSubscriber(phone)
	if err := e.store.PutSubscriber(ctx, sub, "123123"); err != nil {
		t.Fatal(err)
	}
	sess := e.start(phone)
	steps := []struct {
		name    string
		phone   string
		before  func()
		wantID  string
		wantErr error
	}{
		{"running", phone, func() {}, sess.ID, nil},
		{"completed", phone, func() {
			if _, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultUserCancelled}); err != nil {
				t.Fatal(err)
			}
		}, "", nil},
		{"unknown phone", newPhone(), func() {}, "", ErrNotFound},
		{"malformed phone", "+0", func() {}, "", ErrInvalid},
	}
	for _, st := range steps {
		st.before()
		e.hook.reset()
		got, id, err := e.store.SubscriberAndRunning(ctx, st.phone)
		if !errors.Is(err, st.wantErr) || st.wantErr == nil && err != nil {
			t.Fatalf("%s: err %v; want %v", st.name, err, st.wantErr)
		}
		if id != st.wantID {
			t.Fatalf("%s: running id %q; want %q", st.name, id, st.wantID)
		}
		if st.wantErr == nil && got.ICCID != sub.ICCID {
			t.Fatalf("%s: subscriber %+v", st.name, got)
		}
		if n := e.hook.n.Load(); st.wantErr == nil && n != 1 {
			t.Fatalf("%s: %d round trips (%s); want 1", st.name, n, e.hook.commands())
		}
	}
}

// WaitOwnedSubscriber, woken by the completion, returns the subscriber read
// in the same round trip as the completed session; a session complete at
// the first read comes without it.
func testWaitOwnedSubscriber(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	phone := newPhone()
	sub := sampleSubscriber(phone)
	if err := e.store.PutSubscriber(ctx, sub, "321321"); err != nil {
		t.Fatal(err)
	}
	sess := e.start(phone)
	type answer struct {
		sess Session
		sub  Subscriber
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		s, u, err := e.store.WaitOwnedSubscriber(ctx, sess.ID, sess.Portal)
		got <- answer{s, u, err}
	}()
	for e.store.notify.waiting() == 0 || !e.store.notify.live.Load() {
		time.Sleep(time.Millisecond)
	}
	if _, err := e.peer().Complete(ctx, sess.ID, Result{Code: ResultOK, SigAlg: "ED25519", Signature: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a.err != nil || a.sess.Result != ResultOK || a.sub.ICCID != sub.ICCID || len(a.sub.Certificates) != len(sub.Certificates) {
		t.Fatalf("woken wait = %+v, subscriber %+v, %v", a.sess, a.sub, a.err)
	}
	s, u, err := e.store.WaitOwnedSubscriber(ctx, sess.ID, sess.Portal)
	if err != nil || s.Result != ResultOK || u.Phone != "" {
		t.Fatalf("wait on a complete session = %+v, subscriber %+v, %v; want no subscriber", s, u, err)
	}
	if _, _, err := e.store.WaitOwnedSubscriber(ctx, sess.ID, "other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other portal = %v; want ErrNotFound", err)
	}
}

// The start script run twice with the same arguments (a resend after a
// lost reply) answers 'ok' both times and stores one session, also with
// an idempotency key.
func testStartScriptRerun(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	for _, key := range []string{"", "order-7"} {
		sess := sampleSession(newPhone())
		sess.IdempotencyKey = key
		next, keys, args := e.store.startCall(sess, time.Minute, e.store.phone(sess.Phone), e.clock.Now())
		for run := range 2 {
			res, err := scriptStart.Run(ctx, e.rdb, keys, args...).StringSlice()
			if err != nil || len(res) != 1 || res[0] != "ok" {
				t.Fatalf("key %q, run %d: %v, %v; want [ok]", key, run, res, err)
			}
		}
		got, err := e.store.Get(ctx, next.ID)
		if err != nil || got.TxnID != next.TxnID {
			t.Fatalf("key %q: stored %+v, %v", key, got, err)
		}
		// A different start for the phone is still refused.
		other := sampleSession(sess.Phone)
		if err := e.store.Start(ctx, other, time.Minute); !errors.Is(err, ErrOutstanding) {
			t.Fatalf("key %q: second start = %v; want ErrOutstanding", key, err)
		}
	}
}
