package smpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BindConfig is one bind to an operator's SMSC. Zero values get the defaults
// noted on each field.
type BindConfig struct {
	// Name labels the bind in metrics and Status; default "<system_id>@<addr>".
	Name string
	// Addr is host:port of the SMSC.
	Addr       string
	SystemID   string
	Password   string
	SystemType string
	// AddressRange is sent in the bind (rarely needed).
	AddressRange string
	// Type is the bind type; default BindTransceiver.
	Type BindType
	// Window is the number of submits in flight; default 10.
	Window int
	// TPS limits this bind's submit_sm per second (segments); 0 = no limit.
	TPS float64
	// SourceAddr, SourceTON, SourceNPI fill submit_sm source fields left
	// empty. TON/NPI default to 1/1 when SourceAddr is digits only.
	SourceAddr           string
	SourceTON, SourceNPI byte
	// TLS, when set, wraps the connection (operators using SMPP over TLS).
	TLS *tls.Config
	// EnquireLinkInterval: idle time before enquire_link; default 30 s.
	EnquireLinkInterval time.Duration
	// EnquireLinkTimeout: wait for enquire_link_resp; default 10 s.
	EnquireLinkTimeout time.Duration
	// RequestTimeout: wait for each response; default 30 s.
	RequestTimeout time.Duration
	// DialTimeout bounds connect and TLS handshake; default 10 s.
	DialTimeout time.Duration
	// BindTimeout bounds the wait for the bind response; default 15 s.
	BindTimeout time.Duration
	// ReconnectMin/ReconnectMax: exponential back-off bounds between
	// attempts, with full jitter; defaults 1 s and 60 s.
	ReconnectMin, ReconnectMax time.Duration
	// AlreadyBoundDelay: wait after ESME_RALYBND (the SMSC still holds our
	// previous session); default 30 s.
	AlreadyBoundDelay time.Duration
	// ThrottlePause: first bind-wide pause after ESME_RTHROTTLED or
	// ESME_RMSGQFUL, doubling on repeats up to 30×; default 1 s.
	ThrottlePause time.Duration
	// MaxRetries bounds resubmissions of one segment after a temporary
	// status (throttling included); default 5.
	MaxRetries int
	// RetryStatuses lists vendor-specific statuses (0x400–0x4FF) to treat
	// as temporary on this bind.
	RetryStatuses []CommandStatus
}

