package smpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/errgroup"
)

// Handler receives inbound traffic from every operator's binds.
type Handler interface {
	// HandleMO gets a complete MO (concatenation already reassembled).
	// Return nil only once the effect is stored: the pool then answers
	// deliver_sm_resp ESME_ROK. Any other error answers ESME_RX_T_APPN so the
	// SMSC redelivers; an error wrapping ErrPermanent answers ESME_RX_P_APPN
	// so it does not.
	HandleMO(ctx context.Context, mo MO) error
	// HandleReceipt gets a delivery receipt, with the same contract.
	HandleReceipt(ctx context.Context, r Receipt) error
}

// BreakerConfig tunes an operator's circuit breaker. Zero values get the
// defaults noted.
type BreakerConfig struct {
	// Failures: consecutive failed submits that open the breaker; default
	// 5. A submit that got no answer within the operator's SubmitTimeout
	// is a failure.
	Failures uint32
	// OpenTimeout: how long it stays open before half-open probes; default 30 s.
	OpenTimeout time.Duration
	// HalfOpenRequests: probes allowed while half-open; default 1.
	HalfOpenRequests uint32
	// Interval, when set, is a rolling window: failures older than it
	// stop counting. The default, 0, keeps counting consecutive failures
	// until a success, however far apart they are, so a trickle of
	// unanswered submits still opens the breaker. (A fixed window that
	// reset at intervals would also drop the result of a submit that
	// straddles the reset.)
	Interval time.Duration
}

// Operator is one mobile operator: its MSISDN prefixes and its binds.
type Operator struct {
	// Name labels metrics and errors (e.g. "azercell").
	Name string
	// Prefixes are E.164 digit prefixes routed to this operator, e.g. "99450".
	Prefixes []string
	// Binds are the SMPP binds to this operator's SMSC(s); at least one.
	Binds []BindConfig
	// TPS limits submit_sm per second across all binds (the account's
	// contract); 0 = no limit.
	TPS float64
	// Breaker tunes the circuit breaker.
	Breaker BreakerConfig
	// SubmitTimeout bounds a whole Submit to this operator: waiting for a
	// window slot and the rate limit, and the submit_sm_resp of every
	// segment; default DefaultSubmitTimeout. An SMSC that binds and
	// answers enquire_link but never answers submit_sm then fails each
	// submit within it, and the failures open the breaker.
	SubmitTimeout time.Duration
	// SubmitIDFormat and ReceiptIDFormat describe how the SMSC writes
	// message ids in submit_sm_resp and in receipts; both are normalised
	// with NormalizeMessageID.
	SubmitIDFormat, ReceiptIDFormat IDFormat
}

// PoolOptions configures a Pool. The inbound Handler is not an option: Run
// takes it, so a handler that needs the pool (to submit) can be built after
// NewPool.
type PoolOptions struct {
	Operators []Operator
	// Dial opens every bind's transport (see ClientOptions.Dial); nil dials
	// TCP.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger; nil discards. MSISDNs are never logged.
	Logger *slog.Logger
	// Registerer for the metrics; nil registers none.
	Registerer prometheus.Registerer
	// InboundTimeout bounds one Handler call; default 20 s (below the
	// usual SMSC response timeout).
	InboundTimeout time.Duration
	// InboundWorkers per bind; default 4.
	InboundWorkers int
	// Segments holds parts of concatenated MOs; nil keeps them in memory,
	// for ReassemblyTTL (default 5 min), at most MaxPartialMessages
	// (default 10000).
	Segments           SegmentStore
	ReassemblyTTL      time.Duration
	MaxPartialMessages int
}

// MaxSegment is the largest TP-UD of one SMS (UDH included): 140 octets.
const MaxSegment = 140

// DefaultSubmitTimeout is Operator.SubmitTimeout's default: a healthy
// SMSC answers a submit_sm in tens of milliseconds, and a portal waits for
// the start's answer.
const DefaultSubmitTimeout = 5 * time.Second

type operatorState struct {
	cfg     Operator
	clients []*Client
	cb      *gobreaker.CircuitBreaker[[]string]
	rr      atomic.Uint32
}

// Pool phases: Submit works only while Run runs, and Run may be called once.
const (
	poolIdle int32 = iota
	poolRunning
	poolDone
)

