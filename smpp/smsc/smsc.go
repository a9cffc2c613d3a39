package smsc

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imzagate/imzagate/smpp"
)

// Handset is the radio side: the simulated SIM farm implements it. An error
// means the number does not exist (the receipt says UNDELIV). Each reply(ud)
// call is one MO segment from the handset.
type Handset interface {
	HandleMT(msisdn string, userData []byte, reply func(userData []byte)) error
}

// Outcome is the final state reported in a receipt.
type Outcome int

// Receipt outcomes.
const (
	Delivered Outcome = iota
	Undeliverable
	Expired
)

func (o Outcome) state() smpp.MessageState {
	switch o {
	case Undeliverable:
		return smpp.StateUndeliverable
	case Expired:
		return smpp.StateExpired
	}
	return smpp.StateDelivered
}

// Faults injects misbehaviour. Zero values disable each fault.
type Faults struct {
	// ThrottleEvery answers every Nth submit_sm with ESME_RTHROTTLED.
	ThrottleEvery int
	// Delay holds each submit_sm_resp for this long.
	Delay time.Duration
	// DropEvery never answers every Nth submit_sm.
	DropEvery int
	// DisconnectAfter closes a connection after it sent N requests.
	DisconnectAfter int
	// RefuseBinds answers every bind with ESME_RBINDFAIL.
	RefuseBinds bool
	// BindStatus, when non-zero, answers every bind with this status (for
	// example ESME_RALYBND).
	BindStatus smpp.CommandStatus
	// OutOfOrder holds submit_sm_resps in groups of N and sends each group
	// reversed (a group is also released after 20 ms).
	OutOfOrder int
	// FailEvery answers every Nth submit_sm with FailStatus (e.g.
	// ESME_RSYSERR, ESME_RINVBNDSTS, ESME_RINVDSTADR).
	FailEvery  int
	FailStatus smpp.CommandStatus
	// UnansweredSubmits never answers a submit_sm, while binds and
	// enquire_link are answered as usual: a silent SMSC, the failure a
	// breaker cannot see from the link alone.
	UnansweredSubmits bool
	// DeliverUnanswered hands the unanswered submits to the handset all
	// the same, as when the SMSC took the message and only its answer was
	// lost.
	DeliverUnanswered bool
}

// Options configure the server. Accounts is required.
type Options struct {
	// Accounts maps system_id to password.
	Accounts map[string]string
	// MaxBinds caps the bound sessions per account, of any type, as
	// operators do in their contracts; 0 means no cap. A bind over the cap
	// is answered ESME_RALYBND: the ESME then waits before trying again,
	// which is right when the SMSC still holds a dead instance's session.
	MaxBinds int
	// Handset receives binary MT; nil only answers submits and sends receipts.
	Handset Handset
	// Window is the submits in flight allowed per bind (excess gets
	// ESME_RTHROTTLED) and the deliver_sm window we use; default 100.
	Window int
	// Receipts sets the outcome per destination MSISDN; default Delivered.
	Receipts map[string]Outcome
	// ReceiptErrors adds a network_error_code TLV to the receipts of a
	// destination MSISDN, and writes its code in the text's err: field
	// (otherwise err: is 001 for Undeliverable, 000 else).
	ReceiptErrors map[string]smpp.NetworkError
	// ReceiptIDDecimal writes receipt ids in decimal while submit_sm_resp
	// ids are hex, as some SMSCs do.
	ReceiptIDDecimal bool
	// MaxAttempts bounds deliveries of one deliver_sm; default 5.
	MaxAttempts int
	// RedeliveryDelay is the first back-off, doubled per attempt; default 200 ms.
	RedeliveryDelay time.Duration
	// QueueSize bounds the deliveries waiting per account; default 10000.
	QueueSize int
	// RequestTimeout bounds the wait for deliver_sm_resp; default 10 s.
	RequestTimeout time.Duration
	// EnquireLinkInterval for the SMSC's own keepalive; default off.
	EnquireLinkInterval time.Duration
	// TLS, when set, serves SMPP over TLS.
	TLS *tls.Config
	// SpreadReplyParts hands the segments of one handset reply to the
	// account's receiver binds round-robin, one segment per bind, instead
	// of keeping them on one bind. Some SMSCs do this with several binds of
	// one account; it tests that gateway instances share reassembly.
	SpreadReplyParts bool
	// Faults to inject from the start.
	Faults Faults
	// OnSubmit, when set, sees every accepted submit_sm in the order the
	// SMSC accepted it (tests check ordering and content). It runs on the
	// connection's reader goroutine and must not block.
	OnSubmit func(systemID string, sm *smpp.SubmitSM)
	// Logger; nil discards. MSISDNs are not logged.
	Logger *slog.Logger
}

