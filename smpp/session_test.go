package smpp

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// peer is the scripted far end of a pipe.
type peer struct {
	t *testing.T
	c *Conn
}

func (p *peer) read() PDU {
	p.t.Helper()
	q, err := p.c.ReadPDU()
	if err != nil {
		p.t.Errorf("peer read: %v", err)
		return nil
	}
	return q
}

func (p *peer) write(q PDU) {
	p.t.Helper()
	if err := p.c.WritePDU(q); err != nil {
		p.t.Errorf("peer write: %v", err)
	}
	if err := p.c.Flush(); err != nil {
		p.t.Errorf("peer flush: %v", err)
	}
}

func (p *peer) writeHex(s string) {
	p.t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.c.NetConn().Write(b); err != nil {
		p.t.Errorf("peer raw write: %v", err)
	}
}

// acceptBind answers the session's bind with ESME_ROK.
func (p *peer) acceptBind() {
	p.t.Helper()
	b, ok := p.read().(*Bind)
	if !ok {
		p.t.Error("peer: first PDU is not a bind")
		return
	}
	p.write(&BindResp{Header: Header{Seq: b.Seq}, Type: b.Type, SystemID: "smsc"})
}

func pipeSession(t *testing.T, opts SessionOptions) (*Session, *peer) {
	a, b := net.Pipe()
	return NewSession(a, opts), &peer{t: t, c: NewConn(b)}
}

func TestEnquireLinkTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var failures atomic.Int32
		s, p := pipeSession(t, SessionOptions{EnquireLinkInterval: 30 * time.Second,
			EnquireLinkTimeout: 10 * time.Second, MaxEnquireLinkMisses: 2,
			hooks: &sessionHooks{enquireLink: func(_ time.Duration, err error) {
				if err != nil {
					failures.Add(1)
				}
			}}})
		var seen atomic.Int32
		go func() {
			defer p.c.Close()
			p.acceptBind()
			for {
				q, err := p.c.ReadPDU()
				if err != nil {
					return
				}
				if _, ok := q.(*EnquireLink); ok && seen.Add(1) == 1 {
					p.write(ResponseTo(q, StatusOK)) // only the first is answered
				}
			}
		}()
		if _, err := s.Bind(context.Background(), &Bind{SystemID: "esme"}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		<-s.Done()
		elapsed := time.Since(start)
		if s.Reason() != ReasonEnquireLinkTimeout {
			t.Errorf("reason %s, want enquire_link_timeout", s.Reason())
		}
		// First probe at 30–33 s (answered), second at 60–66 s (10 s
		// timeout), third 3–6 s later (10 s timeout): closed at 83–92 s.
		if elapsed < 80*time.Second || elapsed > 95*time.Second {
			t.Errorf("closed after %v", elapsed)
		}
		if seen.Load() != 3 || failures.Load() != 2 {
			t.Errorf("peer saw %d enquire_links, %d failures; want 3 and 2", seen.Load(), failures.Load())
		}
	})
}

func TestNoEnquireLinkWhileTrafficFlows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := pipeSession(t, SessionOptions{EnquireLinkInterval: 30 * time.Second})
		var probes atomic.Int32
		go func() {
			defer p.c.Close()
			p.acceptBind()
			for {
				q, err := p.c.ReadPDU()
				if err != nil {
					return
				}
				if _, ok := q.(*EnquireLink); ok {
					probes.Add(1)
				}
				if r := ResponseTo(q, StatusOK); r != nil {
					p.write(r)
				}
			}
		}()
		if _, err := s.Bind(context.Background(), &Bind{}); err != nil {
			t.Fatal(err)
		}
		for range 10 { // a submit every 20 s for 200 s keeps the link busy
			time.Sleep(20 * time.Second)
			if _, err := s.Submit(context.Background(), &SubmitSM{}); err != nil {
				t.Fatal(err)
			}
		}
		if probes.Load() != 0 {
			t.Errorf("%d enquire_links on a busy link", probes.Load())
		}
		s.Close(context.Background())
	})
}

