package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/gateway/trust"
)

// ServerOptions configure the portal API and what serves it: the session
// service, the correlator, callbacks. The zero value of every optional
// field is safe; Store, Sender, OTA and at least one portal are required
// (Start fills in the first three).
type ServerOptions struct {
	Store   Store
	Sender  Sender
	OTA     OTA
	Portals []Portal

	// Logger receives JSON or text lines; nil discards. Phone numbers are
	// logged only as a keyed hash and masked, never User IDs or signatures.
	Logger *slog.Logger
	// Registerer receives the gateway's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// LogKey keys the phone-number hash in logs (random when empty, so the
	// hashes of one process can be correlated but not reversed by lookup tables).
	LogKey []byte

	// UserTimeout is how long the applet waits for the user (10 s–255 s, default 60 s).
	UserTimeout time.Duration
	// DeliveryGrace is added to UserTimeout for the SMS round trips (default 30 s).
	DeliveryGrace time.Duration
	// IdempotencyTTL is how long an Idempotency-Key maps to its session
	// (default 15 s). The store enforces it; Start passes it on.
	IdempotencyTTL time.Duration
	// MaxLongPoll bounds timeoutMs of GET /v1/sessions/{id} (default 120 s).
	MaxLongPoll time.Duration

	// Callbacks tune the callback dispatcher.
	Callbacks CallbackOptions

	// Trust checks certificates against the certification authority at
	// the start and again at reply time (docs/trust.md). Nil checks
	// nothing beyond the registry's word; Start always builds one.
	Trust *trust.Checker
	// RevocationPolicy is the default of each operation when no status
	// can be had; a portal's RevocationPolicy overrides it.
	RevocationPolicy RevocationPolicy

	// AdES configures CAdES and ASiC-E signatures (docs/ades.md).
	AdES AdESOptions

	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// LookupEnv reads callback secrets; nil uses no environment.
	LookupEnv func(string) (string, bool)

	// Audit, when set, receives a record of every session start,
	// completion and callback delivery (docs/audit.md); Start sets it from
	// Options.Audit.
	Audit *audit.Trail
}

// Limits of ServerOptions (docs/applet-protocol.md §3, tag 88: the
// applet's user timeout is one octet of seconds, at least 10).
const (
	minUserTimeout = 10 * time.Second
	maxUserTimeout = 255 * time.Second
)

// validate sets the defaults of zero fields and rejects bad values. The
// Sender is checked by NewServer: the rest is built before it exists.
func (o *ServerOptions) validate() error {
	switch {
	case o.Store == nil || o.OTA == nil:
		return errors.New("gateway: ServerOptions.Store and OTA are required")
	case len(o.Portals) == 0:
		return errNoPortals
	case o.UserTimeout != 0 && (o.UserTimeout < minUserTimeout || o.UserTimeout > maxUserTimeout):
		return fmt.Errorf("gateway: UserTimeout must be within 10 s–255 s (docs/applet-protocol.md §3, tag 88), not %v", o.UserTimeout)
	case o.DeliveryGrace < 0 || o.MaxLongPoll < 0 || o.IdempotencyTTL < 0:
		return errors.New("gateway: DeliveryGrace, MaxLongPoll and IdempotencyTTL cannot be negative")
	}
	if o.UserTimeout == 0 {
		o.UserTimeout = 60 * time.Second
	}
	if o.DeliveryGrace == 0 {
		o.DeliveryGrace = 30 * time.Second
	}
	if o.MaxLongPoll == 0 {
		o.MaxLongPoll = 120 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry() // a private sink: metrics still work, nobody scrapes them
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.LogKey) == 0 {
		o.LogKey = make([]byte, 32)
		_, _ = rand.Read(o.LogKey)
	}
	if o.AdES.Chains == nil && len(o.AdES.CACertificates) == 0 && o.Trust != nil && o.Trust.Mode() != trust.ModeProvisionedOnly {
		// Containers carry the very path that validation found, so a
		// portal's verifier and the gateway agree on the chain.
		o.AdES.Chains = trustChains{c: o.Trust, now: o.Now}
	}
	if err := o.AdES.validate(); err != nil {
		return err
	}
	return o.Callbacks.validate()
}

// core is every part of the gateway but the start flow: the metrics, the
// portals, the completer and the correlator. It needs no Sender, so the
// correlator exists before the SMPP pool that delivers to it.
type core struct {
	opts    ServerOptions
	metrics *metrics
	ades    *adesSigner
	portals *portals
	view    *viewer
	done    *completer
	corr    *correlator
	trust   *certChecker
}