// Stats are counters tests can read.
type Stats struct {
	BindAttempts int64 // bind requests received
	Binds        int64 // successful binds
	Submits      int64 // submit_sm answered ESME_ROK
	Throttled    int64 // submit_sm answered ESME_RTHROTTLED
	Dropped      int64 // submit_sm never answered (fault)
	Deliveries   int64 // deliver_sm acknowledged with ESME_ROK
	Redeliveries int64 // deliver_sm attempts after the first
	Receipts     int64 // receipts queued
	Lost         int64 // deliveries given up (attempts exhausted, queue full, permanent error)
	BindsRefused int64 // binds answered ESME_RALYBND because the account was at MaxBinds
	Unbinds      int64 // bound sessions the ESME ended with unbind
	Disconnects  int64 // bound sessions that ended without an unbind from the ESME
	PeakBinds    int64 // the most sessions one account had bound at once
}

// Server is a running test SMSC.
type Server struct {
	opts   Options
	log    *slog.Logger
	ln     net.Listener
	faults atomic.Pointer[Faults]

	mu       sync.Mutex
	conns    map[*conn]struct{}
	accounts map[string]*account
	closed   bool

	msgID   atomic.Uint64
	submits atomic.Uint64 // for ThrottleEvery/DropEvery

	bindAttempts, binds, okSubmits, throttled, dropped, deliveries, redeliveries, receipts, lost atomic.Int64
	bindsRefused, unbinds, disconnects, peakBinds                                                atomic.Int64

	mt   chan mtJob
	stop chan struct{}
	wg   sync.WaitGroup
}

type mtJob struct {
	acct *account
	src  string
	dst  string
	ud   []byte
	id   string
	reg  byte
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves until Close.
func Start(addr string, opts Options) (*Server, error) {
	if len(opts.Accounts) == 0 {
		return nil, errors.New("smsc: no accounts")
	}
	if opts.Window <= 0 {
		opts.Window = 100
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.RedeliveryDelay <= 0 {
		opts.RedeliveryDelay = 200 * time.Millisecond
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 10000
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	if opts.EnquireLinkInterval == 0 {
		opts.EnquireLinkInterval = -1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smsc: %w", err)
	}
	if opts.TLS != nil {
		ln = tls.NewListener(ln, opts.TLS)
	}
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		ln:       ln,
		conns:    map[*conn]struct{}{},
		accounts: map[string]*account{},
		mt:       make(chan mtJob, 4096),
		stop:     make(chan struct{}),
	}
	f := opts.Faults
	s.faults.Store(&f)
	s.msgID.Store(0x10000)
	for id := range opts.Accounts {
		s.accounts[id] = newAccount(s, id)
	}
	for range 8 {
		s.wg.Add(1)
		go s.mtWorker()
	}
	for _, a := range s.accounts {
		s.wg.Add(1)
		go a.dispatch()
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Addr returns the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetFaults replaces the fault configuration at run time.
func (s *Server) SetFaults(f Faults) { s.faults.Store(&f) }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		BindAttempts: s.bindAttempts.Load(), Binds: s.binds.Load(), Submits: s.okSubmits.Load(), Throttled: s.throttled.Load(),
		Dropped: s.dropped.Load(), Deliveries: s.deliveries.Load(), Redeliveries: s.redeliveries.Load(),
		Receipts: s.receipts.Load(), Lost: s.lost.Load(),
		BindsRefused: s.bindsRefused.Load(), Unbinds: s.unbinds.Load(), Disconnects: s.disconnects.Load(), PeakBinds: s.peakBinds.Load(),
	}
}

// Close stops listening, drops every connection at once (like a crashed
// SMSC) and waits for its goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	close(s.stop)
	err := s.ln.Close()
	for _, c := range conns {
		c.sess().Abort()
	}
	s.wg.Wait()
	return err
}

// Bound returns how many sessions of account systemID are bound now, of
// any type (0 for an unknown account).
func (s *Server) Bound(systemID string) int {
	a := s.accounts[systemID]
	if a == nil {
		return 0
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.bound
}

// PendingReplies counts the handset replies (MO deliver_sm) sent to the
// bound sessions of account systemID that bound with systemType and not
// answered yet: a test can wait until a gateway instance it has frozen
// holds a reply, then kill it, and know that a reply was in its hands.
func (s *Server) PendingReplies(systemID, systemType string) int {
	key := systemID + "\x00" + systemType
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if k := c.bindKey.Load(); k != nil && *k == key {
			n += int(c.pendingMO.Load())
		}
	}
	return n
}

// DisconnectAll drops every bound connection without unbinding.
func (s *Server) DisconnectAll() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.sess().Abort()
	}
}

