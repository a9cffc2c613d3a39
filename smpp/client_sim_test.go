package smpp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// pipeSMSC is a scripted SMSC reached through ClientOptions.Dial: each dial
// gets one end of a net.Pipe, and serve plays the SMSC on the other end.
// Inside a synctest bubble the client's timers (back-off, enquire_link,
// unbind) then run on the bubble's fake clock.
type pipeSMSC struct {
	t      *testing.T
	refuse func(n int) bool     // the nth dial (from 1) fails when it returns true
	serve  func(n int, p *peer) // the script for the nth connection

	mu    sync.Mutex
	dials []time.Time
}

var errRefused = errors.New("connection refused")

func (s *pipeSMSC) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" || addr != simAddr {
		s.t.Errorf("dial %s %s, want tcp %s", network, addr, simAddr)
	}
	if _, ok := ctx.Deadline(); !ok {
		s.t.Error("dial without a deadline")
	}
	s.mu.Lock()
	s.dials = append(s.dials, time.Now())
	n := len(s.dials)
	s.mu.Unlock()
	if s.refuse != nil && s.refuse(n) {
		return nil, errRefused
	}
	a, b := net.Pipe()
	go func() {
		defer b.Close()
		s.serve(n, &peer{t: s.t, c: NewConn(b)})
	}()
	return a, nil
}

// gaps returns the time between consecutive dials.
func (s *pipeSMSC) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(s.dials); i++ {
		out = append(out, s.dials[i].Sub(s.dials[i-1]))
	}
	return out
}

// smscLoop reads PDUs until the client closes the pipe and writes what
// answer returns for each (nil: nothing). An answered unbind ends the loop,
// as the SMSC closes after unbind_resp (SMPP 3.4 §4.2).
func smscLoop(p *peer, answer func(q PDU) PDU) {
	for {
		q, err := p.c.ReadPDU()
		if err != nil {
			return
		}
		r := answer(q)
		if r == nil {
			continue
		}
		if p.c.WritePDU(r) != nil || p.c.Flush() != nil {
			return
		}
		if _, ok := q.(*Unbind); ok {
			return
		}
	}
}

// answerAll is an SMSC that accepts the bind and answers every request
// ESME_ROK.
func answerAll(q PDU) PDU { return ResponseTo(q, StatusOK) }

const simAddr = "smsc.test:2775"