func (c *BindConfig) setDefaults() {
	if c.Name == "" {
		c.Name = c.SystemID + "@" + c.Addr
	}
	if c.Window <= 0 {
		c.Window = 10
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.BindTimeout <= 0 {
		c.BindTimeout = 15 * time.Second
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = time.Second
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = 60 * time.Second
		if c.ReconnectMax < c.ReconnectMin {
			c.ReconnectMax = c.ReconnectMin
		}
	}
	if c.AlreadyBoundDelay <= 0 {
		c.AlreadyBoundDelay = 30 * time.Second
	}
	if c.ThrottlePause <= 0 {
		c.ThrottlePause = time.Second
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = 5
	}
	if c.SourceTON == 0 && c.SourceNPI == 0 && isDigits(c.SourceAddr) {
		c.SourceTON, c.SourceNPI = 1, 1
	}
}

func (c *BindConfig) validate() error {
	switch {
	case c.Addr == "":
		return errors.New("smpp: bind: empty addr")
	case len(c.SystemID) >= maxSystemID:
		return fmt.Errorf("smpp: bind %s: system_id longer than %d", c.Name, maxSystemID-1)
	case len(c.Password) >= maxPassword:
		return fmt.Errorf("smpp: bind %s: password longer than %d", c.Name, maxPassword-1)
	case len(c.SystemType) >= maxSystemType:
		return fmt.Errorf("smpp: bind %s: system_type longer than %d", c.Name, maxSystemType-1)
	case c.Type > BindReceiver:
		return fmt.Errorf("smpp: bind %s: invalid type %d", c.Name, c.Type)
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("smpp: bind %s: %w", c.Name, err)
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// InboundFunc handles one deliver_sm or data_sm and returns the
// command_status of the response. It runs on a worker goroutine, never on
// the reader.
type InboundFunc func(ctx context.Context, req PDU) CommandStatus

// ClientOptions are the parts of a Client that are not bind configuration.
type ClientOptions struct {
	// Operator labels metrics; default "default".
	Operator string
	// Inbound handles deliver_sm/data_sm; nil answers ESME_RX_T_APPN.
	Inbound InboundFunc
	// InboundWorkers and InboundQueue size the inbound stage; defaults 4
	// and 256. When the queue is full the reader answers ESME_RX_T_APPN.
	InboundWorkers, InboundQueue int
	// Logger; nil discards.
	Logger *slog.Logger
	// Registerer for a standalone client's metrics; nil registers nothing.
	Registerer prometheus.Registerer

	metrics *metrics
	account *limiter
}

// BindStatus is a bind's state for readiness checks.
type BindStatus struct {
	Operator  string
	Bind      string
	Bound     bool
	State     SessionState
	LastError string
	// Stopped is true when the client gave up (credentials rejected).
	Stopped bool
}

type inboundItem struct {
	s *Session
	p PDU
}

// Client keeps one configured bind up: it dials, binds, reconnects with
// capped exponential back-off and jitter, rate-limits submits and hands
// inbound messages to workers. Safe for concurrent use.
type Client struct {
	cfg  BindConfig
	opts ClientOptions
	log  *slog.Logger
	m    *metrics
	lim  *limiter

	mu      sync.Mutex
	sess    *Session
	lastErr error
	stopped bool
	started bool

	inq        chan inboundItem
	cancel     context.CancelFunc // ends the inbound workers
	connCancel context.CancelFunc // aborts a dial or bind in progress
	closeCtx   context.Context    // bounds the graceful unbind in run
	closeErr   error
	stop       chan struct{}
	runDone    chan struct{}
	wg         sync.WaitGroup
	closed     sync.Once
}

// NewClient validates cfg and returns a client; Start dials.
func NewClient(cfg BindConfig, opts ClientOptions) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if opts.Operator == "" {
		opts.Operator = "default"
	}
	if opts.InboundWorkers <= 0 {
		opts.InboundWorkers = 4
	}
	if opts.InboundQueue <= 0 {
		opts.InboundQueue = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.metrics == nil {
		opts.metrics = newMetrics(opts.Registerer)
	}
	c := &Client{
		cfg:     cfg,
		opts:    opts,
		log:     opts.Logger.With("operator", opts.Operator, "bind", cfg.Name),
		m:       opts.metrics,
		lim:     newLimiter(cfg.TPS, cfg.ThrottlePause, 30*cfg.ThrottlePause),
		inq:     make(chan inboundItem, opts.InboundQueue),
		stop:    make(chan struct{}),
		runDone: make(chan struct{}),
	}
	c.m.initBind(opts.Operator, cfg.Name)
	return c, nil
}

// Name returns the bind's name.
func (c *Client) Name() string { return c.cfg.Name }

// Start dials and keeps the bind up in the background until Close.
func (c *Client) Start(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started || c.isStopping() {
		return
	}
	c.started = true
	ctx, c.cancel = context.WithCancel(context.WithoutCancel(ctx))
	for range c.opts.InboundWorkers {
		c.wg.Add(1)
		go c.inboundWorker(ctx)
	}
	var connCtx context.Context
	connCtx, c.connCancel = context.WithCancel(ctx)
	go c.run(connCtx)
}

func (c *Client) isStopping() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// session returns the bound session able to submit, or nil.
func (c *Client) session() *Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != nil && c.sess.State().CanSubmit() {
		return c.sess
	}
	return nil
}

// Bound reports whether the bind is up and can submit (receiver binds:
// whether it is up).
func (c *Client) Bound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return false
	}
	st := c.sess.State()
	return st == SessionBoundTX || st == SessionBoundRX || st == SessionBoundTRX
}

