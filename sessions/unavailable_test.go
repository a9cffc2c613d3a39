package sessions

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// hungServer accepts connections and reads, but never answers: a Redis
// that is stuck (paused, overloaded, half-open network).
func hungServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// deadServer returns the address of a Redis that was killed.
func deadServer(t *testing.T) string {
	srv := redistest.Start(t)
	srv.Stop()
	return srv.Addr
}

// With Redis down or hung, every call returns ErrUnavailable within its
// deadline and never hangs.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	const opTimeout = 300 * time.Millisecond
	const limit = opTimeout + 700*time.Millisecond // scheduling slack on a loaded machine
	servers := []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"killed", deadServer},
		{"hung", hungServer},
	}
	sess := sampleSession("+994501112233")
	id := strings.Repeat("a", idLen)
	calls := []struct {
		name string
		fn   func(ctx context.Context, s *Store) error
	}{
		{"PutSubscriber", func(ctx context.Context, s *Store) error {
			return s.PutSubscriber(ctx, sampleSubscriber("+994501112233"), "123456")
		}},
		{"Subscriber", func(ctx context.Context, s *Store) error { _, err := s.Subscriber(ctx, "+994501112233"); return err }},
		{"DeleteSubscriber", func(ctx context.Context, s *Store) error { return s.DeleteSubscriber(ctx, "+994501112233") }},
		{"CheckUserID", func(ctx context.Context, s *Store) error {
			_, err := s.CheckUserID(ctx, "+994501112233", "123456")
			return err
		}},
		{"Start", func(ctx context.Context, s *Store) error { c := *sess; return s.Start(ctx, &c, time.Minute) }},
		{"MarkSubmitted", func(ctx context.Context, s *Store) error {
			return s.MarkSubmitted(ctx, id, 7, []string{"1"}, time.Now())
		}},
		{"MarkDelivered", func(ctx context.Context, s *Store) error { return s.MarkDelivered(ctx, id, time.Now()) }},
		{"Complete", func(ctx context.Context, s *Store) error {
			_, err := s.Complete(ctx, id, Result{Code: ResultOK})
			return err
		}},
		{"Get", func(ctx context.Context, s *Store) error { _, err := s.Get(ctx, id); return err }},
		{"ByTxn", func(ctx context.Context, s *Store) error { _, err := s.ByTxn(ctx, [8]byte{1}); return err }},
		{"RunningByPhone", func(ctx context.Context, s *Store) error {
			_, err := s.RunningByPhone(ctx, "+994501112233")
			return err
		}},
		{"Wait", func(ctx context.Context, s *Store) error { _, err := s.Wait(ctx, id); return err }},
		{"NextMTCounter", func(ctx context.Context, s *Store) error {
			_, err := s.NextMTCounter(ctx, "8999401234567890123")
			return err
		}},
		{"AcceptMOCounter", func(ctx context.Context, s *Store) error { return s.AcceptMOCounter(ctx, "8999401234567890123", 5) }},
		{"ImportSubscribers", func(ctx context.Context, s *Store) error {
			_, err := s.ImportSubscribers(ctx, strings.NewReader(importLine("+994501112233", "123456")), nil)
			return err
		}},
		{"ExportSubscribers", func(ctx context.Context, s *Store) error {
			_, err := s.ExportSubscribers(ctx, &bytes.Buffer{})
			return err
		}},
		{"Ready", func(ctx context.Context, s *Store) error { return s.Ready(ctx) }},
		{"Ping", func(ctx context.Context, s *Store) error { return s.Ping(ctx) }},
	}
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			s, err := New(clientFor(t, srv.addr(t)), Options{Pepper: randomPepper(), OpTimeout: opTimeout, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range calls {
				t.Run(c.name, func(t *testing.T) {
					start := time.Now()
					err := c.fn(context.Background(), s) // no deadline of the caller's own
					max := limit
					if c.name == "ImportSubscribers" {
						max += (importBatchTimeouts - 1) * opTimeout
					}
					if took := time.Since(start); took > max {
						t.Errorf("took %v; want within %v", took, max)
					}
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("err = %v; want ErrUnavailable", err)
					}
				})
			}
			start := time.Now()
			s.Close()
			if took := time.Since(start); took > limit {
				t.Errorf("Close took %v", took)
			}
		})
	}
}