// simClient is a client whose dials go to s.
func simClient(t *testing.T, s *pipeSMSC, cfg BindConfig) *Client {
	t.Helper()
	cfg.Addr, cfg.SystemID, cfg.Password = simAddr, "esme", "secret"
	c, err := NewClient(cfg, ClientOptions{Dial: s.dial})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runInBubble starts c.Run; stop cancels it and returns Run's error and how
// long it took to return after the cancel (fake time).
func runInBubble(c *Client) (stop func() (time.Duration, error)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() (time.Duration, error) {
		start := time.Now()
		cancel()
		err := <-done
		return time.Since(start), err
	}
}

// metricNow reads a counter or gauge.
func metricNow(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// inRange reports whether every d is within [lo, hi].
func inRange(ds []time.Duration, lo, hi []time.Duration) bool {
	for i, d := range ds {
		if d < lo[i] || d > hi[i] {
			return false
		}
	}
	return true
}

// TestClientReconnectBackoff: failed dials are retried after a capped
// exponential back-off with jitter; a bound session that drops is redialled
// after the minimum back-off, which a successful bind resets.
func TestClientReconnectBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &pipeSMSC{t: t,
			refuse: func(n int) bool { return n <= 6 },
			serve: func(n int, p *peer) {
				if n == 7 { // bound, then the SMSC crashes 10 s later
					p.acceptBind()
					time.Sleep(10 * time.Second)
					return
				}
				smscLoop(p, answerAll)
			},
		}
		c := simClient(t, s, BindConfig{ReconnectMin: time.Second, ReconnectMax: 8 * time.Second, EnquireLinkInterval: -1})
		stop := runInBubble(c)
		time.Sleep(time.Minute)
		// Back-off 1, 2, 4, 8, 8, 8 s, each jittered into [d/2, d]; after
		// the crash, the minimum again.
		s2 := time.Second
		lo := []time.Duration{s2 / 2, s2, 2 * s2, 4 * s2, 4 * s2, 4 * s2, 10*s2 + s2/2}
		hi := []time.Duration{s2, 2 * s2, 4 * s2, 8 * s2, 8 * s2, 8 * s2, 11 * s2}
		if g := s.gaps(); len(g) != 7 || !inRange(g, lo, hi) {
			t.Errorf("gaps between dials %v, want 7 within %v..%v", g, lo, hi)
		}
		if !c.Bound() {
			t.Errorf("not bound after the reconnect: %+v", c.Status())
		}
		if n := metricNow(c.m.bindErrors.WithLabelValues("default", c.Name(), "connect")); n != 6 {
			t.Errorf("bind errors (connect) %v, want 6", n)
		}
		if n := metricNow(c.m.reconnects.WithLabelValues("default", c.Name(), ReasonPeerClosed.String())); n != 1 {
			t.Errorf("reconnects (peer_closed) %v, want 1", n)
		}
		if _, err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// TestClientAlreadyBoundWaitsLonger: after ESME_RALYBND the client waits
// AlreadyBoundDelay (jittered), not the short back-off, and keeps trying.
func TestClientAlreadyBoundWaitsLonger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &pipeSMSC{t: t, serve: func(n int, p *peer) {
			smscLoop(p, func(q PDU) PDU {
				if _, ok := q.(*Bind); ok && n <= 3 {
					return ResponseTo(q, StatusAlyBnd)
				}
				return answerAll(q)
			})
		}}
		c := simClient(t, s, BindConfig{ReconnectMin: time.Second, ReconnectMax: 2 * time.Second,
			AlreadyBoundDelay: 30 * time.Second, EnquireLinkInterval: -1})
		stop := runInBubble(c)
		time.Sleep(2 * time.Minute)
		lo := []time.Duration{15 * time.Second, 15 * time.Second, 15 * time.Second}
		hi := []time.Duration{30 * time.Second, 30 * time.Second, 30 * time.Second}
		if g := s.gaps(); len(g) != 3 || !inRange(g, lo, hi) {
			t.Errorf("gaps between binds %v, want 3 within [15s, 30s]", g)
		}
		if st := c.Status(); !st.Bound || st.Stopped {
			t.Errorf("status %+v, want bound", st)
		}
		if n := metricNow(c.m.bindErrors.WithLabelValues("default", c.Name(), StatusAlyBnd.String())); n != 3 {
			t.Errorf("bind errors (ESME_RALYBND) %v, want 3", n)
		}
		if _, err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// TestClientEnquireLinkTimeoutReconnects: an SMSC that stops answering
// enquire_link is dropped after three misses and the client binds again; on
// a healthy idle link it probes once per interval and stays bound.
func TestClientEnquireLinkTimeoutReconnects(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var probes [16]atomic.Int32
		s := &pipeSMSC{t: t, serve: func(n int, p *peer) {
			smscLoop(p, func(q PDU) PDU {
				if _, ok := q.(*EnquireLink); ok {
					probes[n].Add(1)
					if n == 1 {
						return nil // a dead SMSC that keeps the socket open
					}
				}
				return answerAll(q)
			})
		}}
		c := simClient(t, s, BindConfig{ReconnectMin: time.Second, EnquireLinkInterval: 30 * time.Second,
			EnquireLinkTimeout: 10 * time.Second})
		stop := runInBubble(c)
		time.Sleep(80 * time.Second)
		// Probes at 30–33 s, then 3–6 s after each 10 s timeout: the third
		// miss closes the link 66–75 s after the bind; redial 0.5–1 s later.
		g := s.gaps()
		if len(g) != 1 || g[0] < 66500*time.Millisecond || g[0] > 76*time.Second {
			t.Fatalf("gaps between dials %v, want one within [66.5s, 76s]", g)
		}
		if probes[1].Load() != 3 {
			t.Errorf("dead link got %d enquire_links, want 3", probes[1].Load())
		}
		if n := metricNow(c.m.reconnects.WithLabelValues("default", c.Name(), ReasonEnquireLinkTimeout.String())); n != 1 {
			t.Errorf("reconnects (enquire_link_timeout) %v, want 1", n)
		}
		if n := metricNow(c.m.enquireFailures.WithLabelValues("default", c.Name())); n != 3 {
			t.Errorf("enquire_link failures %v, want 3", n)
		}
		before := probes[2].Load()
		time.Sleep(300 * time.Second)
		if n := probes[2].Load() - before; n < 9 || n > 10 {
			t.Errorf("healthy idle link got %d enquire_links in 300 s, want 9–10 (one per 30–33 s)", n)
		}
		if g := s.gaps(); len(g) != 1 || !c.Bound() {
			t.Errorf("healthy link dropped: gaps %v, status %+v", g, c.Status())
		}
		if _, err := stop(); err != nil {
			t.Errorf("Run = %v", err)
		}
	})
}