// Deliver queues an MO deliver_sm to the account's receiver binds, as if a
// handset had sent it. The PDU's header is ignored; it is copied per attempt.
func (s *Server) Deliver(systemID string, d *smpp.DeliverSM) error {
	a := s.accounts[systemID]
	if a == nil {
		return fmt.Errorf("smsc: unknown account %q", systemID)
	}
	if !a.enqueue(&delivery{pdu: *d}) {
		return errors.New("smsc: delivery queue full")
	}
	return nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		c := &conn{srv: s}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		sess := smpp.NewSession(nc, smpp.SessionOptions{
			Window:              s.opts.Window,
			RequestTimeout:      s.opts.RequestTimeout,
			EnquireLinkInterval: s.opts.EnquireLinkInterval,
			Handler:             c.onRequest,
			Logger:              s.log,
		})
		c.ss.Store(sess)
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			<-c.sess().Done()
			c.flushHeld()
			if c.acct != nil {
				c.acct.remove(c)
				if c.sess().Reason() == smpp.ReasonPeerUnbind {
					s.unbinds.Add(1)
				} else {
					s.disconnects.Add(1)
				}
			}
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// conn is one ESME connection.
type conn struct {
	srv      *Server
	ss       atomic.Pointer[smpp.Session]
	acct     *account
	inflight atomic.Int64
	requests atomic.Int64
	// bindKey is system_id NUL system_type once bound (PendingReplies).
	bindKey   atomic.Pointer[string]
	pendingMO atomic.Int64 // handset replies sent and not answered

	hmu   sync.Mutex
	held  []smpp.PDU
	timer *time.Timer
}

func (c *conn) sess() *smpp.Session { return c.ss.Load() }

func (c *conn) respond(p smpp.PDU) { _ = c.sess().Respond(p) }

// onRequest runs on the session's reader goroutine: it answers at once or
// hands work to timers and workers, never blocking.
func (c *conn) onRequest(sess *smpp.Session, p smpp.PDU) {
	c.ss.Store(sess) // the reader may run before acceptLoop stored it
	f := c.srv.faults.Load()
	if n := c.requests.Add(1); f.DisconnectAfter > 0 && n > int64(f.DisconnectAfter) {
		go sess.Abort()
		return
	}
	switch q := p.(type) {
	case *smpp.Bind:
		c.handleBind(q, f)
	case *smpp.SubmitSM:
		c.handleSubmit(q, f)
	case *smpp.DataSM:
		if !sess.State().CanSubmit() {
			c.respond(smpp.ResponseTo(q, smpp.StatusInvBndSts))
			return
		}
		c.respond(&smpp.DataSMResp{Header: smpp.Header{Seq: q.Seq}, MessageID: c.srv.nextID()})
	case *smpp.QuerySM:
		c.respond(&smpp.QuerySMResp{Header: smpp.Header{Seq: q.Seq}, MessageID: q.MessageID, MessageState: smpp.StateDelivered})
	case *smpp.AlertNotification, *smpp.Outbind:
	default:
		if r := smpp.ResponseTo(p, smpp.StatusInvCmdID); r != nil {
			c.respond(r)
		} else {
			c.respond(&smpp.GenericNack{Header: smpp.Header{Status: smpp.StatusInvCmdID, Seq: p.Hdr().Seq}})
		}
	}
}

func (c *conn) handleBind(q *smpp.Bind, f *Faults) {
	c.srv.bindAttempts.Add(1)
	resp := &smpp.BindResp{Header: smpp.Header{Seq: q.Seq}, Type: q.Type, SystemID: "smscsim"}
	pw, known := c.srv.opts.Accounts[q.SystemID]
	switch {
	case c.sess().State() != smpp.SessionOpen:
		resp.Status = smpp.StatusAlyBnd
	case f.RefuseBinds:
		resp.Status = smpp.StatusBindFail
	case f.BindStatus != smpp.StatusOK:
		resp.Status = f.BindStatus
	case !known:
		resp.Status = smpp.StatusInvSysID
	case subtle.ConstantTimeCompare([]byte(pw), []byte(q.Password)) != 1:
		resp.Status = smpp.StatusInvPaswd
	}
	if resp.Status != smpp.StatusOK {
		resp.SystemID = ""
		c.respond(resp)
		return
	}
	acct := c.srv.accounts[q.SystemID]
	if !acct.reserve() {
		c.srv.bindsRefused.Add(1)
		c.respond(&smpp.BindResp{Header: smpp.Header{Status: smpp.StatusAlyBnd, Seq: q.Seq}, Type: q.Type})
		return
	}
	resp.TLVs.Set(smpp.TagSCInterfaceVersion, []byte{smpp.InterfaceVersion})
	c.sess().MarkBound(q.Type)
	c.srv.binds.Add(1)
	c.acct = acct
	key := q.SystemID + "\x00" + q.SystemType
	c.bindKey.Store(&key)
	c.respond(resp)
	if q.Type.CanReceive() {
		c.acct.add(c)
	}
}

func (c *conn) handleSubmit(q *smpp.SubmitSM, f *Faults) {
	s := c.srv
	if !c.sess().State().CanSubmit() {
		c.respond(smpp.ResponseTo(q, smpp.StatusInvBndSts))
		return
	}
	n := s.submits.Add(1)
	if f.ThrottleEvery > 0 && n%uint64(f.ThrottleEvery) == 0 {
		s.throttled.Add(1)
		c.respond(smpp.ResponseTo(q, smpp.StatusThrottled))
		return
	}
	if f.FailEvery > 0 && n%uint64(f.FailEvery) == 0 {
		c.respond(smpp.ResponseTo(q, f.FailStatus))
		return
	}
	if c.inflight.Load() >= int64(s.opts.Window) {
		// Over the window: a real SMSC throttles (or disconnects).
		s.throttled.Add(1)
		c.respond(smpp.ResponseTo(q, smpp.StatusThrottled))
		return
	}
	if f.DropEvery > 0 && n%uint64(f.DropEvery) == 0 {
		s.dropped.Add(1)
		return
	}
	id := s.nextID()
	job := mtJob{acct: c.acct, src: q.SourceAddr, dst: q.DestAddr, ud: q.UserData(), id: id, reg: q.RegisteredDelivery}
	if f.UnansweredSubmits {
		s.dropped.Add(1)
		if f.DeliverUnanswered && s.opts.Handset != nil {
			select {
			case s.mt <- job:
			default:
			}
		}
		return
	}
	if s.opts.Handset != nil || job.reg&3 != 0 {
		select {
		case s.mt <- job:
		default:
			c.respond(smpp.ResponseTo(q, smpp.StatusMsgQFul))
			return
		}
	}
	s.okSubmits.Add(1)
	if s.opts.OnSubmit != nil {
		s.opts.OnSubmit(c.acct.id, q)
	}
	resp := &smpp.SubmitSMResp{Header: smpp.Header{Seq: q.Seq}, MessageID: id}
	switch {
	case f.Delay > 0:
		c.inflight.Add(1)
		time.AfterFunc(f.Delay, func() {
			c.inflight.Add(-1)
			c.respond(resp)
		})
	case f.OutOfOrder > 1:
		c.hold(resp, f.OutOfOrder)
	default:
		c.respond(resp)
	}
}

// hold collects responses and releases them reversed in groups.
func (c *conn) hold(p smpp.PDU, group int) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.inflight.Add(1)
	c.held = append(c.held, p)
	if len(c.held) >= group {
		c.releaseLocked()
		return
	}
	if c.timer == nil {
		c.timer = time.AfterFunc(20*time.Millisecond, c.flushHeld)
	}
}

