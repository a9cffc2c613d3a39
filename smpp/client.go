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
	"sync/atomic"
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
// the reader, and must return once ctx ends: Run waits for it.
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
	// Dial opens the transport to BindConfig.Addr (network "tcp") within
	// the ctx it is given, which carries BindConfig.DialTimeout. When
	// BindConfig.TLS is set, the handshake runs over the returned
	// connection. nil uses a net.Dialer; tests pass one end of a net.Pipe.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
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

// Client keeps one configured bind up while Run runs: it dials, binds,
// reconnects with capped exponential back-off and jitter, rate-limits
// submits and hands inbound messages to workers. Submit and Status are safe
// for concurrent use with Run.
type Client struct {
	cfg  BindConfig
	opts ClientOptions
	log  *slog.Logger
	m    *metrics
	lim  *limiter
	inq  chan inboundItem

	started  atomic.Bool   // Run may be called once
	stop     chan struct{} // closed once Run starts to stop: Submit then says ErrClosed
	stopOnce sync.Once

	mu      sync.Mutex
	sess    *Session
	changed chan struct{} // closed and replaced whenever sess changes
	lastErr error
	stopped bool
}

// NewClient validates cfg and returns a client; Run dials.
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
		changed: make(chan struct{}),
	}
	c.m.initBind(opts.Operator, cfg.Name)
	return c, nil
}

// Name returns the bind's name.
func (c *Client) Name() string { return c.cfg.Name }

// Run owns the whole life of the bind: it dials, binds, and after a lost
// session or a failed bind dials again with capped exponential back-off and
// jitter, until ctx ends. Then it stops taking submits, waits for those in
// flight, sends unbind, waits for unbind_resp (5 s at most) and closes the
// socket, all within 10 s even if the SMSC never answers; then it stops the
// inbound workers (ending the context their InboundFunc got) and returns
// nil.
//
// A bind the SMSC refuses as bad credentials (ESME_RBINDFAIL,
// ESME_RINVPASWD, ESME_RINVSYSID) is not retried: hammering would not help
// and may lock the account. Run then returns an error wrapping
// ErrBindRejected. Run may be called once; after it returns, Submit fails
// with ErrClosed.
func (c *Client) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return fmt.Errorf("smpp: bind %s: Run called twice", c.cfg.Name)
	}
	stopWatch := context.AfterFunc(ctx, c.markStopping)
	defer stopWatch()
	// The workers outlive ctx: deliver_sm arriving while we unbind is still
	// answered, so the SMSC need not redeliver it.
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	var workers sync.WaitGroup
	for range c.opts.InboundWorkers {
		workers.Go(func() { c.inboundWorker(wctx) })
	}
	err := c.keepBound(ctx)
	c.markStopping()
	stopWorkers()
	workers.Wait()
	c.m.bindUp.WithLabelValues(c.opts.Operator, c.cfg.Name).Set(0)
	return err
}

// markStopping makes Submit and its retry waits give up: Run is ending.
func (c *Client) markStopping() { c.stopOnce.Do(func() { close(c.stop) }) }

func (c *Client) isStopping() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// setSession publishes sess (nil when there is none) and wakes waitBound.
func (c *Client) setSession(sess *Session) {
	c.mu.Lock()
	c.sess = sess
	if sess != nil {
		c.lastErr = nil
	}
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
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

// keepBound is the reconnect loop. It returns nil once ctx has ended and the
// last session is closed, or the error that makes retrying pointless.
func (c *Client) keepBound(ctx context.Context) error {
	backoff := c.cfg.ReconnectMin
	for {
		sess, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait, perr := c.bindFailed(err, backoff)
			if perr != nil {
				return perr
			}
			if !c.sleep(ctx, jitter(wait)) {
				return nil
			}
			backoff = nextBackoff(backoff, c.cfg.ReconnectMax)
			continue
		}
		backoff = c.cfg.ReconnectMin
		if !c.serve(ctx, sess) {
			return nil
		}
		if !c.sleep(ctx, jitter(c.cfg.ReconnectMin)) {
			return nil
		}
	}
}

// bindFailed counts and logs a failed connect or bind and returns how long
// to wait before the next attempt, or the permanent error that ends Run.
func (c *Client) bindFailed(err error, backoff time.Duration) (time.Duration, error) {
	c.setErr(err)
	label, wait := "connect", backoff
	var se *StatusError
	if errors.As(err, &se) {
		label = se.Status.String()
		switch se.Status {
		case StatusInvPaswd, StatusInvSysID, StatusBindFail:
			c.m.bindErrors.WithLabelValues(c.opts.Operator, c.cfg.Name, label).Inc()
			c.log.Error("smpp bind rejected; not retrying", "status", label)
			perr := fmt.Errorf("%w: bind %s: %s", ErrBindRejected, c.cfg.Name, se.Status)
			c.mu.Lock()
			c.stopped = true
			c.lastErr = perr
			c.mu.Unlock()
			return 0, perr
		case StatusAlyBnd:
			// The SMSC still holds our previous session: give it time to
			// notice that it is dead.
			wait = c.cfg.AlreadyBoundDelay
		}
	}
	c.m.bindErrors.WithLabelValues(c.opts.Operator, c.cfg.Name, label).Inc()
	c.log.Warn("smpp bind failed", "err", err, "retry_in", wait)
	return wait, nil
}