// TestClientRunUnbindBounded: when Run's context ends, the client drains the
// submits in flight, unbinds and closes, and Run returns within
// unbindTimeout when unbind_resp never comes and within maxShutdown when
// nothing is answered at all.
func TestClientRunUnbindBounded(t *testing.T) {
	tests := []struct {
		name        string
		submitDelay time.Duration // -1: never answered
		answerUnbnd bool
		inFlight    bool
		want        time.Duration
		wantSubmit  error
		// wantSeen is what the SMSC reads; nil when the unbind may or may
		// not be written before the cap closes the socket.
		wantSeen []CommandID
	}{
		{"unbind answered", 0, true, false, 0, nil, []CommandID{BindTransceiverID, UnbindID}},
		{"unbind_resp never comes", 0, false, false, 5 * time.Second, nil, []CommandID{BindTransceiverID, UnbindID}},
		{"submit answered while draining", 2 * time.Second, true, true, 2 * time.Second, nil,
			[]CommandID{BindTransceiverID, SubmitSMID, UnbindID}},
		{"nothing answered", -1, false, true, 10 * time.Second, ErrOutcomeUnknown, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var seen []CommandID
				s := &pipeSMSC{t: t, serve: func(n int, p *peer) {
					smscLoop(p, func(q PDU) PDU {
						mu.Lock()
						seen = append(seen, q.CommandID())
						mu.Unlock()
						switch q.(type) {
						case *SubmitSM:
							if tt.submitDelay < 0 {
								return nil
							}
							time.Sleep(tt.submitDelay)
						case *Unbind:
							if !tt.answerUnbnd {
								return nil
							}
						}
						return answerAll(q)
					})
				}}
				c := simClient(t, s, BindConfig{EnquireLinkInterval: -1, RequestTimeout: time.Minute})
				stop := runInBubble(c)
				synctest.Wait()
				if !c.Bound() {
					t.Fatalf("not bound: %+v", c.Status())
				}
				submitted := make(chan error, 1)
				if tt.inFlight {
					go func() {
						_, err := c.Submit(context.Background(), &SubmitSM{})
						submitted <- err
					}()
					synctest.Wait()
				}
				took, err := stop()
				if err != nil || took != tt.want {
					t.Errorf("Run = %v after %v, want nil after %v", err, took, tt.want)
				}
				if tt.inFlight {
					if err := <-submitted; !errors.Is(err, tt.wantSubmit) {
						t.Errorf("submit in flight: %v, want %v", err, tt.wantSubmit)
					}
				}
				if _, err := c.Submit(context.Background(), &SubmitSM{}); !errors.Is(err, ErrClosed) {
					t.Errorf("submit after Run: %v, want ErrClosed", err)
				}
				mu.Lock()
				defer mu.Unlock()
				if tt.wantSeen != nil && !slices.Equal(seen, tt.wantSeen) {
					t.Errorf("SMSC saw %v, want %v", seen, tt.wantSeen)
				}
				if c.Bound() || metricNow(c.m.bindUp.WithLabelValues("default", c.Name())) != 0 {
					t.Errorf("still bound after Run: %+v", c.Status())
				}
			})
		})
	}
}

