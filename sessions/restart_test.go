package sessions

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// retry repeats op until it stops failing with ErrUnavailable (the pool
// holds connections to the server that was killed).
func retry[T any](t *testing.T, op func() (T, error)) T {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := op()
		if err == nil {
			return v
		}
		if !errors.Is(err, ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("after restart: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCountersAndRegistrySurviveRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		appendOnly bool
	}{
		{"aof", true},
		{"no persistence", false}, // the clock floor alone keeps the MT counter above every value handed out
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := redistest.StartWith(t, redistest.Options{AppendOnly: tc.appendOnly})
			s, err := New(clientFor(t, srv.Addr), Options{Pepper: randomPepper(), Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			const iccid = "8999401234567890123"
			phone := newPhone()
			if err := s.PutSubscriber(ctx, sampleSubscriber(phone), "246810"); err != nil {
				t.Fatal(err)
			}
			var highest uint64
			for range 30 { // several per millisecond: values run right up to the clock
				v, err := s.NextMTCounter(ctx, iccid)
				if err != nil {
					t.Fatal(err)
				}
				highest = v
			}
			if err := s.AcceptMOCounter(ctx, iccid, 9); err != nil {
				t.Fatal(err)
			}
			srv.Restart(t)
			next := retry(t, func() (uint64, error) { return s.NextMTCounter(ctx, iccid) })
			if next <= highest {
				t.Fatalf("MT counter after restart %d, not above %d handed out before", next, highest)
			}
			_, err = s.Subscriber(ctx, phone)
			moErr := s.AcceptMOCounter(ctx, iccid, 9)
			if tc.appendOnly {
				if err != nil {
					t.Fatalf("subscriber lost across an AOF restart: %v", err)
				}
				if _, err := s.CheckUserID(ctx, phone, "246810"); err != nil {
					t.Fatalf("CheckUserID after AOF restart: %v", err)
				}
				if !errors.Is(moErr, ErrReplay) {
					t.Fatalf("MO counter replay after AOF restart: %v; want ErrReplay", moErr)
				}
			} else if !errors.Is(err, ErrNotFound) {
				t.Fatalf("without persistence the registry is gone (that is why deploy/redis turns AOF on); got %v", err)
			}
		})
	}
}

// A waiter on one instance survives a Redis restart: its subscription is
// re-established and a completion made around the restart still wakes it.
func TestWaitAcrossRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.StartWith(t, redistest.Options{AppendOnly: true})
	pepper := randomPepper()
	waiter, err := New(clientFor(t, srv.Addr), Options{Pepper: pepper, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	completer, err := New(clientFor(t, srv.Addr), Options{Pepper: pepper, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer completer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	sess := sampleSession(newPhone())
	if err := completer.Start(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	type result struct {
		s   Session
		err error
	}
	done := make(chan result, 1)
	go func() {
		for {
			s, err := waiter.Wait(ctx, sess.ID)
			if errors.Is(err, ErrUnavailable) && ctx.Err() == nil {
				continue // read while the server was down: wait again, as a long poll would
			}
			done <- result{s, err}
			return
		}
	}()
	for !waiter.notify.live.Load() || waiter.notify.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	srv.Restart(t)
	retry(t, func() (Session, error) { return completer.Complete(ctx, sess.ID, Result{Code: ResultOK}) })
	r := <-done
	if r.err != nil || r.s.Result != ResultOK {
		t.Fatalf("Wait across a restart = %+v, %v; want OK", r.s, r.err)
	}
	// The listener resubscribes after the restart (the waiter may have read
	// the completion first, if it was slow to reach its first read).
	for waiter.notify.confirmed.Load() < 2 {
		if ctx.Err() != nil {
			t.Fatal("no resubscription after the restart")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