func (c *conn) flushHeld() {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	c.releaseLocked()
}

func (c *conn) releaseLocked() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	for i := len(c.held) - 1; i >= 0; i-- {
		c.respond(c.held[i])
		c.inflight.Add(-1)
	}
	c.held = c.held[:0]
}

func (s *Server) nextID() string { return strconv.FormatUint(s.msgID.Add(1), 16) }

// mtWorker hands MT to the handset and queues receipts.
func (s *Server) mtWorker() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case j := <-s.mt:
			s.processMT(j)
		}
	}
}

func (s *Server) processMT(j mtJob) {
	outcome := s.opts.Receipts[j.dst]
	if s.opts.Handset != nil && outcome == Delivered {
		grp := &group{}
		reply := func(ud []byte) {
			d := &delivery{grp: grp, pdu: smpp.DeliverSM{Message: smpp.Message{
				SourceTON: 1, SourceNPI: 1, SourceAddr: j.dst,
				DestTON: 1, DestNPI: 1, DestAddr: j.src,
				ESMClass: smpp.ESMClassUDHI, ProtocolID: 0x7F, DataCoding: 0xF6,
				ShortMessage: append([]byte(nil), ud...),
			}}}
			if !j.acct.enqueue(d) {
				s.log.Warn("smsc MO queue full; reply dropped", "account", j.acct.id)
			}
		}
		if err := s.opts.Handset.HandleMT(j.dst, j.ud, reply); err != nil {
			outcome = Undeliverable
		}
	}
	reg := j.reg & 3
	if reg == 1 || reg == 2 && outcome != Delivered {
		s.receipts.Add(1)
		j.acct.enqueue(&delivery{pdu: s.receipt(j, outcome)})
	}
}

