package smpp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// SessionState is the SMPP session state (SMPP 3.4 §2.2).
type SessionState int32

// Session states: OPEN → BOUND_TX/RX/TRX → UNBINDING → CLOSED.
const (
	SessionOpen SessionState = iota
	SessionBoundTX
	SessionBoundRX
	SessionBoundTRX
	SessionUnbinding
	SessionClosed
)

// String names the state.
func (s SessionState) String() string {
	switch s {
	case SessionOpen:
		return "open"
	case SessionBoundTX:
		return "bound_tx"
	case SessionBoundRX:
		return "bound_rx"
	case SessionBoundTRX:
		return "bound_trx"
	case SessionUnbinding:
		return "unbinding"
	case SessionClosed:
		return "closed"
	}
	return "invalid"
}

func boundState(t BindType) SessionState {
	switch t {
	case BindTransmitter:
		return SessionBoundTX
	case BindReceiver:
		return SessionBoundRX
	}
	return SessionBoundTRX
}

// CanSubmit reports whether the state allows sending submit_sm.
func (s SessionState) CanSubmit() bool { return s == SessionBoundTX || s == SessionBoundTRX }

// CanReceive reports whether the state allows receiving deliver_sm.
func (s SessionState) CanReceive() bool { return s == SessionBoundRX || s == SessionBoundTRX }

// CloseReason says why a session ended; it is a log attribute and a metric
// label (nats ClosedState).
type CloseReason int32

// Close reasons.
const (
	ReasonNone CloseReason = iota
	ReasonLocalClose
	ReasonPeerUnbind
	ReasonPeerClosed
	ReasonReadError
	ReasonWriteError
	ReasonFraming
	ReasonEnquireLinkTimeout
)

// String returns the metric label for the reason.
func (r CloseReason) String() string {
	switch r {
	case ReasonNone:
		return "none"
	case ReasonLocalClose:
		return "local_close"
	case ReasonPeerUnbind:
		return "peer_unbind"
	case ReasonPeerClosed:
		return "peer_closed"
	case ReasonReadError:
		return "read_error"
	case ReasonWriteError:
		return "write_error"
	case ReasonFraming:
		return "framing_error"
	case ReasonEnquireLinkTimeout:
		return "enquire_link_timeout"
	}
	return "invalid"
}

// RequestHandler receives every request the peer sends except enquire_link
// and unbind, which the session answers itself. It runs on the reader
// goroutine and must not block: queue the work, and answer later with
// Session.Respond (ResponseTo builds the response).
type RequestHandler func(s *Session, req PDU)

// SessionOptions configures a Session. The zero value is usable.
type SessionOptions struct {
	// Window is the number of windowed requests (submit_sm, deliver_sm,
	// data_sm, query_sm) in flight; default 10 (Kannel's default).
	Window int
	// RequestTimeout bounds the wait for each response; default 30 s.
	RequestTimeout time.Duration
	// EnquireLinkInterval: send enquire_link after this long without reading
	// anything; default 30 s, negative disables.
	EnquireLinkInterval time.Duration
	// EnquireLinkTimeout bounds the wait for enquire_link_resp; default 10 s.
	EnquireLinkTimeout time.Duration
	// MaxEnquireLinkMisses: close after this many failed enquire_links in a
	// row; default 3.
	MaxEnquireLinkMisses int
	// WriteTimeout bounds each flush to the network; default 10 s.
	WriteTimeout time.Duration
	// Handler gets the peer's requests; nil answers them ESME_RSYSERR.
	Handler RequestHandler
	// Logger; nil discards.
	Logger *slog.Logger

	hooks *sessionHooks
}

// sessionHooks let the client feed its metrics without the session knowing
// about Prometheus.
type sessionHooks struct {
	response    func(cmd CommandID, status CommandStatus, rtt time.Duration)
	late        func()
	window      func(inUse int)
	enquireLink func(rtt time.Duration, err error)
}