// newCore validates opts and builds the core; it starts the callback
// workers (core.done.close stops them).
func newCore(opts ServerOptions) (*core, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ps, err := newPortals(opts.Portals, opts.LookupEnv)
	if err != nil {
		return nil, err
	}
	m := newMetrics(opts.Registerer, ps.list)
	view := &viewer{store: opts.Store, now: opts.Now}
	done := &completer{
		store: opts.Store, metrics: m, view: view, portals: ps, callbacks: newCallbacks(opts.Callbacks, m, opts.Logger),
		msgs: newMsgIndex(), submits: newSubmitGate(), pending: newPendingSubmits(), now: opts.Now,
	}
	done.timeouts = newTimeouts(done.expire)
	cc := &certChecker{c: opts.Trust, defaults: opts.RevocationPolicy, portals: ps, metrics: newTrustMetrics(opts.Registerer), log: opts.Logger}
	if opts.Trust == nil {
		opts.Logger.Warn("no certificate trust checker: certificates are judged by the registry alone")
	} else {
		cc.metrics.setMode(opts.Trust.Mode())
	}
	if opts.Audit != nil {
		done.audit = &auditHooks{t: opts.Audit, portals: ps}
		done.callbacks.audit = done.audit
	}
	signer := &adesSigner{chains: opts.AdES.Chains, maxDocuments: opts.AdES.MaxDocuments}
	corr := &correlator{store: opts.Store, ota: opts.OTA, done: done, ades: signer, metrics: m, log: opts.Logger, logKey: opts.LogKey, now: opts.Now, trust: cc}
	return &core{opts: opts, metrics: m, ades: signer, portals: ps, view: view, done: done, corr: corr, trust: cc}, nil
}

// server adds the session service over sender and the HTTP layer on top.
func (c *core) server(sender Sender) *Server {
	svc := &sessionService{
		store: c.opts.Store, sender: sender, ota: c.opts.OTA, done: c.done, ades: c.ades, metrics: c.metrics, logKey: c.opts.LogKey,
		now: c.opts.Now, userTimeout: c.opts.UserTimeout, ttl: c.opts.UserTimeout + c.opts.DeliveryGrace, trust: c.trust,
	}
	svc.draining, svc.drain = context.WithCancel(context.Background())
	c.corr.resend = &resender{store: c.opts.Store, ota: c.opts.OTA, sender: sender, done: c.done, metrics: c.metrics,
		userTimeout: c.opts.UserTimeout, now: c.opts.Now}
	s := &Server{
		svc: svc, done: c.done, corr: c.corr, store: c.opts.Store, view: c.view, portals: c.portals,
		metrics: c.metrics, log: c.opts.Logger, maxPoll: c.opts.MaxLongPoll, trust: c.trust,
		budget: newUserIDBudgets(c.opts.Store, c.metrics, c.portals.list, c.opts.LogKey, c.opts.Now),
	}
	s.handler = s.instrument(s.cleanPaths(s.routes()))
	return s
}

// Server is the portal API over the session service: routes, handlers,
// request ids, instrumentation and the one place errors become answers.
type Server struct {
	svc     *sessionService
	done    *completer
	corr    *correlator
	store   Store
	view    *viewer
	portals *portals
	metrics *metrics
	log     *slog.Logger
	maxPoll time.Duration
	handler http.Handler
	trust   *certChecker
	budget  *userIDBudgets
}

// NewServer validates the options and builds the portal API over its
// Store, Sender and OTA. It starts the callback workers; Close stops them.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Sender == nil {
		return nil, errors.New("gateway: ServerOptions.Sender is required")
	}
	c, err := newCore(opts)
	if err != nil {
		return nil, err
	}
	return c.server(opts.Sender), nil
}

// Handler returns the portal API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Drain makes running long-polls answer now with the session's current
// state, so a graceful shutdown does not wait for them (portals poll
// again, on another instance), and refuses new sessions.
func (s *Server) Drain() { s.svc.drain() }

// Close drains, stops the timeout timers and lets queued callbacks go out,
// within ctx. In-flight sessions keep running in the store: another
// instance, or the store's own expiry, finishes them.
func (s *Server) Close(ctx context.Context) error {
	s.Drain()
	return s.done.close(ctx)
}

// Authenticated serves next only for a request with a portal's valid API
// key (and, for a portal bound to one, its client certificate); any other
// is answered as the API answers it, 401 problem+json. A program that
// embeds the API uses it for endpoints of its own beside it.
func (s *Server) Authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.authPortal(w, r) != nil {
			next.ServeHTTP(w, r)
		}
	})
}
