package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// Options configure a complete gateway: the portal API, the admin listener,
// the session store on Redis, the SMPP binds and the OTA keys.
type Options struct {
	// HTTPAddr is the portal API listener (default 127.0.0.1:8080; ":0" picks a port).
	HTTPAddr string
	// TLS, when set, serves the API over TLS (set ClientAuth and ClientCAs
	// for mutual TLS; portals with ClientCertSHA256 then must present it).
	TLS *tls.Config
	// AdminAddr is the metrics listener: /metrics, /healthz, /readyz and
	// /debug/pprof/ (default 127.0.0.1:9090). "off" disables it. (It kept
	// its old name; the admin API has its own listener, AdminAPI.Addr.)
	AdminAddr string
	// Handler, when set, builds the API listener's handler from the portal
	// API (nil serves s.Handler()): a program that embeds the gateway adds
	// its own pages around the API with it.
	Handler func(s *Server) http.Handler

	// Redis is the client of the session store (single, Sentinel or Cluster).
	// Build it with sessions.ClientOptions so per-call deadlines work. It
	// belongs to the caller, who closes it after the gateway stopped.
	Redis redis.UniversalClient
	// Pepper keys every hash the store computes (User IDs, phone keys).
	Pepper []byte
	// Operators are the SMPP binds by operator.
	Operators []smpp.Operator
	// InboundWorkers is the number of goroutines per SMPP bind that handle
	// MOs and receipts (each waits on Redis, so more of them keep a busy
	// bind's replies from queueing behind one another); 0 means smpp's
	// default of 4, at most 256.
	InboundWorkers int
	// Segments configures the Redis store that holds the parts of
	// concatenated MOs (a signature reply is about 20 SMS) until all have
	// arrived, so parts an SMSC spreads over several instances, or that an
	// instance acknowledged before it crashed, still complete the reply.
	// Only subscribers' numbers may leave parts, capped per sender and in
	// all. Zero fields mean the sessions defaults (10 min TTL, 30 s lease,
	// 64 parts per sender, 100,000 in all); a nil Registerer means
	// Registry.
	Segments sessions.SegmentOptions
	// MemorySegments keeps the parts in this process's memory instead (only
	// for tests with a single instance: parts on other instances or in a
	// crashed process are lost).
	MemorySegments bool
	// MasterKeys derive each card's OTA keys.
	MasterKeys applet.MasterKeys
	// OTAKeyVersions are the key versions the cards' OTA key sets carry
	// (zero fields: 1 for MT, 2 for MO; docs/applet-protocol.md §1.1).
	OTAKeyVersions applet.KeyVersions
	// Trust configures the certificate checks (docs/trust.md): the
	// certification authority's roots and intermediates, OCSP and CRLs.
	// Without roots the gateway refuses to start, unless Mode is
	// trust.ModeProvisionedOnly. Nil Cache, Registerer and Logger are the
	// session store, Registry and Logger.
	Trust trust.Options

	// Server carries the portal API settings (portals, timeouts,
	// callbacks). Its Store, Sender, OTA, Logger and Registerer are filled in.
	Server ServerOptions

	// Logger receives everything; nil discards.
	Logger *slog.Logger
	// Registry collects every component's metrics and is served on /metrics;
	// nil makes a fresh one with the Go runtime and process collectors.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds a graceful stop (default 20 s).
	ShutdownTimeout time.Duration

	// Audit configures the audit trail (docs/audit.md); without its keys
	// the gateway keeps no trail and serves no admin API.
	Audit AuditOptions
	// AdminAPI configures the admin API on its own listener (docs/admin.md).
	AdminAPI AdminAPIOptions
	// UsageRetention is how long the per-day usage counters are kept
	// (sessions.Options.UsageRetention; default 62 days).
	UsageRetention time.Duration
	// ConfigDigest names the configuration the gateway started with (hex
	// SHA-256 of the file) in the audit trail's config.load record.
	ConfigDigest string
}

// maxInboundWorkers bounds Options.InboundWorkers (goroutines per bind).
const maxInboundWorkers = 256