func TestRequestTimeoutAndLateResponse(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var late atomic.Int32
		s, p := pipeSession(t, SessionOptions{EnquireLinkInterval: -1, RequestTimeout: 30 * time.Second,
			hooks: &sessionHooks{late: func() { late.Add(1) }}})
		held := make(chan PDU, 1)
		go func() {
			defer p.c.Close()
			p.acceptBind()
			q := p.read() // the submit: answer it only after its deadline
			held <- q
			time.Sleep(31 * time.Second)
			p.write(&SubmitSMResp{Header: Header{Seq: q.Hdr().Seq}, MessageID: "late"})
			q2 := p.read()
			p.write(&SubmitSMResp{Header: Header{Seq: q2.Hdr().Seq}, MessageID: "ok"})
			for {
				if _, err := p.c.ReadPDU(); err != nil {
					return
				}
			}
		}()
		if _, err := s.Bind(context.Background(), &Bind{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err := s.Submit(context.Background(), &SubmitSM{})
		if !errors.Is(err, ErrOutcomeUnknown) || time.Since(start) != 30*time.Second {
			t.Fatalf("err %v after %v, want outcome unknown after 30s", err, time.Since(start))
		}
		<-held
		time.Sleep(2 * time.Second)
		resp, err := s.Submit(context.Background(), &SubmitSM{})
		if err != nil || resp.MessageID != "ok" {
			t.Errorf("second submit: %+v %v (late response matched?)", resp, err)
		}
		if late.Load() != 1 {
			t.Errorf("late responses %d, want 1", late.Load())
		}
		s.Abort()
	})
}

func TestPeerRequestsAndUnbind(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := pipeSession(t, SessionOptions{EnquireLinkInterval: -1})
		errc := make(chan error, 1)
		ready := make(chan struct{})
		go func() {
			defer p.c.Close()
			p.acceptBind()
			// enquire_link from the SMSC at any time, and an unknown command.
			p.writeHex("00000010000000150000000000000077")
			if r, ok := p.read().(*EnquireLinkResp); !ok || r.Seq != 0x77 {
				t.Errorf("want enquire_link_resp seq 0x77, got %#v", r)
			}
			p.writeHex("0000001400000022000000000000007800112233")
			if r, ok := p.read().(*GenericNack); !ok || r.Seq != 0x78 || r.Status != StatusInvCmdID {
				t.Errorf("want generic_nack(RINVCMDID) seq 0x78, got %#v", r)
			}
			close(ready)
			// A submit answered OK with no body at all: an empty message id.
			q := p.read()
			p.writeHex("00000010800000040000000000000000"[:24] + hex.EncodeToString([]byte{byte(q.Hdr().Seq >> 24), byte(q.Hdr().Seq >> 16), byte(q.Hdr().Seq >> 8), byte(q.Hdr().Seq)}))
			// A submit answered by an error response with no body.
			q = p.read()
			p.writeHex("0000001080000004000000" + "0b" + hex.EncodeToString([]byte{byte(q.Hdr().Seq >> 24), byte(q.Hdr().Seq >> 16), byte(q.Hdr().Seq >> 8), byte(q.Hdr().Seq)}))
			// Another submit left in flight, then the SMSC unbinds.
			p.read()
			p.writeHex("00000010000000060000000000000079")
			if r, ok := p.read().(*UnbindResp); !ok || r.Seq != 0x79 {
				t.Errorf("want unbind_resp seq 0x79, got %#v", r)
			}
		}()
		if _, err := s.Bind(context.Background(), &Bind{}); err != nil {
			t.Fatal(err)
		}
		<-ready
		if resp, err := s.Submit(context.Background(), &SubmitSM{}); err != nil || resp.MessageID != "" {
			t.Errorf("bodiless OK response: %+v, %v", resp, err)
		}
		_, err := s.Submit(context.Background(), &SubmitSM{})
		var se *StatusError
		if !errors.As(err, &se) || se.Status != StatusInvDstAdr || se.Class() != ClassPermanent {
			t.Errorf("bodiless error response: %v", err)
		}
		go func() {
			_, err := s.Submit(context.Background(), &SubmitSM{})
			errc <- err
		}()
		if err := <-errc; !errors.Is(err, ErrOutcomeUnknown) {
			t.Errorf("in flight at peer unbind: %v", err)
		}
		<-s.Done()
		if s.Reason() != ReasonPeerUnbind {
			t.Errorf("reason %s", s.Reason())
		}
		if _, err := s.Submit(context.Background(), &SubmitSM{}); !errors.Is(err, ErrClosed) {
			t.Errorf("submit after close: %v", err)
		}
	})
}

func TestFramingErrorNacksAndCloses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := pipeSession(t, SessionOptions{EnquireLinkInterval: -1})
		go func() {
			defer p.c.Close()
			p.writeHex("00000008000000150000000000000001")
			if r, ok := p.read().(*GenericNack); !ok || r.Status != StatusInvCmdLen {
				t.Errorf("want generic_nack(RINVCMDLEN), got %#v", r)
			}
			p.c.ReadPDU() // EOF once the session closed
		}()
		<-s.Done()
		if s.Reason() != ReasonFraming {
			t.Errorf("reason %s", s.Reason())
		}
	})
}

