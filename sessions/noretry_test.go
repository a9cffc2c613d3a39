package sessions

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/embedded"
	"github.com/redis/go-redis/v9"
)

// dropProxy forwards TCP between a client and addr; when dropNext is set
// it closes the connection instead of forwarding the next reply (the
// server has run the commands; the client sees EOF), and it counts the
// EVALSHA commands sent.
type dropProxy struct {
	ln       net.Listener
	addr     string
	dropNext atomic.Bool
	evalsha  atomic.Int64
	wg       sync.WaitGroup
}

func startDropProxy(t *testing.T, addr string) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{ln: ln, addr: addr}
	t.Cleanup(func() { _ = ln.Close(); p.wg.Wait() })
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", addr)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.wg.Add(2)
			go func() { // client -> server, counting
				defer p.wg.Done()
				defer s.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						p.evalsha.Add(int64(bytes.Count(bytes.ToLower(buf[:n]), []byte("evalsha"))))
						if _, werr := s.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() { // server -> client, dropping one reply on request
				defer p.wg.Done()
				defer c.Close()
				buf := make([]byte, 64<<10)
				for {
					n, err := s.Read(buf)
					if n > 0 {
						if p.dropNext.CompareAndSwap(true, false) {
							// The first reply is here; let the server read
							// and run the rest of the pipeline (already in
							// its socket buffer) before the line breaks.
							time.Sleep(200 * time.Millisecond)
							_ = s.Close()
							return
						}
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return p
}

// A pipelined state change is sent once even when its reply is lost: a
// go-redis pipeline is otherwise retried after a broken connection (EOF)
// and would run the completion (or the start) a second time.
func TestPipelinedStateChangesAreNotRetried(t *testing.T) {
	t.Parallel()
	srv, err := embedded.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	proxy := startDropProxy(t, srv.Addr())
	opts := ClientOptions([]string{proxy.ln.Addr().String()}, "")
	opts.MaxRetries = 3
	slowClient := redis.NewUniversalClient(opts)
	t.Cleanup(func() { _ = slowClient.Close() })
	pepper := randomPepper()
	ctx := context.Background()
	direct, err := New(clientFor(t, srv.Addr()), Options{Pepper: pepper, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = direct.Close() })
	viaProxy, err := New(slowClient, Options{Pepper: pepper, Logger: testLogger(t), OpTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = viaProxy.Close() })
	if err := viaProxy.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	sess := sampleSession(newPhone())
	if err := direct.Start(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}

	proxy.evalsha.Store(0)
	proxy.dropNext.Store(true)
	_, _, err = viaProxy.AcceptMOAndComplete(ctx, sess.ICCID, 42, sess.ID, Result{Code: ResultUserCancelled})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("lost reply: %v; want ErrUnavailable", err)
	}
	if n := proxy.evalsha.Load(); n != 2 {
		t.Fatalf("%d EVALSHA sent for one counter + completion; want 2 (no retry)", n)
	}
	// It did run once: the session is complete and the counter taken.
	got, err := direct.Get(ctx, sess.ID)
	if err != nil || got.State != StateComplete || got.Result != ResultUserCancelled {
		t.Fatalf("after the lost reply: %+v, %v", got, err)
	}
	if err := direct.AcceptMOCounter(ctx, sess.ICCID, 42); !errors.Is(err, ErrReplay) {
		t.Fatalf("counter after the lost reply: %v; want ErrReplay", err)
	}
}