// Pool holds every operator's binds, routes submits by MSISDN prefix and,
// while Run runs, dispatches inbound traffic to the Handler given to Run.
type Pool struct {
	opts    PoolOptions
	log     *slog.Logger
	m       *metrics
	ops     []*operatorState
	routes  map[string]*operatorState
	segs    SegmentStore
	handler Handler // set by Run before any bind starts
	phase   atomic.Int32
}

// NewPool validates the configuration and builds the pool; Run dials.
func NewPool(opts PoolOptions) (*Pool, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.InboundTimeout <= 0 {
		opts.InboundTimeout = 20 * time.Second
	}
	if opts.ReassemblyTTL <= 0 {
		opts.ReassemblyTTL = 5 * time.Minute
	}
	if opts.MaxPartialMessages <= 0 {
		opts.MaxPartialMessages = 10000
	}
	if len(opts.Operators) == 0 {
		return nil, errors.New("smpp: pool: no operators")
	}
	p := &Pool{
		opts:   opts,
		log:    opts.Logger,
		m:      newMetrics(opts.Registerer),
		routes: map[string]*operatorState{},
	}
	p.segs = opts.Segments
	if p.segs == nil {
		p.segs = newMemSegments(opts.MaxPartialMessages, opts.ReassemblyTTL,
			func(n int) { p.m.reassembly.WithLabelValues("all", "expired").Add(float64(n)) })
	}
	names := map[string]bool{}
	for _, oc := range opts.Operators {
		if oc.Name == "" || names[oc.Name] {
			return nil, fmt.Errorf("smpp: pool: operator name %q empty or duplicated", oc.Name)
		}
		names[oc.Name] = true
		if len(oc.Binds) == 0 {
			return nil, fmt.Errorf("smpp: pool: operator %s has no binds", oc.Name)
		}
		if oc.SubmitTimeout < 0 {
			return nil, fmt.Errorf("smpp: pool: operator %s: negative submit timeout", oc.Name)
		}
		if oc.SubmitTimeout == 0 {
			oc.SubmitTimeout = DefaultSubmitTimeout
		}
		op := &operatorState{cfg: oc}
		if err := p.addRoutes(op); err != nil {
			return nil, err
		}
		account := (*limiter)(nil)
		if oc.TPS > 0 {
			account = newLimiter(oc.TPS, time.Second, 30*time.Second)
		}
		bindNames := map[string]bool{}
		for i, bc := range oc.Binds {
			if bc.Name == "" {
				bc.Name = fmt.Sprintf("%s-%d", oc.Name, i+1)
			}
			if bindNames[bc.Name] {
				return nil, fmt.Errorf("smpp: pool: operator %s: duplicate bind name %s", oc.Name, bc.Name)
			}
			bindNames[bc.Name] = true
			c, err := NewClient(bc, ClientOptions{
				Operator:       oc.Name,
				Inbound:        func(ctx context.Context, req PDU) CommandStatus { return p.inbound(ctx, op, req) },
				InboundWorkers: opts.InboundWorkers,
				Dial:           opts.Dial,
				Logger:         opts.Logger,
				metrics:        p.m,
				account:        account,
			})
			if err != nil {
				return nil, fmt.Errorf("smpp: pool: operator %s: %w", oc.Name, err)
			}
			op.clients = append(op.clients, c)
		}
		op.cb = gobreaker.NewCircuitBreaker[[]string](p.breakerSettings(oc))
		p.m.initOperator(oc.Name)
		p.ops = append(p.ops, op)
	}
	return p, nil
}

// addRoutes routes op's prefixes to it; a prefix is 1–15 digits and
// belongs to one operator.
func (p *Pool) addRoutes(op *operatorState) error {
	for _, pre := range op.cfg.Prefixes {
		if !isDigits(pre) || len(pre) > 15 {
			return fmt.Errorf("smpp: pool: operator %s: prefix %q is not 1-15 digits", op.cfg.Name, pre)
		}
		if other, dup := p.routes[pre]; dup {
			return fmt.Errorf("smpp: pool: prefix %s on both %s and %s", pre, other.cfg.Name, op.cfg.Name)
		}
		p.routes[pre] = op
	}
	return nil
}