// receipt builds the receipt deliver_sm (SMPP 3.4 appendix B text plus the
// receipted_message_id and message_state TLVs).
func (s *Server) receipt(j mtJob, o Outcome) smpp.DeliverSM {
	id := j.id
	if s.opts.ReceiptIDDecimal {
		if v, err := strconv.ParseUint(id, 16, 64); err == nil {
			id = strconv.FormatUint(v, 10)
		}
	}
	st := o.state()
	errCode := "000"
	if o == Undeliverable {
		errCode = "001" // as for a number without a subscription
	}
	dlvrd := "001"
	if o != Delivered {
		dlvrd = "000"
	}
	now := time.Now().UTC().Format("0601021504")
	var tl smpp.TLVs
	if ne, ok := s.opts.ReceiptErrors[j.dst]; ok {
		errCode = fmt.Sprintf("%03d", ne.Code)
		tl.Set(smpp.TagNetworkErrorCode, []byte{byte(ne.Type), byte(ne.Code >> 8), byte(ne.Code)})
	}
	tl.SetReceiptedMessageID(id)
	tl.Set(smpp.TagMessageState, []byte{byte(st)})
	text := fmt.Sprintf("id:%s sub:001 dlvrd:%s submit date:%s done date:%s stat:%s err:%s text:",
		id, dlvrd, now, now, st, errCode)
	return smpp.DeliverSM{Message: smpp.Message{
		SourceTON: 1, SourceNPI: 1, SourceAddr: j.dst,
		DestTON: 1, DestNPI: 1, DestAddr: j.src,
		ESMClass: 0x04, ShortMessage: []byte(text), TLVs: tl,
	}}
}

// delivery is one deliver_sm to send, with its attempt count.
type delivery struct {
	pdu      smpp.DeliverSM
	attempts int
	grp      *group // the segments of one handset reply, or nil
}

// group keeps the segments of one handset reply on one bind, so that the
// gateway instance that gets the first segment gets them all and can
// reassemble the message; a failed delivery moves the rest elsewhere.
type group struct {
	mu sync.Mutex
	c  *conn
}

// account is one system_id: its receiver binds and delivery queue.
type account struct {
	srv     *Server
	id      string
	mu      sync.Mutex
	binds   []*conn // bound sessions that can receive
	bound   int     // bound sessions of any type (the MaxBinds count)
	rr      int
	changed chan struct{} // closed and replaced when binds change
	queue   chan *delivery
	sem     chan struct{}
}