func TestSubmitRequiresBoundState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := pipeSession(t, SessionOptions{EnquireLinkInterval: -1})
		go func() {
			defer p.c.Close()
			b := p.read().(*Bind)
			p.write(&BindResp{Header: Header{Seq: b.Seq}, Type: BindReceiver})
			p.c.ReadPDU()
		}()
		if _, err := s.Submit(context.Background(), &SubmitSM{}); !errors.Is(err, ErrNotBound) {
			t.Errorf("open: %v", err)
		}
		if _, err := s.Bind(context.Background(), &Bind{Type: BindReceiver}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Submit(context.Background(), &SubmitSM{}); !errors.Is(err, ErrNotBound) {
			t.Errorf("receiver: %v", err)
		}
		s.Abort()
	})
}

func TestGracefulCloseDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p := pipeSession(t, SessionOptions{EnquireLinkInterval: -1})
		var order []CommandID
		go func() {
			defer p.c.Close()
			p.acceptBind()
			q := p.read()
			order = append(order, q.CommandID())
			time.Sleep(2 * time.Second) // the unbind must wait for this response
			p.write(&SubmitSMResp{Header: Header{Seq: q.Hdr().Seq}, MessageID: "1"})
			u := p.read()
			order = append(order, u.CommandID())
			p.write(ResponseTo(u, StatusOK))
			p.c.ReadPDU()
		}()
		if _, err := s.Bind(context.Background(), &Bind{}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			_, err := s.Submit(context.Background(), &SubmitSM{})
			done <- err
		}()
		synctest.Wait()
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Errorf("in-flight submit during graceful close: %v", err)
		}
		if len(order) != 2 || order[0] != SubmitSMID || order[1] != UnbindID {
			t.Errorf("peer saw %v", order)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

func TestAllocSeqWrapsAndSkipsInFlight(t *testing.T) {
	tests := []struct {
		name string
		next uint32
		busy []uint32
		want uint32
	}{
		{"first", 0, nil, 1},
		{"counts up", 41, nil, 42},
		{"last value", MaxSeq - 1, nil, MaxSeq},
		{"wraps to 1", MaxSeq, nil, 1},
		{"skips in flight across the wrap", MaxSeq - 1, []uint32{MaxSeq, 1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Session{pending: map[uint32]*call{}, nextSeq: tt.next}
			for _, b := range tt.busy {
				s.pending[b] = &call{}
			}
			if got := s.allocSeq(); got != tt.want {
				t.Errorf("allocSeq = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLimiterAIMDAndPriority(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(100, time.Second, 8*time.Second)
		ctx := context.Background()
		l.throttled()
		if r := l.currentRate(); r != 50 {
			t.Errorf("rate after throttle %v, want 50", r)
		}
		start := time.Now()
		if err := l.wait(ctx, false); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("wait during pause returned after %v", d)
		}
		for range 20 {
			l.success()
		}
		if r := l.currentRate(); r != 100 {
			t.Errorf("rate after recovery %v, want 100", r)
		}
		// Repeated throttling doubles the pause, capped.
		l.throttled()
		l.throttled()
		l.mu.Lock()
		pause := l.pause
		l.mu.Unlock()
		if pause != 4*time.Second {
			t.Errorf("pause %v, want 4s", pause)
		}
		// While paused, a priority waiter goes before an earlier ordinary one.
		order := make(chan string, 2)
		go func() { l.wait(ctx, false); order <- "normal" }()
		synctest.Wait()
		go func() { l.wait(ctx, true); order <- "retry" }()
		if first, second := <-order, <-order; first != "retry" {
			t.Errorf("order %s, %s; want retry first", first, second)
		}
	})
}

// TestBindTranscript compares the bytes a session writes for a bind with a
// hand-built transcript (SMPP 3.4 §4.1.5).
func TestBindTranscript(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := net.Pipe()
		s := NewSession(a, SessionOptions{EnquireLinkInterval: -1})
		want, _ := hex.DecodeString("00000022" + "00000009" + "00000000" + "00000001" +
			"65736d653100" + "73656372657400" + "00" + "34" + "01" + "01" + "00")
		go func() {
			defer b.Close()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(b, got); err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(got, want) {
				t.Errorf("bind bytes\n%x\nwant\n%x", got, want)
			}
			resp, _ := hex.DecodeString("00000015800000090000000000000001" + "534d534300")
			b.Write(resp)
			io.Copy(io.Discard, b)
		}()
		r, err := s.Bind(context.Background(), &Bind{SystemID: "esme1", Password: "secret", AddrTON: 1, AddrNPI: 1})
		if err != nil || r.SystemID != "SMSC" || s.State() != SessionBoundTRX {
			t.Errorf("Bind = %+v, %v, state %s", r, err, s.State())
		}
		s.Abort()
	})
}