func (p *Pool) breakerSettings(oc Operator) gobreaker.Settings {
	b := oc.Breaker
	if b.Failures == 0 {
		b.Failures = 5
	}
	if b.OpenTimeout <= 0 {
		b.OpenTimeout = 30 * time.Second
	}
	if b.HalfOpenRequests == 0 {
		b.HalfOpenRequests = 1
	}
	var bucket time.Duration
	if b.Interval > 0 {
		// Rolling: a result counts in the bucket its request started in,
		// whenever it ends, as long as that bucket is still in the window.
		bucket = max(b.Interval/10, time.Second)
	}
	return gobreaker.Settings{
		Name:         oc.Name,
		MaxRequests:  b.HalfOpenRequests,
		Interval:     b.Interval,
		BucketPeriod: bucket,
		Timeout:      b.OpenTimeout,
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= b.Failures },
		OnStateChange: func(name string, from, to gobreaker.State) {
			p.m.breakerState.WithLabelValues(name).Set(float64(breakerGauge(to)))
			p.m.breakerChanges.WithLabelValues(name, to.String()).Inc()
			p.log.Warn("smpp breaker", "operator", name, "from", from.String(), "to", to.String())
		},
		// A permanent rejection (bad number, bad esm_class) says nothing
		// about the operator's health.
		IsSuccessful: func(err error) bool {
			var se *StatusError
			return err == nil || errors.As(err, &se) && se.Class() == ClassPermanent
		},
		// The caller going away, or our own rate limit keeping a submit
		// waiting, says nothing either; our SubmitTimeout running out while
		// the SMSC holds a submit (or the window) does.
		IsExcluded: func(err error) bool {
			return errors.Is(err, errRateWait) || errors.Is(err, context.Canceled) && !errors.Is(err, ErrOutcomeUnknown)
		},
	}
}

func breakerGauge(s gobreaker.State) int {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}

// Run binds every operator's binds and keeps them up until ctx ends, each
// bind's Client.Run in one errgroup, and hands inbound MOs and receipts to h.
// When ctx ends every bind stops taking submits, drains, unbinds and closes
// (each within 10 s, all in parallel); Run returns nil once all have. When a
// bind fails for good (its credentials are refused) Run stops every other
// bind, of every operator, the same way and returns that bind's error, which
// wraps ErrBindRejected: a gateway with a wrong password in its
// configuration must be fixed and restarted. Run may be called once: Submit fails with ErrClosed
// before Run and after it returned.
func (p *Pool) Run(ctx context.Context, h Handler) error {
	if h == nil {
		return errors.New("smpp: pool: Run needs a Handler")
	}
	if !p.phase.CompareAndSwap(poolIdle, poolRunning) {
		return errors.New("smpp: pool: Run called twice")
	}
	defer p.phase.Store(poolDone)
	p.handler = h
	g, gctx := errgroup.WithContext(ctx)
	for _, op := range p.ops {
		for _, c := range op.clients {
			g.Go(func() error {
				if err := c.Run(gctx); err != nil {
					return fmt.Errorf("smpp: pool: operator %s: %w", op.cfg.Name, err)
				}
				return nil
			})
		}
	}
	return g.Wait()
}

// Route returns the operator for msisdn by longest prefix, or ErrNoRoute.
func (p *Pool) Route(msisdn string) (string, error) {
	op, err := p.route(msisdn)
	if err != nil {
		return "", err
	}
	return op.cfg.Name, nil
}

func (p *Pool) route(msisdn string) (*operatorState, error) {
	if !isDigits(msisdn) || len(msisdn) > 20 {
		return nil, fmt.Errorf("%w: not an E.164 digit string", ErrNoRoute)
	}
	for n := min(len(msisdn), 15); n > 0; n-- {
		if op, ok := p.routes[msisdn[:n]]; ok {
			return op, nil
		}
	}
	return nil, ErrNoRoute
}

// pick returns the next bound, submit-capable bind of op, round-robin.
func (op *operatorState) pick() *Client {
	n := len(op.clients)
	start := int(op.rr.Add(1))
	for i := range n {
		c := op.clients[(start+i)%n]
		if c.CanSubmit() && c.session() != nil {
			return c
		}
	}
	return nil
}

