package sessions

import (
	"context"
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A session started with CheckAndStart is remembered: a wait on the same
// store is answered by the completion notice, which carries the record,
// with no round trip, and returns the subscriber when it is unchanged; a
// reply judged with the remembered subscriber completes in one round trip
// only while that subscriber is unchanged.
func testLocalSessions(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.store.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	start := func(phone string) *Session {
		t.Helper()
		var sess *Session
		_, _, err := e.store.CheckAndStart(ctx, phone, "424242", func(sub Subscriber) (*Session, time.Duration, error) {
			sess = sampleSession(phone)
			sess.ICCID = sub.ICCID
			return sess, time.Minute, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return sess
	}
	phone := newPhone()
	sub := sampleSubscriber(phone)
	if err := e.store.PutSubscriber(ctx, sub, "424242"); err != nil {
		t.Fatal(err)
	}
	// The first start starts the completion listener; wait until it is up
	// so the next start is remembered as covered by it.
	first := start(phone)
	if _, err := e.store.Complete(ctx, first.ID, Result{Code: ResultUserCancelled}); err != nil {
		t.Fatal(err)
	}
	for !e.store.notify.live.Load() {
		time.Sleep(time.Millisecond)
	}

	sess := start(phone)
	got, gotSub, ok := e.store.LocalRunning(phone)
	if !ok || got.ID != sess.ID || gotSub.ICCID != sub.ICCID {
		t.Fatalf("LocalRunning = %+v, %+v, %v", got.ID, gotSub.ICCID, ok)
	}
	if err := e.store.MarkSubmitted(ctx, sess.ID, 9, []string{"m1"}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := e.store.LocalRunning(phone); got.Submitted.IsZero() || got.MTCounter != 9 {
		t.Fatalf("the remembered session lacks the submit: %+v", got)
	}
	type answer struct {
		sess Session
		sub  Subscriber
		err  error
	}
	waited := make(chan answer, 1)
	e.hook.reset()
	go func() {
		s, u, err := e.store.WaitOwnedSubscriber(ctx, sess.ID, sess.Portal)
		waited <- answer{s, u, err}
	}()
	for e.store.notify.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	done, counterErr, err := e.store.AcceptMOAndCompleteIfUnchanged(ctx, sub.ICCID, 5, sess.ID, Result{Code: ResultOK, SigAlg: "ED25519", Signature: []byte{7}})
	if err != nil || counterErr != nil || done.Result != ResultOK {
		t.Fatalf("AcceptMOAndCompleteIfUnchanged = %+v, %v, %v", done, counterErr, err)
	}
	a := <-waited
	if a.err != nil || a.sess.Result != ResultOK || string(a.sess.Signature) != "\x07" || a.sess.MTCounter != 9 || a.sub.ICCID != sub.ICCID {
		t.Fatalf("wait = %+v, %+v, %v", a.sess, a.sub, a.err)
	}
	// One round trip in all: the completion (the wait read nothing).
	if n := e.hook.n.Load(); n != 1 {
		t.Fatalf("reply and wait took %d round trips (%s); want 1", n, e.hook.commands())
	}
	if _, _, ok := e.store.LocalRunning(phone); ok {
		t.Fatal("a completed session is still remembered as running")
	}

	// The subscriber changes between the start and the reply: nothing is
	// completed, and the caller is told to read it again.
	sess = start(phone)
	sub.Operator = "bakcell"
	if err := e.store.PutSubscriber(ctx, sub, "424242"); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.store.AcceptMOAndCompleteIfUnchanged(ctx, sub.ICCID, 6, sess.ID, Result{Code: ResultOK})
	if !errors.Is(err, ErrSubscriberChanged) {
		t.Fatalf("after a change: %v; want ErrSubscriberChanged", err)
	}
	if s, err := e.store.Get(ctx, sess.ID); err != nil || s.State != StateRunning {
		t.Fatalf("the session after a refused completion: %+v, %v", s, err)
	}
	// A completion by an instance of an earlier version announces the id
	// alone: the wait reads the store rather than trusting its memory.
	if _, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultUserCancelled}); err != nil {
		t.Fatal(err)
	}
	sess = start(phone)
	e.clock.Advance(time.Millisecond)
	waited = make(chan answer, 1)
	go func() {
		s, u, err := e.store.WaitOwnedSubscriber(ctx, sess.ID, sess.Portal)
		waited <- answer{s, u, err}
	}()
	for e.store.notify.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	ref := e.store.phone(phone)
	if err := e.rdb.HSet(ctx, ref.sessionKey(sess.ID), sState, stComplete, sResult, ResultOK, sComplete, ms(e.clock.Now())).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.Publish(ctx, CompletionChannel, sess.ID).Err(); err != nil {
		t.Fatal(err)
	}
	if a := <-waited; a.err != nil || a.sess.State != StateComplete || a.sess.Result != ResultOK {
		t.Fatalf("wait after an id-only notice = %+v, %v", a.sess, a.err)
	}

	// A session this store did not start is not remembered.
	if _, _, err := e.store.AcceptMOAndCompleteIfUnchanged(ctx, sub.ICCID, 7, e.start(newPhone()).ID, Result{Code: ResultOK}); !errors.Is(err, ErrSubscriberChanged) {
		t.Fatalf("unknown session: %v; want ErrSubscriberChanged", err)
	}
}

// decodeNotice reads what scriptComplete publishes and refuses what it
// cannot have written.
func TestDecodeNotice(t *testing.T) {
	id, d, m, err := decodeNotice("0123456789abcdefghijklmnopqrstuv0123\nda39a3ee\nst 1 C\nsg 3 a\nb\nrs 2 OK")
	if err != nil || id != "0123456789abcdefghijklmnopqrstuv0123" || d != "da39a3ee" || m["st"] != "C" || m["sg"] != "a\nb" || m["rs"] != "OK" || len(m) != 3 {
		t.Fatalf("decodeNotice = %q %q %q %v", id, d, m, err)
	}
	if _, _, m, err := decodeNotice("id\n"); err != nil || len(m) != 0 {
		t.Fatalf("no fields: %v %v", m, err)
	}
	for _, bad := range []string{"", "id", "id\nd\nst", "id\nd\nst 5 C", "id\nd\nst x C", "id\nd\nst 1 Cx", "id\nd\n 1 C", "id\nd\nst -1 C"} {
		if _, _, _, err := decodeNotice(bad); err == nil {
			t.Errorf("decodeNotice(%q) accepted", bad)
		}
	}
}

// FuzzDecodeNotice: any payload is decoded or refused without panicking,
// and what is decoded, written again as scriptComplete writes it, decodes
// to the same.
func FuzzDecodeNotice(f *testing.F) {
	f.Add("0123456789abcdefghijklmnopqrstuv0123\nda39a3ee\nst 1 C\nsg 3 a\nb")
	f.Add("id\n\nst 0 ")
	f.Fuzz(func(t *testing.T, p string) {
		id, d, m, err := decodeNotice(p)
		if err != nil {
			return
		}
		if strings.Contains(id, "\n") || strings.Contains(d, "\n") {
			t.Fatalf("id %q or digest %q holds a newline", id, d)
		}
		parts := []string{id, d}
		for k, v := range m {
			if k == "" || strings.ContainsAny(k, " \n") {
				t.Fatalf("field name %q", k)
			}
			parts = append(parts, k+" "+strconv.Itoa(len(v))+" "+v)
		}
		id2, d2, m2, err := decodeNotice(strings.Join(parts, "\n"))
		if err != nil || id2 != id || d2 != d || !maps.Equal(m, m2) {
			t.Fatalf("re-encoded notice decodes to %q %q %q, %v", id2, d2, m2, err)
		}
	})
}
