package embedded

import (
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// tick is how often the embedded server's TTL clock follows the wall clock.
const tick = time.Second

// Server is a running embedded Redis.
type Server struct {
	mr     *miniredis.Miniredis
	client redis.UniversalClient
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Start runs an embedded Redis on a free loopback port.
func Start() (*Server, error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return nil, err
	}
	s := &Server{
		mr: mr,
		client: redis.NewClient(&redis.Options{
			Addr:                  mr.Addr(),
			ContextTimeoutEnabled: true,
			MaxRetries:            1,
		}),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go s.clock()
	return s, nil
}

// clock moves miniredis's TTL clock with real time, so keys expire.
func (s *Server) clock() {
	defer close(s.done)
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.mr.FastForward(now.Sub(last))
			last = now
		}
	}
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.mr.Addr() }

// Client returns a client connected to the server (owned by the Server).
func (s *Server) Client() redis.UniversalClient { return s.client }

// Miniredis exposes the underlying server, for tests that move its clock.
func (s *Server) Miniredis() *miniredis.Miniredis { return s.mr }

// Close stops the clock, closes the client and the server.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		_ = s.client.Close()
		s.mr.Close()
	})
}