// Submit sends the segments (each a complete TP-UD with UDH) as submit_sm
// with esm_class 0x40, protocol_id 0x7F, data_coding 0xF6 and
// registered_delivery 1, in order over one bind of the routed operator, and
// returns the SMSC message ids (normalised).
//
// The whole call is bounded by the operator's SubmitTimeout.
//
// Errors: ErrClosed (Run is not running: nothing sent); ErrNoRoute;
// ErrOperatorUnavailable (breaker open, no bind bound, or no window slot
// or rate token within SubmitTimeout: nothing more sent);
// ErrOutcomeUnknown (link dropped, or no response within SubmitTimeout,
// with a request in flight: the SMSC may have taken it); *StatusError
// (permanent command_status, or retries exhausted).
func (p *Pool) Submit(ctx context.Context, msisdn string, segments [][]byte) ([]string, error) {
	if p.phase.Load() != poolRunning {
		return nil, fmt.Errorf("%w: pool not running", ErrClosed)
	}
	op, err := p.route(msisdn)
	if err != nil {
		return nil, err
	}
	if len(segments) == 0 || len(segments) > 255 {
		return nil, fmt.Errorf("smpp: submit: %d segments: %w", len(segments), ErrBadValue)
	}
	for i, s := range segments {
		if len(s) == 0 || len(s) > MaxSegment {
			return nil, fmt.Errorf("smpp: submit: segment %d: %d octets (1..%d): %w", i+1, len(s), MaxSegment, ErrBadValue)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, op.cfg.SubmitTimeout)
	defer cancel()
	ids, err := op.cb.Execute(func() ([]string, error) {
		c := op.pick()
		if c == nil {
			return nil, fmt.Errorf("%w: %s: no bind bound", ErrOperatorUnavailable, op.cfg.Name)
		}
		ids := make([]string, 0, len(segments))
		for _, seg := range segments {
			resp, err := c.Submit(ctx, &SubmitSM{Message: Message{
				DestTON: 1, DestNPI: 1, DestAddr: msisdn,
				ESMClass: ESMClassUDHI, ProtocolID: 0x7F, DataCoding: 0xF6,
				RegisteredDelivery: 1, ShortMessage: seg,
			}})
			if errors.Is(err, ErrNotBound) {
				err = fmt.Errorf("%w: %s: bind lost: %w", ErrOperatorUnavailable, op.cfg.Name, err)
			}
			if err != nil {
				return ids, err
			}
			ids = append(ids, NormalizeMessageID(resp.MessageID, op.cfg.SubmitIDFormat))
		}
		return ids, nil
	})
	switch {
	case errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests):
		return nil, fmt.Errorf("%w: %s: %w", ErrOperatorUnavailable, op.cfg.Name, err)
	case errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrOutcomeUnknown) && ctx.Err() != nil:
		// Waiting for a window slot or the rate limit: this segment was
		// never written.
		return ids, fmt.Errorf("%w: %s: no submit slot within %v: %w", ErrOperatorUnavailable, op.cfg.Name, op.cfg.SubmitTimeout, err)
	}
	return ids, err
}

// Status reports every bind's state, for readiness checks.
func (p *Pool) Status() []BindStatus {
	var out []BindStatus
	for _, op := range p.ops {
		for _, c := range op.clients {
			out = append(out, c.Status())
		}
	}
	return out
}

// BreakerState returns the breaker state of an operator ("closed",
// "half-open", "open"), or "" for an unknown operator.
func (p *Pool) BreakerState(operator string) string {
	for _, op := range p.ops {
		if op.cfg.Name == operator {
			return op.cb.State().String()
		}
	}
	return ""
}

// inboundView is the part of deliver_sm/data_sm the pool needs.
type inboundView struct {
	src, dst      string
	esm, pid, dcs byte
	ud            []byte
	tlvs          TLVs
}

func viewOf(req PDU) (inboundView, bool) {
	switch q := req.(type) {
	case *DeliverSM:
		return inboundView{q.SourceAddr, q.DestAddr, q.ESMClass, q.ProtocolID, q.DataCoding, q.UserData(), q.TLVs}, true
	case *DataSM:
		pl, _ := q.TLVs.MessagePayload()
		return inboundView{q.SourceAddr, q.DestAddr, q.ESMClass, 0, q.DataCoding, pl, q.TLVs}, true
	}
	return inboundView{}, false
}