func newAccount(s *Server, id string) *account {
	return &account{srv: s, id: id, changed: make(chan struct{}),
		queue: make(chan *delivery, s.opts.QueueSize), sem: make(chan struct{}, s.opts.Window)}
}

func (a *account) add(c *conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.binds = append(a.binds, c)
	close(a.changed)
	a.changed = make(chan struct{})
}

// reserve counts one more bound session unless the account is at
// MaxBinds; the check and the count are one step, so concurrent binds
// cannot overshoot the cap.
func (a *account) reserve() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m := a.srv.opts.MaxBinds; m > 0 && a.bound >= m {
		return false
	}
	a.bound++
	for {
		peak := a.srv.peakBinds.Load()
		if int64(a.bound) <= peak || a.srv.peakBinds.CompareAndSwap(peak, int64(a.bound)) {
			return true
		}
	}
}

// remove forgets a bound session when its connection ends.
func (a *account) remove(c *conn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bound--
	for i, b := range a.binds {
		if b == c {
			a.binds = append(a.binds[:i], a.binds[i+1:]...)
			break
		}
	}
}

// next returns the next bound receiver round-robin, or nil and a channel
// that is closed when the binds change.
func (a *account) next() (*conn, <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for range a.binds {
		a.rr = (a.rr + 1) % len(a.binds)
		c := a.binds[a.rr]
		if c.sess().State().CanReceive() {
			return c, nil
		}
	}
	return nil, a.changed
}

// pick returns the bind for d: its group's bind while that is still bound,
// else the next one round-robin (which becomes the group's).
func (a *account) pick(d *delivery) (*conn, <-chan struct{}) {
	if d.grp == nil || a.srv.opts.SpreadReplyParts {
		return a.next()
	}
	d.grp.mu.Lock()
	defer d.grp.mu.Unlock()
	if c := d.grp.c; c != nil && a.has(c) && c.sess().State().CanReceive() {
		return c, nil
	}
	c, changed := a.next()
	d.grp.c = c
	return c, changed
}

func (a *account) has(c *conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.binds {
		if b == c {
			return true
		}
	}
	return false
}

func (a *account) enqueue(d *delivery) bool {
	select {
	case a.queue <- d:
		return true
	default:
		a.srv.lost.Add(1)
		return false
	}
}

// dispatch sends queued deliveries, waiting while no receiver is bound.
func (a *account) dispatch() {
	s := a.srv
	defer s.wg.Done()
	for {
		var d *delivery
		select {
		case <-s.stop:
			return
		case d = <-a.queue:
		}
		var c *conn
		for {
			var changed <-chan struct{}
			if c, changed = a.pick(d); c != nil {
				break
			}
			select {
			case <-s.stop:
				return
			case <-changed:
			}
		}
		select {
		case a.sem <- struct{}{}:
		case <-s.stop:
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-a.sem }()
			a.send(c, d)
		}()
	}
}

func (a *account) send(c *conn, d *delivery) {
	s := a.srv
	d.attempts++
	if d.attempts > 1 {
		s.redeliveries.Add(1)
	}
	p := d.pdu // a fresh copy: Request sets the header
	if d.grp != nil {
		c.pendingMO.Add(1)
		defer c.pendingMO.Add(-1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.RequestTimeout)
	defer cancel()
	go func() { // end the wait when the server stops
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err := c.sess().Request(ctx, &p)
	if err == nil {
		s.deliveries.Add(1)
		return
	}
	var se *smpp.StatusError
	if errors.As(err, &se) && se.Class() == smpp.ClassPermanent {
		s.lost.Add(1)
		s.log.Info("smsc deliver_sm rejected", "account", a.id, "status", se.Status.String())
		return
	}
	// Temporary status, timeout or link loss: redeliver, maybe on another
	// bind; the group's later segments follow.
	if d.grp != nil {
		d.grp.mu.Lock()
		if d.grp.c == c {
			d.grp.c = nil
		}
		d.grp.mu.Unlock()
	}
	if d.attempts >= s.opts.MaxAttempts {
		s.lost.Add(1)
		return
	}
	delay := s.opts.RedeliveryDelay << min(d.attempts-1, 6)
	time.AfterFunc(delay, func() {
		select {
		case <-s.stop:
		default:
			a.enqueue(d)
		}
	})
}