// CanSubmit reports whether the bind type allows submit_sm.
func (c *Client) CanSubmit() bool { return c.cfg.Type.CanSubmit() }

// Status returns the bind's state and last error.
func (c *Client) Status() BindStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := BindStatus{Operator: c.opts.Operator, Bind: c.cfg.Name, State: SessionClosed, Stopped: c.stopped}
	if c.sess != nil {
		st.State = c.sess.State()
		st.Bound = st.State == SessionBoundTX || st.State == SessionBoundRX || st.State == SessionBoundTRX
	}
	if c.lastErr != nil {
		st.LastError = c.lastErr.Error()
	}
	return st
}

func (c *Client) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

// run is the reconnect loop.
func (c *Client) run(ctx context.Context) {
	defer close(c.runDone)
	backoff := c.cfg.ReconnectMin
	for {
		if c.isStopping() {
			return
		}
		sess, err := c.connect(ctx)
		if err != nil {
			c.setErr(err)
			wait := backoff
			var se *StatusError
			switch {
			case errors.As(err, &se) && (se.Status == StatusInvPaswd || se.Status == StatusInvSysID || se.Status == StatusBindFail):
				// Credentials refused: hammering would not help and may get
				// the account locked. Stop and report.
				c.log.Error("smpp bind rejected; not retrying", "status", se.Status.String())
				c.m.bindErrors.WithLabelValues(c.opts.Operator, c.cfg.Name, se.Status.String()).Inc()
				c.mu.Lock()
				c.stopped = true
				c.lastErr = fmt.Errorf("%w: %s", ErrBindRejected, se.Status)
				c.mu.Unlock()
				return
			case errors.As(err, &se) && se.Status == StatusAlyBnd:
				c.m.bindErrors.WithLabelValues(c.opts.Operator, c.cfg.Name, se.Status.String()).Inc()
				wait = c.cfg.AlreadyBoundDelay
			case errors.As(err, &se):
				c.m.bindErrors.WithLabelValues(c.opts.Operator, c.cfg.Name, se.Status.String()).Inc()
			default:
				c.m.bindErrors.WithLabelValues(c.opts.Operator, c.cfg.Name, "connect").Inc()
			}
			c.log.Warn("smpp bind failed", "err", err, "retry_in", wait)
			if !c.sleep(ctx, jitter(wait)) {
				return
			}
			backoff = nextBackoff(backoff, c.cfg.ReconnectMax)
			continue
		}
		backoff = c.cfg.ReconnectMin
		c.mu.Lock()
		c.sess = sess
		c.lastErr = nil
		c.mu.Unlock()
		c.m.bindUp.WithLabelValues(c.opts.Operator, c.cfg.Name).Set(1)
		c.log.Info("smpp bound", "type", c.cfg.Type.String())
		select {
		case <-sess.Closing():
		case <-c.stop:
		}
		c.m.bindUp.WithLabelValues(c.opts.Operator, c.cfg.Name).Set(0)
		if c.isStopping() {
			c.mu.Lock()
			cctx := c.closeCtx
			c.mu.Unlock()
			err := sess.Close(cctx) // drain in-flight submits, unbind, close
			c.mu.Lock()
			c.closeErr = err
			c.mu.Unlock()
			return
		}
		sess.Abort() // the old socket is closed before we dial again
		reason := sess.Reason()
		c.setErr(fmt.Errorf("smpp: session lost: %s", reason))
		c.m.reconnects.WithLabelValues(c.opts.Operator, c.cfg.Name, reason.String()).Inc()
		c.log.Warn("smpp session lost", "reason", reason.String())
		c.mu.Lock()
		c.sess = nil
		c.mu.Unlock()
		if !c.sleep(ctx, jitter(c.cfg.ReconnectMin)) {
			return
		}
	}
}

// nextBackoff doubles b up to max.
func nextBackoff(b, max time.Duration) time.Duration {
	if b *= 2; b > max || b <= 0 {
		return max
	}
	return b
}