// handlerStatus maps a Handler result to the deliver_sm_resp status.
func handlerStatus(err error) CommandStatus {
	switch {
	case err == nil:
		return StatusOK
	case errors.Is(err, ErrPermanent):
		return StatusXPAppn
	}
	return StatusXTAppn
}

// inbound handles one deliver_sm/data_sm on a worker goroutine.
func (p *Pool) inbound(ctx context.Context, op *operatorState, req PDU) CommandStatus {
	v, ok := viewOf(req)
	if !ok {
		return StatusInvCmdID
	}
	name := op.cfg.Name
	if p.handler == nil {
		return StatusXTAppn
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.InboundTimeout)
	defer cancel()
	if IsReceipt(v.esm) {
		p.m.deliverReceived.WithLabelValues(name, "receipt").Inc()
		r, err := ParseReceipt(v.ud, v.tlvs, op.cfg.ReceiptIDFormat)
		if err != nil {
			p.log.Warn("smpp unparseable receipt", "operator", name, "err", err)
			return StatusXPAppn // redelivering it would not make it parseable
		}
		r.Operator, r.Source, r.Dest = name, v.src, v.dst
		p.m.receipts.WithLabelValues(name, r.State.String()).Inc()
		return handlerStatus(p.handler.HandleReceipt(ctx, r))
	}
	p.m.deliverReceived.WithLabelValues(name, "mo").Inc()
	mo := MO{Operator: name, Source: v.src, Dest: v.dst, ESMClass: v.esm, ProtocolID: v.pid, DataCoding: v.dcs}
	var ies, body []byte
	var cc concat
	if v.esm&ESMClassUDHI != 0 {
		var err error
		if ies, cc, body, err = splitUDH(v.ud); err != nil {
			p.log.Warn("smpp malformed MO UDH", "operator", name, "err", err)
			return StatusXPAppn
		}
	} else {
		body = v.ud
	}
	if !cc.present {
		if ref, total, seq, ok := v.tlvs.SAR(); ok {
			cc = concat{ref: ref, total: total, seq: seq, kind: 's', present: true}
		}
	}
	if !cc.present || cc.total == 1 {
		if cc.present { // a one-part "concatenation": drop the IE
			mo.UserData = buildUD(ies, body)
		} else {
			mo.UserData = append([]byte(nil), v.ud...)
		}
		if cc.present && len(ies) == 0 {
			mo.ESMClass &^= ESMClassUDHI
		}
		return handlerStatus(p.handler.HandleMO(ctx, mo))
	}
	return p.inboundSegment(ctx, name, mo, cc, packPart(ies, body))
}

// inboundSegment stores one part of a concatenated MO and, once the part
// completes the message, hands the whole message to the Handler.
func (p *Pool) inboundSegment(ctx context.Context, name string, mo MO, cc concat, part []byte) CommandStatus {
	key := segmentKey(name, mo.Source, cc.kind, cc.ref, cc.total)
	parts, err := p.segs.Add(ctx, mo.Source, key, int(cc.total), int(cc.seq), part)
	switch {
	case errors.Is(err, ErrSegmentRefused):
		p.m.reassembly.WithLabelValues(name, "refused").Inc()
		return StatusOK
	case errors.Is(err, ErrBadValue):
		return StatusXPAppn
	case err != nil:
		p.m.reassembly.WithLabelValues(name, "dropped").Inc()
		p.log.Warn("smpp MO segment not stored", "operator", name, "err", err)
		return StatusXTAppn
	case parts == nil:
		p.m.reassembly.WithLabelValues(name, "held").Inc()
		return StatusOK
	}
	whole, udh, err := joinParts(parts)
	if err != nil {
		return StatusXPAppn
	}
	mo.UserData = whole
	if udh {
		mo.ESMClass |= ESMClassUDHI
	} else {
		mo.ESMClass &^= ESMClassUDHI
	}
	st := handlerStatus(p.handler.HandleMO(ctx, mo))
	if st != StatusXTAppn {
		// Handled (or refused for good): forget the parts. On a temporary
		// failure they stay, so the SMSC's redelivery of this part completes
		// the message again.
		if err := p.segs.Done(ctx, mo.Source, key); err != nil {
			p.log.Warn("smpp segment store", "operator", name, "err", err)
		}
		p.m.reassembly.WithLabelValues(name, "completed").Inc()
	}
	return st
}