// validate sets the defaults of zero fields and rejects bad values. The
// portal API's own settings are checked when the server is built.
func (o *Options) validate() error {
	switch {
	case o.Redis == nil:
		return errors.New("gateway: Options.Redis is required")
	case len(o.Operators) == 0:
		return errors.New("gateway: at least one operator is required")
	case o.InboundWorkers < 0 || o.InboundWorkers > maxInboundWorkers:
		return fmt.Errorf("gateway: InboundWorkers %d outside 0..%d", o.InboundWorkers, maxInboundWorkers)
	case o.ShutdownTimeout < 0:
		return errors.New("gateway: ShutdownTimeout cannot be negative")
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:8080"
	}
	if o.AdminAddr == "" {
		o.AdminAddr = "127.0.0.1:9090"
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 20 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
		o.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return nil
}

// Gateway is a gateway built from Options: the store, the SMPP pool, the
// portal API and the admin listener. Tests start it in-process on :0.
type Gateway struct {
	opts       Options
	log        *slog.Logger
	store      *sessions.Store
	core       *core
	pool       *smpp.Pool
	trust      *trust.Checker
	server     *Server
	api        *http.Server
	admin      *http.Server // nil when off
	apiLn      net.Listener
	adminLn    net.Listener
	trail      *audit.Trail // nil without audit keys
	adminAPI   *adminAPI    // nil when not configured
	adminSrv   *http.Server
	adminAPILn net.Listener
	draining   atomic.Bool
	// stopWithin carries Shutdown's context to the stop, whose deadline it
	// then also bounds.
	stopWithin chan context.Context
	cancel     context.CancelFunc // ends the run of a gateway from Start
	done       chan struct{}      // closed when run returned
	runErr     error              // run's result, once done is closed
}

// Start builds a gateway and serves in the background until Shutdown (or
// until a listener fails). ctx bounds only the start.
func Start(ctx context.Context, opts Options) (*Gateway, error) {
	g, err := newGateway(ctx, opts)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go func() { _ = g.run(runCtx) }()
	return g, nil
}

// Run builds a gateway, serves until ctx ends or a listener fails, then
// shuts down gracefully. It returns the failure, or the shutdown's error.
func Run(ctx context.Context, opts Options) error {
	g, err := newGateway(ctx, opts)
	if err != nil {
		return err
	}
	return g.run(ctx)
}

// newGateway wires every part and opens the listeners; nothing is served
// and nothing dials until run.
func newGateway(ctx context.Context, opts Options) (*Gateway, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	g := &Gateway{opts: opts, log: opts.Logger, stopWithin: make(chan context.Context, 1), done: make(chan struct{})}
	if err := g.build(); err != nil {
		return nil, err
	}
	if err := g.listen(ctx); err != nil {
		_ = g.core.done.close(ctx)
		_ = g.store.Close()
		return nil, err
	}
	return g, nil
}

// build makes the store, the core (correlator included), the SMPP pool
// that delivers to the correlator, and the portal API over the pool.
func (g *Gateway) build() (err error) {
	opts := g.opts
	g.store, err = sessions.New(opts.Redis, sessions.Options{
		Pepper: opts.Pepper, Logger: opts.Logger.With("component", "sessions"), Registerer: opts.Registry,
		IdempotencyTTL: opts.Server.IdempotencyTTL, UsageRetention: opts.UsageRetention,
	})
	if err != nil {
		return fmt.Errorf("gateway: session store: %w", err)
	}
	defer func() {
		if err != nil {
			_ = g.store.Close()
		}
	}()
	var segs smpp.SegmentStore // nil: the pool's memory store
	if !opts.MemorySegments {
		so := opts.Segments
		if so.Registerer == nil {
			so.Registerer = opts.Registry
		}
		rs, err := g.store.MOSegments(so)
		if err != nil {
			return fmt.Errorf("gateway: segment store: %w", err)
		}
		segs = segmentStore{rs}
	}
	if g.trail, err = g.buildTrail(); err != nil {
		return err
	}
	so := opts.Server
	if so.OTA, err = newAppletOTA(opts.MasterKeys, opts.OTAKeyVersions); err != nil {
		return fmt.Errorf("gateway: ota: %w", err)
	}
	if g.trust, err = g.newTrust(); err != nil {
		return err
	}
	so.Store, so.Trust, so.Audit = g.store, g.trust, g.trail
	so.Logger, so.Registerer = opts.Logger.With("component", "gateway"), opts.Registry
	if g.core, err = newCore(so); err != nil {
		return err
	}
	g.pool, err = smpp.NewPool(smpp.PoolOptions{
		Operators: opts.Operators, Logger: opts.Logger.With("component", "smpp"), Registerer: opts.Registry,
		InboundWorkers: opts.InboundWorkers, Segments: segs,
	})
	if err != nil {
		_ = g.core.done.close(context.Background())
		return fmt.Errorf("gateway: smpp: %w", err)
	}
	g.server = g.core.server(g.pool)
	if opts.AdminAPI.enabled() {
		if g.adminAPI, err = newAdminAPI(opts.AdminAPI, g.store, g.core, g.trailOrNil(), opts.Registry); err != nil {
			_ = g.core.done.close(context.Background())
			return err
		}
	}
	return nil
}

// listen opens the API and admin listeners and prepares their servers.
func (g *Gateway) listen(ctx context.Context) error {
	lc := net.ListenConfig{}
	ln, err := lc.Listen(ctx, "tcp", g.opts.HTTPAddr)
	if err != nil {
		return fmt.Errorf("gateway: API listener: %w", err)
	}
	if g.opts.TLS != nil {
		ln = tls.NewListener(ln, g.opts.TLS)
	}
	g.apiLn = ln
	if g.opts.AdminAddr != "off" {
		if g.adminLn, err = lc.Listen(ctx, "tcp", g.opts.AdminAddr); err != nil {
			g.apiLn.Close()
			return fmt.Errorf("gateway: admin listener: %w", err)
		}
		g.admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	}
	if err := g.listenAdminAPI(ctx, lc); err != nil {
		g.apiLn.Close()
		if g.adminLn != nil {
			g.adminLn.Close()
		}
		return err
	}
	handler := g.server.Handler()
	if g.opts.Handler != nil {
		handler = g.opts.Handler(g.server)
	}
	g.api = &http.Server{
		Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 150 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(g.opts.Logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// run serves until ctx ends or one of its parts fails, then stops them
// all in order: one errgroup over the API's Serve, the admin's Serve and
// the SMPP pool, and a member that waits for the group's context and runs
// the graceful stop. The first error (a listener that died) is returned.
func (g *Gateway) run(ctx context.Context) error {
	eg, ctx := errgroup.WithContext(ctx)
	poolCtx, stopPool := context.WithCancel(context.Background())
	defer stopPool()
	poolDone := make(chan struct{})
	eg.Go(func() error {
		defer close(poolDone)
		return g.runPool(poolCtx)
	})
	trailCtx, stopTrail := context.WithCancel(context.Background())
	defer stopTrail()
	trailDone := make(chan struct{})
	eg.Go(func() error {
		defer close(trailDone)
		return g.runTrail(trailCtx)
	})
	eg.Go(func() error { return serveHTTP(g.api, g.apiLn) })
	eg.Go(func() error { return g.trust.Run(ctx) })
	if g.admin != nil {
		eg.Go(func() error { return serveHTTP(g.admin, g.adminLn) })
	}
	if g.adminSrv != nil {
		eg.Go(func() error { return serveHTTP(g.adminSrv, g.adminAPILn) })
	}
	eg.Go(func() error { return g.checkPepper(ctx) })
	eg.Go(func() error { g.warnUnbound(ctx); return nil })
	eg.Go(func() error {
		<-ctx.Done()
		return g.stop(func() { stopPool(); <-poolDone; g.stopAdminAPI(); stopTrail(); <-trailDone })
	})
	g.log.Info("gateway started", slog.String("api", g.APIAddr()), slog.String("admin", g.AdminAddr()))
	err := eg.Wait()
	err = errors.Join(err, g.store.Close())
	g.log.Info("gateway stopped")
	g.runErr = err
	close(g.done)
	return err
}

// runPool keeps the SMPP binds up until ctx ends, then unbinds them,
// answering MOs until then; smpp caps the unbind however the SMSC behaves.
func (g *Gateway) runPool(ctx context.Context) error {
	return g.pool.Run(ctx, g.core.corr)
}

// serveHTTP runs srv on ln; a server shut down on purpose is not an error.
func serveHTTP(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// stop is the graceful stop, within ShutdownTimeout and Shutdown's
// context: /readyz turns unready, the API refuses new sessions, answers
// long-polls and finishes in-flight requests, timers and callbacks drain,
// stopPool unbinds the binds (answering MOs until then), the admin
// listener closes last. run closes the store after it.
func (g *Gateway) stop(stopPool func()) error {
	base := context.Background()
	select {
	case c := <-g.stopWithin:
		base = c
	default:
	}
	ctx, cancel := context.WithTimeout(base, g.opts.ShutdownTimeout)
	defer cancel()
	g.draining.Store(true)
	g.core.metrics.ready.Set(0)
	g.server.Drain()
	var errs []error
	if err := g.api.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("api: %w", err))
		g.api.Close()
	}
	errs = append(errs, g.server.Close(ctx))
	stopPool()
	if g.admin != nil {
		_ = g.admin.Close()
	}
	return errors.Join(errs...)
}

// Shutdown stops a gateway from Start gracefully within ctx (and never
// longer than Options.ShutdownTimeout) and returns what run returned: the
// stop's error, or the failure that stopped it earlier.
func (g *Gateway) Shutdown(ctx context.Context) error {
	select {
	case g.stopWithin <- ctx:
	default: // an earlier Shutdown's context bounds the stop
	}
	g.cancel()
	select {
	case <-g.done:
		return g.runErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// APIAddr is the portal API's listening address.
func (g *Gateway) APIAddr() string { return g.apiLn.Addr().String() }

// AdminAddr is the admin listener's address ("" when off).
func (g *Gateway) AdminAddr() string {
	if g.adminLn == nil {
		return ""
	}
	return g.adminLn.Addr().String()
}

// Store is the session store the gateway uses (to provision subscribers).
func (g *Gateway) Store() *sessions.Store { return g.store }

// Ready reports nil when the gateway can serve: not draining, Redis
// answers, and every configured operator has at least one bound bind and
// a breaker that is not open.
func (g *Gateway) Ready(ctx context.Context) error {
	if g.draining.Load() {
		return errors.New("draining")
	}
	if err := g.store.Ping(ctx); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	bound := map[string]bool{}
	for _, b := range g.pool.Status() {
		if b.Bound {
			bound[b.Operator] = true
		}
	}
	for _, op := range g.opts.Operators {
		if !bound[op.Name] {
			return fmt.Errorf("operator %s: no bind is bound", op.Name)
		}
		if g.pool.BreakerState(op.Name) == "open" {
			// Bound, but its submits fail or go unanswered (a silent SMSC
			// keeps the bind and answers enquire_link).
			return fmt.Errorf("operator %s: circuit breaker open: submits fail or go unanswered", op.Name)
		}
	}
	return nil
}

// readyCheckTimeout bounds the readiness check done for each scrape.
const readyCheckTimeout = time.Second

// checkReady runs Ready and records its answer in imzagate_ready.
func (g *Gateway) checkReady(ctx context.Context) error {
	err := g.Ready(ctx)
	if err != nil {
		g.core.metrics.ready.Set(0)
	} else {
		g.core.metrics.ready.Set(1)
	}
	return err
}

// adminHandler serves /metrics, /healthz, /readyz and /debug/pprof/.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	metrics := promhttp.HandlerFor(g.opts.Registry, promhttp.HandlerOpts{Registry: g.opts.Registry})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		// imzagate_ready must be current at every scrape, not only after
		// the last probe: a host without probes (systemd) would otherwise
		// export a stale value and the not-ready alert would lie.
		ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
		_ = g.checkReady(ctx)
		cancel()
		metrics.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := g.checkReady(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte(g.readyText()))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// segmentStore adapts sessions.SegmentStore to smpp.SegmentStore: a part
// from a number that is not a subscriber is refused (acknowledged and
// dropped), a part the store refuses as invalid (too long, a total that
// differs from the first part's) is answered with a permanent error, since
// redelivering it cannot help; every other error stays temporary, so the
// SMSC redelivers.
// The pool calls Done only after the handler returned a final status, so a
// reply whose handling failed stays in Redis for the redelivery.
type segmentStore struct{ s *sessions.SegmentStore }

var _ smpp.SegmentStore = segmentStore{}

func (a segmentStore) Add(ctx context.Context, source, key string, total, seq int, part []byte) ([][]byte, error) {
	parts, err := a.s.Add(ctx, phoneFromAddr(source), key, total, seq, part)
	switch {
	case errors.Is(err, sessions.ErrNotSubscriber):
		// Only subscribers' replies are worth keeping; anything else is
		// acknowledged and forgotten, so it costs no memory.
		return nil, fmt.Errorf("%w: %w", smpp.ErrSegmentRefused, err)
	case errors.Is(err, sessions.ErrInvalid):
		return nil, fmt.Errorf("%w: %w", smpp.ErrBadValue, err)
	}
	return parts, err
}

func (a segmentStore) Done(ctx context.Context, source, key string) error {
	return a.s.Done(ctx, phoneFromAddr(source), key)
}
