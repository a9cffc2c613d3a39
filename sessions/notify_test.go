package sessions

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/embedded"
)

func embeddedStore(t *testing.T, mod func(*Options)) *Store {
	t.Helper()
	srv, err := embedded.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	opts := Options{Pepper: randomPepper(), Logger: testLogger(t)}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(clientFor(t, srv.Addr()), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// The number of waiters is bounded: one more is refused, not queued.
func TestWaitersBounded(t *testing.T) {
	s := embeddedStore(t, func(o *Options) { o.MaxWaiters = 2 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sess := sampleSession(newPhone())
	if err := s.Start(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := s.Wait(ctx, sess.ID); errs <- err }()
	}
	for s.notify.waiting() < 2 {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.Wait(ctx, sess.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("third Wait = %v; want ErrUnavailable", err)
	}
	// A complete session needs no waiter: it is answered even at the bound.
	done := sampleSession(newPhone())
	if err := s.Start(ctx, done, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Complete(ctx, done.ID, Result{Code: ResultUserCancelled}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Wait(ctx, done.ID); err != nil || got.Result != ResultUserCancelled {
		t.Fatalf("Wait on a complete session at the waiter bound = %+v, %v", got, err)
	}
	cancel()
	for range 2 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after cancel = %v", err)
		}
	}
}

// Close ends the listener goroutine and releases every waiter at once.
func TestCloseReleasesWaiters(t *testing.T) {
	s := embeddedStore(t, nil)
	ctx := context.Background()
	sess := sampleSession(newPhone())
	if err := s.Start(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() { _, err := s.Wait(ctx, sess.ID); errs <- err }()
	for !s.notify.live.Load() || s.notify.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Wait after Close = %v; want ErrUnavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait still blocked after Close")
	}
	select {
	case <-s.notify.done:
	default:
		t.Fatal("listener goroutine still running after Close")
	}
	if _, err := s.Wait(ctx, sess.ID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Wait on a closed store = %v; want ErrUnavailable", err)
	}
	_ = s.Close() // idempotent
}

// An import whose context ends stops at a batch boundary and says why.
func TestImportStopsOnCancel(t *testing.T) {
	s := embeddedStore(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var in strings.Builder
	for range 10_000 {
		in.WriteString(importLine(newPhone(), "123456") + "\n")
	}
	n, err := s.ImportSubscribers(ctx, strings.NewReader(in.String()), func(int) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("ImportSubscribers after cancel = %d, %v; want context.Canceled", n, err)
	}
	if n < 1000 || n > 4000 || n%1000 != 0 {
		t.Fatalf("imported %d; want whole batches, the first and at most those already in flight", n)
	}
}