// serve publishes a bound session and waits until it ends or ctx ends. It
// reports whether the loop should dial again (false: ctx ended, and the
// session has been unbound).
func (c *Client) serve(ctx context.Context, sess *Session) bool {
	c.setSession(sess)
	c.m.bindUp.WithLabelValues(c.opts.Operator, c.cfg.Name).Set(1)
	c.log.Info("smpp bound", "type", c.cfg.Type.String())
	select {
	case <-sess.Closing():
	case <-ctx.Done():
	}
	c.m.bindUp.WithLabelValues(c.opts.Operator, c.cfg.Name).Set(0)
	if ctx.Err() != nil {
		c.unbind(sess)
		c.setSession(nil)
		return false
	}
	sess.Abort() // the old socket is closed before we dial again
	reason := sess.Reason()
	c.setSession(nil)
	c.setErr(fmt.Errorf("smpp: session lost: %s", reason))
	c.m.reconnects.WithLabelValues(c.opts.Operator, c.cfg.Name, reason.String()).Inc()
	c.log.Warn("smpp session lost", "reason", reason.String())
	return true
}

// unbind ends sess gracefully (SMPP 3.4 §4.2): Session.Close waits for the
// requests in flight, sends unbind, waits unbindTimeout for unbind_resp and
// closes the socket, capped at maxShutdown in all. Run's context is over by
// now, so the cap is the only bound.
func (c *Client) unbind(sess *Session) {
	if err := sess.Close(context.Background()); err != nil {
		c.log.Warn("smpp unbind", "err", err)
	}
	<-sess.Done() // the socket is closed: the session's goroutines are ending
	c.log.Info("smpp unbound")
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

// sleep waits d and reports whether it did, false when ctx ended or Run is
// stopping first.
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

// dial opens the transport (ClientOptions.Dial or TCP) and, when the bind
// has a TLS config, runs the handshake over it, all within ctx.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	dial := c.opts.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	nc, err := dial(ctx, "tcp", c.cfg.Addr)
	if err != nil || c.cfg.TLS == nil {
		return nc, err
	}
	conf := c.cfg.TLS
	if conf.ServerName == "" {
		// As tls.Dialer does: verify the certificate against the host we
		// dialled.
		host, _, _ := net.SplitHostPort(c.cfg.Addr)
		conf = conf.Clone()
		conf.ServerName = host
	}
	tc := tls.Client(nc, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	return tc, nil
}

// connect dials and binds.
func (c *Client) connect(ctx context.Context) (*Session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	nc, err := c.dial(dctx)
	cancel()
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

// inboundWorker answers queued deliver_sm/data_sm until ctx ends. What is
// still queued then goes unanswered, so the SMSC redelivers it.
func (c *Client) inboundWorker(ctx context.Context) {
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
// Submit may be called concurrently with Run and with itself. Errors:
// ErrNotBound when the bind is down or Run has not bound it yet (nothing
// sent), ErrClosed once Run is stopping or has returned (nothing sent),
// ErrOutcomeUnknown when the link dropped or the response deadline passed
// with the request in flight, *StatusError for a permanent status or when
// retries ran out.
func (c *Client) Submit(ctx context.Context, sm *SubmitSM) (*SubmitSMResp, error) {
	if sm.SourceAddr == "" {
		sm.SourceAddr, sm.SourceTON, sm.SourceNPI = c.cfg.SourceAddr, c.cfg.SourceTON, c.cfg.SourceNPI
	}
	prio := false
	for attempt := 0; ; attempt++ {
		if c.isStopping() { // not even a limiter wait once Run is ending
			return nil, ErrClosed
		}
		if err := c.opts.account.wait(ctx, prio); err != nil {
			return nil, fmt.Errorf("%w: %w", errRateWait, err)
		}
		if err := c.lim.wait(ctx, prio); err != nil {
			return nil, fmt.Errorf("%w: %w", errRateWait, err)
		}
		sess := c.session()
		if sess == nil {
			if c.isStopping() {
				return nil, ErrClosed
			}
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

// errRateWait marks a submit that ended while it waited for the TPS
// limit or a throttling pause: nothing was sent, and the operator's
// breaker does not count it.
var errRateWait = errors.New("smpp: waiting for the submit rate")

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
	for {
		c.mu.Lock()
		s, changed := c.sess, c.changed
		c.mu.Unlock()
		if s != nil && s != old && s.State().CanSubmit() {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-c.stop:
			return false
		case <-changed:
		}
	}
}