// TestPoolRunLifecycle: Submit fails fast before and after Run; while Run
// runs, submits go out and inbound MOs reach the Handler given to Run; when
// its context ends every bind unbinds in parallel, so Run returns within one
// unbindTimeout although neither SMSC answers unbind.
func TestPoolRunLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var unbinds atomic.Int32
		moAcks := make(chan CommandStatus, 4)
		s := &pipeSMSC{t: t, serve: func(n int, p *peer) {
			p.acceptBind()
			ud := []byte{0x02, 0x71, 0x00, byte(n)}
			p.write(&DeliverSM{Header: Header{Seq: 7}, Message: Message{SourceAddr: "99450000000" + string(rune('0'+n)),
				ESMClass: ESMClassUDHI, ProtocolID: 0x7F, DataCoding: 0xF6, ShortMessage: ud}})
			smscLoop(p, func(q PDU) PDU {
				switch r := q.(type) {
				case *DeliverSMResp:
					moAcks <- r.Status
				case *Unbind:
					unbinds.Add(1)
					return nil
				}
				return answerAll(q)
			})
		}}
		bind := BindConfig{Addr: simAddr, SystemID: "esme", Password: "secret", EnquireLinkInterval: -1}
		b2 := bind
		b2.Name = "second"
		p, err := NewPool(PoolOptions{Dial: s.dial, Operators: []Operator{{Name: "azercell", Prefixes: []string{"99450"},
			Binds: []BindConfig{bind, b2}}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Submit(context.Background(), "994501234567", [][]byte{{0x02, 0x70, 0x00}}); !errors.Is(err, ErrClosed) {
			t.Errorf("submit before Run: %v, want ErrClosed", err)
		}
		if err := p.Run(context.Background(), nil); err == nil {
			t.Error("Run without a Handler accepted")
		}
		var mu sync.Mutex
		var mos [][]byte
		h := fnHandler{mo: func(mo MO) error {
			mu.Lock()
			mos = append(mos, mo.UserData)
			mu.Unlock()
			return nil
		}}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, h) }()
		synctest.Wait()
		for _, st := range p.Status() {
			if !st.Bound {
				t.Fatalf("bind %s not bound: %+v", st.Bind, st)
			}
		}
		if ids, err := p.Submit(context.Background(), "994501234567", [][]byte{{0x02, 0x70, 0x00}}); err != nil || len(ids) != 1 {
			t.Errorf("submit while running: %v, %v", ids, err)
		}
		if a, b := <-moAcks, <-moAcks; a != StatusOK || b != StatusOK {
			t.Errorf("deliver_sm answered %s, %s; want ESME_ROK", a, b)
		}
		mu.Lock()
		slices.SortFunc(mos, bytes.Compare)
		if len(mos) != 2 || !bytes.Equal(mos[0], []byte{0x02, 0x71, 0x00, 1}) || !bytes.Equal(mos[1], []byte{0x02, 0x71, 0x00, 2}) {
			t.Errorf("handler got %x, want one MO per bind", mos)
		}
		mu.Unlock()
		start := time.Now()
		cancel()
		if err := <-done; err != nil || time.Since(start) != 5*time.Second {
			t.Errorf("Run = %v after %v, want nil after 5s (one unbind timeout for both binds)", err, time.Since(start))
		}
		if unbinds.Load() != 2 {
			t.Errorf("SMSC saw %d unbinds, want 2", unbinds.Load())
		}
		if _, err := p.Submit(context.Background(), "994501234567", [][]byte{{0x02, 0x70, 0x00}}); !errors.Is(err, ErrClosed) {
			t.Errorf("submit after Run: %v, want ErrClosed", err)
		}
		if err := p.Run(context.Background(), h); err == nil {
			t.Error("second Run accepted")
		}
	})
}