func (o *SessionOptions) setDefaults() {
	if o.Window <= 0 {
		o.Window = 10
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.EnquireLinkInterval == 0 {
		o.EnquireLinkInterval = 30 * time.Second
	}
	if o.EnquireLinkTimeout <= 0 {
		o.EnquireLinkTimeout = 10 * time.Second
	}
	if o.MaxEnquireLinkMisses <= 0 {
		o.MaxEnquireLinkMisses = 3
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.hooks == nil {
		o.hooks = &sessionHooks{}
	}
}

// maxShutdown caps a graceful Close, draining included, even if its context
// never ends and the peer never answers.
const maxShutdown = 10 * time.Second

// unbindTimeout bounds the wait for unbind_resp within a graceful Close; the
// socket is closed when it passes.
const unbindTimeout = 5 * time.Second

type result struct {
	p   PDU
	err error
}

type call struct {
	ch   chan result // capacity 1: the reader never blocks on it
	cmd  CommandID
	sent time.Time
}

type outItem struct {
	p          PDU
	closeAfter CloseReason // close the session once this PDU is flushed
}

// Session is one SMPP session over one connection, usable from either side
// (ESME or SMSC). It owns a reader goroutine, a writer goroutine and a
// keepalive goroutine, all ended by Close or by a link failure.
type Session struct {
	conn *Conn
	opts SessionOptions
	log  *slog.Logger

	state    atomic.Int32
	lastRead atomic.Int64 // unix nanoseconds

	mu      sync.Mutex
	pending map[uint32]*call
	nextSeq uint32
	drained chan struct{} // closed when pending empties during unbinding

	window  chan struct{}
	outReq  chan outItem
	outResp chan outItem

	closeOnce sync.Once
	closing   chan struct{} // closed when the session starts to end
	done      chan struct{} // closed when all goroutines have returned
	reason    atomic.Int32
	closeErr  error
	wg        sync.WaitGroup
}

// NewSession starts a session on nc in the OPEN state. The ESME then calls
// Bind; a server calls MarkBound after answering the peer's bind.
func NewSession(nc net.Conn, opts SessionOptions) *Session {
	opts.setDefaults()
	s := &Session{
		conn:    NewConn(nc),
		opts:    opts,
		log:     opts.Logger,
		pending: make(map[uint32]*call, opts.Window+4),
		window:  make(chan struct{}, opts.Window),
		outReq:  make(chan outItem, opts.Window+8),
		outResp: make(chan outItem, 1024),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	s.lastRead.Store(time.Now().UnixNano())
	s.wg.Add(2)
	go s.readLoop()
	go s.writeLoop()
	if opts.EnquireLinkInterval > 0 {
		s.wg.Add(1)
		go s.keepalive()
	}
	go func() {
		s.wg.Wait()
		close(s.done)
	}()
	return s
}

// State returns the current state.
func (s *Session) State() SessionState { return SessionState(s.state.Load()) }

// MarkBound sets the bound state for bind type t (used by a server once it
// has accepted the peer's bind).
func (s *Session) MarkBound(t BindType) {
	s.state.CompareAndSwap(int32(SessionOpen), int32(boundState(t)))
}

// Done is closed once the session has fully ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Closing is closed as soon as the session starts to end.
func (s *Session) Closing() <-chan struct{} { return s.closing }

// Reason returns why the session ended (ReasonNone while it is up).
func (s *Session) Reason() CloseReason { return CloseReason(s.reason.Load()) }

// Err returns the error that ended the session, or nil while it is up.
func (s *Session) Err() error {
	select {
	case <-s.closing:
		return s.closeErr
	default:
		return nil
	}
}

// InFlight returns the number of requests awaiting a response.
func (s *Session) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// RemoteAddr returns the peer's address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.NetConn().RemoteAddr() }

// shutdown ends the session once: the first reason wins.
func (s *Session) shutdown(reason CloseReason, err error) {
	s.closeOnce.Do(func() {
		if err == nil {
			err = fmt.Errorf("smpp: session closed: %s", reason)
		}
		s.closeErr = err
		s.reason.Store(int32(reason))
		s.state.Store(int32(SessionClosed))
		close(s.closing)
		s.conn.Close() // unblocks the reader and any write in progress
		s.log.Debug("smpp session closed", "reason", reason.String(), "err", err)
	})
}

// allocSeq returns the next sequence number in 1..MaxSeq that is not in
// flight. Called with s.mu held; pending is bounded by the window plus a few
// control requests, so the loop ends quickly.
func (s *Session) allocSeq() uint32 {
	for {
		s.nextSeq++
		if s.nextSeq > MaxSeq || s.nextSeq == 0 {
			s.nextSeq = 1
		}
		if _, busy := s.pending[s.nextSeq]; !busy {
			return s.nextSeq
		}
	}
}

func windowed(id CommandID) bool {
	switch id {
	case SubmitSMID, DeliverSMID, DataSMID, QuerySMID:
		return true
	}
	return false
}

func (s *Session) checkState(id CommandID) error {
	st := s.State()
	switch {
	case st == SessionClosed:
		return ErrClosed
	case id == UnbindID || id == EnquireLinkID:
		if st == SessionOpen && id == UnbindID {
			return ErrNotBound
		}
		return nil
	case st == SessionUnbinding:
		return ErrClosed
	case id == BindReceiverID || id == BindTransmitterID || id == BindTransceiverID:
		if st != SessionOpen {
			return fmt.Errorf("smpp: bind in state %s: %w", st, ErrBadValue)
		}
		return nil
	case id == SubmitSMID || id == QuerySMID:
		if !st.CanSubmit() {
			return ErrNotBound
		}
	case id == DeliverSMID:
		if !st.CanReceive() {
			return ErrNotBound
		}
	case id == DataSMID:
		if st == SessionOpen {
			return ErrNotBound
		}
	}
	return nil
}

// Request sends req and waits for its response. It takes a sequence number
// (req's Seq is overwritten) and, for submit_sm/deliver_sm/data_sm/query_sm,
// a window slot, waiting for one while the window is full.
//
// Errors: ErrClosed or ErrNotBound when nothing was sent; ErrOutcomeUnknown
// (also wrapping ctx.Err() when the context ended) when the request was
// queued or written but no response came; *StatusError (with the response)
// for a non-zero command_status or a generic_nack.
func (s *Session) Request(ctx context.Context, req PDU) (PDU, error) {
	id := req.CommandID()
	if err := s.checkState(id); err != nil {
		return nil, err
	}
	if windowed(id) {
		select {
		case s.window <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closing:
			return nil, ErrClosed
		}
		s.opts.hooks.windowObs(len(s.window))
		defer func() {
			<-s.window
			s.opts.hooks.windowObs(len(s.window))
		}()
	}
	c := &call{ch: make(chan result, 1), cmd: id, sent: time.Now()}
	s.mu.Lock()
	// Checked again under the lock: Close moves to UNBINDING under it, so a
	// request is either refused or counted among those Close waits for.
	if err := s.checkState(id); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	seq := s.allocSeq()
	s.pending[seq] = c
	s.mu.Unlock()
	req.Hdr().Seq = seq
	req.Hdr().Status = 0

	timer := time.NewTimer(s.opts.RequestTimeout)
	defer timer.Stop()
	select {
	case s.outReq <- outItem{p: req}:
	case <-ctx.Done():
		s.forget(seq)
		return nil, ctx.Err()
	case <-s.closing:
		s.forget(seq)
		return nil, ErrClosed
	}
	select {
	case r := <-c.ch:
		return r.p, r.err
	case <-timer.C:
		s.forget(seq)
		return nil, fmt.Errorf("%w: %s seq %d: no response in %v", ErrOutcomeUnknown, id, seq, s.opts.RequestTimeout)
	case <-ctx.Done():
		s.forget(seq)
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	case <-s.closing:
		select { // a response that raced the close still counts
		case r := <-c.ch:
			return r.p, r.err
		default:
		}
		s.forget(seq)
		return nil, fmt.Errorf("%w: link closed (%s) with %s seq %d in flight", ErrOutcomeUnknown, s.Reason(), id, seq)
	}
}

func (h *sessionHooks) windowObs(n int) {
	if h.window != nil {
		h.window(n)
	}
}

// forget removes an entry whose caller stopped waiting; a response arriving
// later is counted as late and dropped.
func (s *Session) forget(seq uint32) {
	s.mu.Lock()
	delete(s.pending, seq)
	s.checkDrainedLocked()
	s.mu.Unlock()
}

func (s *Session) checkDrainedLocked() {
	if s.drained != nil && len(s.pending) == 0 {
		close(s.drained)
		s.drained = nil
	}
}

// complete hands a response to its waiting request.
func (s *Session) complete(p PDU) {
	h := p.Hdr()
	s.mu.Lock()
	c, ok := s.pending[h.Seq]
	if ok {
		delete(s.pending, h.Seq)
		s.checkDrainedLocked()
	}
	s.mu.Unlock()
	if !ok {
		if s.opts.hooks.late != nil {
			s.opts.hooks.late()
		}
		s.log.Debug("smpp response without request", "command_id", p.CommandID().String(), "seq", h.Seq)
		return
	}
	if s.opts.hooks.response != nil {
		s.opts.hooks.response(c.cmd, h.Status, time.Since(c.sent))
	}
	var err error
	switch {
	case p.CommandID() == GenericNackID:
		st := h.Status
		if st == StatusOK {
			st = StatusUnknownErr
		}
		err = &StatusError{Command: GenericNackID, Status: st}
	case p.CommandID() != c.cmd|0x80000000:
		err = fmt.Errorf("smpp: %s answered with %s: %w", c.cmd, p.CommandID(), ErrBadValue)
	case h.Status != StatusOK:
		err = &StatusError{Command: p.CommandID(), Status: h.Status}
	}
	c.ch <- result{p: p, err: err}
}

// Respond queues a response (or any PDU that needs no answer). Responses
// bypass the window and are written before queued requests.
func (s *Session) Respond(p PDU) error {
	return s.enqueueResp(outItem{p: p})
}

func (s *Session) enqueueResp(it outItem) error {
	select {
	case s.outResp <- it:
		return nil
	case <-s.closing:
		return ErrClosed
	}
}

// ResponseTo builds the response PDU for req with the same sequence number
// and the given status, or nil for requests that have no response
// (alert_notification, outbind, generic_nack and responses).
func ResponseTo(req PDU, status CommandStatus) PDU {
	var r PDU
	switch q := req.(type) {
	case *Bind:
		r = &BindResp{Type: q.Type}
	case *SubmitSM:
		r = &SubmitSMResp{}
	case *DeliverSM:
		r = &DeliverSMResp{}
	case *DataSM:
		r = &DataSMResp{}
	case *QuerySM:
		r = &QuerySMResp{}
	case *EnquireLink:
		r = &EnquireLinkResp{}
	case *Unbind:
		r = &UnbindResp{}
	default:
		return nil
	}
	r.Hdr().Seq = req.Hdr().Seq
	r.Hdr().Status = status
	return r
}

// Bind sends b (bind_transmitter/receiver/transceiver) and moves the session
// to the bound state on ESME_ROK. A refusal is a *StatusError.
func (s *Session) Bind(ctx context.Context, b *Bind) (*BindResp, error) {
	if b.InterfaceVersion == 0 {
		b.InterfaceVersion = InterfaceVersion
	}
	p, err := s.Request(ctx, b)
	resp, _ := p.(*BindResp)
	if err != nil {
		return resp, err
	}
	s.state.CompareAndSwap(int32(SessionOpen), int32(boundState(b.Type)))
	return resp, nil
}

// Submit sends one submit_sm and returns its response.
func (s *Session) Submit(ctx context.Context, sm *SubmitSM) (*SubmitSMResp, error) {
	p, err := s.Request(ctx, sm)
	resp, _ := p.(*SubmitSMResp)
	return resp, err
}

// EnquireLink sends enquire_link and returns the round-trip time.
func (s *Session) EnquireLink(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	_, err := s.Request(ctx, &EnquireLink{})
	return time.Since(start), err
}

// Close ends the session gracefully (SMPP 3.4 §4.2): it stops new requests,
// waits for those in flight, sends unbind and waits for unbind_resp (at most
// unbindTimeout), then closes the socket; all of it ends when ctx does or
// after maxShutdown, whichever comes first. Idempotent.
func (s *Session) Close(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, maxShutdown)
	defer cancel()
	st := s.State()
	if st == SessionClosed || st == SessionUnbinding {
		s.shutdown(ReasonLocalClose, nil)
		<-s.done
		return nil
	}
	bound := st != SessionOpen
	s.mu.Lock()
	unbinding := bound && s.state.CompareAndSwap(int32(st), int32(SessionUnbinding))
	var drained chan struct{}
	if unbinding && len(s.pending) > 0 {
		drained = make(chan struct{})
		s.drained = drained
	}
	s.mu.Unlock()
	if unbinding {
		if drained != nil {
			select {
			case <-drained:
			case <-ctx.Done():
			case <-s.closing:
			}
		}
		uctx, ucancel := context.WithTimeout(ctx, unbindTimeout)
		_, err := s.Request(uctx, &Unbind{})
		ucancel()
		if err != nil {
			s.log.Debug("smpp unbind", "err", err)
		}
	}
	s.shutdown(ReasonLocalClose, ErrClosed)
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// Abort closes the session at once without unbinding.
func (s *Session) Abort() {
	s.shutdown(ReasonLocalClose, ErrClosed)
	<-s.done
}

func (s *Session) readLoop() {
	defer s.wg.Done()
	for {
		p, err := s.conn.ReadPDU()
		if err != nil {
			if s.handleReadError(err) {
				continue
			}
			return
		}
		s.lastRead.Store(time.Now().UnixNano())
		if p.CommandID().IsResponse() {
			s.complete(p)
			continue
		}
		switch q := p.(type) {
		case *EnquireLink:
			_ = s.Respond(ResponseTo(q, StatusOK))
		case *Unbind:
			// Answer, stop accepting requests, close once the answer is out.
			// Stop reading: the peer closes after our unbind_resp, and that
			// EOF must not be mistaken for a crash.
			s.state.Store(int32(SessionUnbinding))
			_ = s.enqueueResp(outItem{p: ResponseTo(q, StatusOK), closeAfter: ReasonPeerUnbind})
			return
		default:
			if s.opts.Handler != nil {
				s.opts.Handler(s, p)
			} else if r := ResponseTo(p, StatusSysErr); r != nil {
				_ = s.Respond(r)
			}
		}
	}
}

// handleReadError answers what can be answered and reports whether the
// stream is still usable.
func (s *Session) handleReadError(err error) bool {
	var ue *UnknownCommandError
	var de *DecodeError
	var fe *FrameError
	switch {
	case errors.As(err, &ue):
		s.lastRead.Store(time.Now().UnixNano())
		if !ue.Header.ID.IsResponse() {
			_ = s.Respond(&GenericNack{Header{Status: StatusInvCmdID, Seq: ue.Header.Seq}})
		}
		return true
	case errors.As(err, &de):
		s.lastRead.Store(time.Now().UnixNano())
		s.log.Warn("smpp malformed PDU", "command_id", de.Header.ID.String(), "seq", de.Header.Seq, "err", err)
		if de.Header.ID.IsResponse() {
			s.mu.Lock()
			c, ok := s.pending[de.Header.Seq]
			delete(s.pending, de.Header.Seq)
			s.checkDrainedLocked()
			s.mu.Unlock()
			if ok {
				c.ch <- result{err: err}
			}
			return true
		}
		_ = s.Respond(&GenericNack{Header{Status: nackStatus(de.Err), Seq: de.Header.Seq}})
		return true
	case errors.As(err, &fe):
		// The stream cannot be resynchronised: nack (SMPP 3.4 §4.3) and close.
		_ = s.enqueueResp(outItem{p: &GenericNack{Header{Status: StatusInvCmdLen}}, closeAfter: ReasonFraming})
		go func() { // make sure we close even if the writer is stuck
			t := time.NewTimer(s.opts.WriteTimeout)
			defer t.Stop()
			select {
			case <-t.C:
				s.shutdown(ReasonFraming, err)
			case <-s.closing:
			}
		}()
		return false
	case errors.Is(err, io.EOF):
		s.shutdown(ReasonPeerClosed, err)
	default:
		s.shutdown(ReasonReadError, err)
	}
	return false
}

// nackStatus chooses the generic_nack status for a malformed request body.
func nackStatus(err error) CommandStatus {
	var fe *FieldError
	if errors.As(err, &fe) {
		switch {
		case fe.Field == "short_message" || fe.Field == "sm_length" || fe.Field == "message_payload":
			return StatusInvMsgLen
		case fe.Field == "tlv" || len(fe.Field) > 4 && fe.Field[:4] == "tlv ":
			return StatusInvOptParStrm
		case errors.Is(err, ErrBadLength):
			return StatusInvParLen
		}
	}
	return StatusInvCmdLen
}

func (s *Session) writeLoop() {
	defer s.wg.Done()
	for {
		var it outItem
		select { // responses first
		case it = <-s.outResp:
		default:
			select {
			case it = <-s.outResp:
			case it = <-s.outReq:
			case <-s.closing:
				return
			}
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
		closeAfter := ReasonNone
		// Batch: write what is queued without blocking, then flush once.
		for n := 0; ; n++ {
			if err := s.conn.WritePDU(it.p); err != nil {
				var fe *FieldError
				if errors.As(err, &fe) {
					// Our own bad PDU: do not kill the link for it.
					s.log.Error("smpp encode", "command_id", it.p.CommandID().String(), "err", err)
					s.failEncode(it.p, err)
				} else {
					s.shutdown(ReasonWriteError, err)
					return
				}
			}
			if it.closeAfter != ReasonNone {
				closeAfter = it.closeAfter
				break
			}
			if n >= 256 {
				break
			}
			select {
			case it = <-s.outResp:
				continue
			default:
			}
			select {
			case it = <-s.outResp:
				continue
			case it = <-s.outReq:
				continue
			default:
			}
			break
		}
		if err := s.conn.Flush(); err != nil {
			s.shutdown(ReasonWriteError, err)
			return
		}
		if closeAfter != ReasonNone {
			s.shutdown(closeAfter, nil)
			return
		}
	}
}

// failEncode fails the request whose PDU could not be encoded.
func (s *Session) failEncode(p PDU, err error) {
	if p.CommandID().IsResponse() {
		return
	}
	s.mu.Lock()
	c, ok := s.pending[p.Hdr().Seq]
	delete(s.pending, p.Hdr().Seq)
	s.checkDrainedLocked()
	s.mu.Unlock()
	if ok {
		c.ch <- result{err: err}
	}
}

// keepalive sends enquire_link when nothing has been read for the interval
// and closes the session after MaxEnquireLinkMisses failures in a row. The
// timer has jitter so many binds do not probe in lockstep.
func (s *Session) keepalive() {
	defer s.wg.Done()
	iv := s.opts.EnquireLinkInterval
	jitter := func() time.Duration { return rand.N(iv/10 + 1) }
	t := time.NewTimer(iv + jitter())
	defer t.Stop()
	misses := 0
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
		idle := time.Since(time.Unix(0, s.lastRead.Load()))
		next := iv - idle
		if idle >= iv && s.State() != SessionOpen {
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.EnquireLinkTimeout)
			rtt, err := s.EnquireLink(ctx)
			cancel()
			if s.opts.hooks.enquireLink != nil {
				s.opts.hooks.enquireLink(rtt, err)
			}
			if err != nil && !errors.Is(err, ErrClosed) {
				misses++
				s.log.Debug("smpp enquire_link failed", "misses", misses, "err", err)
				if misses >= s.opts.MaxEnquireLinkMisses {
					s.shutdown(ReasonEnquireLinkTimeout, fmt.Errorf("smpp: %d enquire_link without answer", misses))
					return
				}
				next = 0
			} else {
				misses = 0
				next = iv
			}
		}
		if next <= 0 {
			next = iv / 10
		}
		t.Reset(next + jitter())
	}
}