// jitter returns a duration uniformly in [d/2, d] so that many binds do not
// reconnect in lockstep after an outage.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	case <-ctx.Done():
		return false
	}
}

// connect dials (with TLS if configured) and binds.
func (c *Client) connect(ctx context.Context) (*Session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var nc net.Conn
	var err error
	if c.cfg.TLS != nil {
		d := tls.Dialer{Config: c.cfg.TLS}
		nc, err = d.DialContext(dctx, "tcp", c.cfg.Addr)
	} else {
		var d net.Dialer
		nc, err = d.DialContext(dctx, "tcp", c.cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("smpp: dial %s: %w", c.cfg.Name, err)
	}
	op, name := c.opts.Operator, c.cfg.Name
	hooks := &sessionHooks{
		response: func(cmd CommandID, status CommandStatus, rtt time.Duration) {
			if cmd == SubmitSMID {
				c.m.submitDuration.WithLabelValues(op).Observe(rtt.Seconds())
			}
		},
		late:   func() { c.m.lateResponses.WithLabelValues(op, name).Inc() },
		window: func(n int) { c.m.windowInUse.WithLabelValues(op, name).Set(float64(n)) },
		enquireLink: func(rtt time.Duration, err error) {
			if err != nil {
				c.m.enquireFailures.WithLabelValues(op, name).Inc()
				return
			}
			c.m.enquireDuration.WithLabelValues(op).Observe(rtt.Seconds())
		},
	}
	sess := NewSession(nc, SessionOptions{
		Window:              c.cfg.Window,
		RequestTimeout:      c.cfg.RequestTimeout,
		EnquireLinkInterval: c.cfg.EnquireLinkInterval,
		EnquireLinkTimeout:  c.cfg.EnquireLinkTimeout,
		Handler:             c.onRequest,
		Logger:              c.log,
		hooks:               hooks,
	})
	bctx, bcancel := context.WithTimeout(ctx, c.cfg.BindTimeout)
	defer bcancel()
	_, err = sess.Bind(bctx, &Bind{Type: c.cfg.Type, SystemID: c.cfg.SystemID, Password: c.cfg.Password,
		SystemType: c.cfg.SystemType, AddressRange: c.cfg.AddressRange})
	if err != nil {
		sess.Abort()
		return nil, fmt.Errorf("smpp: bind %s: %w", c.cfg.Name, err)
	}
	return sess, nil
}

// onRequest runs on the reader goroutine: it only queues.
func (c *Client) onRequest(s *Session, p PDU) {
	switch p.(type) {
	case *DeliverSM, *DataSM:
		select {
		case c.inq <- inboundItem{s, p}:
		default:
			// Full: ask the SMSC to redeliver later rather than block the reader.
			c.m.deliverAnswered.WithLabelValues(c.opts.Operator, StatusXTAppn.String()).Inc()
			_ = s.Respond(ResponseTo(p, StatusXTAppn))
		}
	case *AlertNotification, *Outbind:
		c.log.Debug("smpp ignored request", "command_id", p.CommandID().String())
	default:
		if r := ResponseTo(p, StatusInvCmdID); r != nil {
			_ = s.Respond(r)
		}
	}
}

func (c *Client) inboundWorker(ctx context.Context) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case it := <-c.inq:
			st := StatusXTAppn
			if c.opts.Inbound != nil {
				st = c.opts.Inbound(ctx, it.p)
			}
			c.m.deliverAnswered.WithLabelValues(c.opts.Operator, st.String()).Inc()
			_ = it.s.Respond(ResponseTo(it.p, st))
		}
	}
}

// Submit sends one submit_sm over this bind, applying the TPS limits, and
// retries temporary failures (throttling first, with priority) up to
// MaxRetries. Source fields left empty are filled from the configuration.
// The SubmitSM's sequence number is assigned here.
//
// Errors: ErrNotBound when the bind is down (nothing sent), ErrOutcomeUnknown
// when the link dropped or the response deadline passed with the request in
// flight, *StatusError for a permanent status or when retries ran out.
func (c *Client) Submit(ctx context.Context, sm *SubmitSM) (*SubmitSMResp, error) {
	if sm.SourceAddr == "" {
		sm.SourceAddr, sm.SourceTON, sm.SourceNPI = c.cfg.SourceAddr, c.cfg.SourceTON, c.cfg.SourceNPI
	}
	prio := false
	for attempt := 0; ; attempt++ {
		if err := c.opts.account.wait(ctx, prio); err != nil {
			return nil, err
		}
		if err := c.lim.wait(ctx, prio); err != nil {
			return nil, err
		}
		sess := c.session()
		if sess == nil {
			return nil, ErrNotBound
		}
		resp, err := sess.Submit(ctx, sm)
		var se *StatusError
		switch {
		case err == nil:
			c.m.submits.WithLabelValues(c.opts.Operator, StatusOK.String()).Inc()
			c.lim.success()
			c.opts.account.success()
			return resp, nil
		case errors.As(err, &se):
			c.m.submits.WithLabelValues(c.opts.Operator, se.Status.String()).Inc()
			class := c.classify(se.Status)
			if se.Status.Throttling() {
				c.m.throttles.WithLabelValues(c.opts.Operator, c.cfg.Name).Inc()
				c.lim.throttled()
				c.opts.account.throttled()
			}
			if class == ClassRebind && attempt < c.cfg.MaxRetries {
				// The SMSC thinks we are not bound: drop the session so the
				// loop rebinds; the message was not accepted, so it is safe
				// to send again once bound.
				go sess.Abort()
				if !c.waitBound(ctx, sess) {
					return resp, err
				}
				prio = true
				continue
			}
			if class != ClassRetry || attempt >= c.cfg.MaxRetries {
				return resp, err
			}
			if !se.Status.Throttling() {
				if !c.sleep(ctx, jitter(c.cfg.ThrottlePause<<min(attempt, 5))) {
					return resp, err
				}
			}
			prio = true
		case errors.Is(err, ErrOutcomeUnknown):
			c.m.submits.WithLabelValues(c.opts.Operator, "outcome_unknown").Inc()
			return nil, err
		case errors.Is(err, ErrClosed) || errors.Is(err, ErrNotBound):
			// The session ended before the request was written: nothing
			// reached the SMSC, so the caller may safely try again.
			if c.isStopping() {
				return nil, ErrClosed
			}
			return nil, fmt.Errorf("%w: session ended before sending", ErrNotBound)
		default:
			return nil, err
		}
	}
}

// classify applies the per-bind overrides to Class.
func (c *Client) classify(s CommandStatus) StatusClass {
	for _, r := range c.cfg.RetryStatuses {
		if r == s {
			return ClassRetry
		}
	}
	return s.Class()
}

// waitBound waits (bounded by the bind timeout) for a new session to replace
// old.
func (c *Client) waitBound(ctx context.Context, old *Session) bool {
	deadline := time.NewTimer(c.cfg.BindTimeout + c.cfg.ReconnectMin)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := c.session(); s != nil && s != old {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-c.stop:
			return false
		case <-tick.C:
		}
	}
}

// Close stops reconnecting, drains in-flight requests, unbinds and closes,
// bounded by ctx and an internal cap. Idempotent.
func (c *Client) Close(ctx context.Context) error {
	c.closed.Do(func() {
		c.mu.Lock()
		c.closeCtx = ctx
		started := c.started
		c.mu.Unlock()
		close(c.stop)
		if !started {
			return
		}
		c.connCancel()
		select {
		case <-c.runDone:
		case <-ctx.Done():
			c.mu.Lock()
			c.closeErr = ctx.Err()
			c.mu.Unlock()
		}
		c.cancel()
		done := make(chan struct{})
		go func() { c.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			c.mu.Lock()
			c.closeErr = ctx.Err()
			c.mu.Unlock()
		}
		c.m.bindUp.WithLabelValues(c.opts.Operator, c.cfg.Name).Set(0)
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}
