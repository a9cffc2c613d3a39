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
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
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
	// AdminAddr serves /metrics, /healthz, /readyz and /debug/pprof/
	// (default 127.0.0.1:9090). "off" disables it.
	AdminAddr string

	// Redis is the client of the session store (single, Sentinel or Cluster).
	// Build it with sessions.ClientOptions so per-call deadlines work.
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
	// Zero fields mean the sessions defaults (10 min TTL, 30 s lease).
	Segments sessions.SegmentOptions
	// MemorySegments keeps the parts in this process's memory instead (only
	// for tests with a single instance: parts on other instances or in a
	// crashed process are lost).
	MemorySegments bool
	// MasterKeys derive each card's OTA keys.
	MasterKeys applet.MasterKeys

	// Server carries the portal API settings (portals, timeouts, callbacks,
	// demo hooks). Its Store, Sender, OTA, Logger and Registerer are filled in.
	Server ServerOptions

	// Logger receives everything; nil discards.
	Logger *slog.Logger
	// Registry collects every component's metrics and is served on /metrics;
	// nil makes a fresh one with the Go runtime and process collectors.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds a graceful stop (default 20 s).
	ShutdownTimeout time.Duration
}

// maxInboundWorkers bounds Options.InboundWorkers (goroutines per bind).
const maxInboundWorkers = 256

// Gateway is a running gateway. Tests start it in-process on :0.
type Gateway struct {
	opts     Options
	log      *slog.Logger
	store    *sessions.Store
	pool     *smpp.Pool
	server   *Server
	api      *http.Server
	admin    *http.Server
	apiLn    net.Listener
	adminLn  net.Listener
	draining atomic.Bool
	cancel   context.CancelFunc
	poolStop context.CancelFunc // ends the pool's Run
	poolDone chan error         // Run's result
	stopOnce sync.Once
	stopErr  error
}

// Start wires and starts every part: the store, the SMPP pool (binding in
// the background), the API and the admin listener. ctx bounds only the
// start; call Shutdown to stop.
func Start(ctx context.Context, opts Options) (*Gateway, error) {
	if opts.Redis == nil {
		return nil, errors.New("gateway: Options.Redis is required")
	}
	if len(opts.Operators) == 0 {
		return nil, errors.New("gateway: at least one operator is required")
	}
	if opts.InboundWorkers < 0 || opts.InboundWorkers > maxInboundWorkers {
		return nil, fmt.Errorf("gateway: InboundWorkers %d outside 0..%d", opts.InboundWorkers, maxInboundWorkers)
	}
	if opts.HTTPAddr == "" {
		opts.HTTPAddr = "127.0.0.1:8080"
	}
	if opts.AdminAddr == "" {
		opts.AdminAddr = "127.0.0.1:9090"
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 20 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	g := &Gateway{opts: opts, log: opts.Logger}
	var err error
	g.store, err = sessions.New(opts.Redis, sessions.Options{
		Pepper: opts.Pepper, Logger: opts.Logger.With("component", "sessions"), Registerer: opts.Registry,
		IdempotencyTTL: opts.Server.IdempotencyTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: session store: %w", err)
	}
	var segs smpp.SegmentStore // nil: the pool's memory store
	if !opts.MemorySegments {
		rs, err := g.store.MOSegments(opts.Segments)
		if err != nil {
			g.store.Close()
			return nil, fmt.Errorf("gateway: segment store: %w", err)
		}
		segs = segmentStore{rs}
	}
	handler := &SMPPHandler{}
	g.pool, err = smpp.NewPool(smpp.PoolOptions{
		Operators: opts.Operators, Logger: opts.Logger.With("component", "smpp"), Registerer: opts.Registry,
		InboundWorkers: opts.InboundWorkers, Segments: segs,
	})
	if err != nil {
		g.store.Close()
		return nil, fmt.Errorf("gateway: smpp: %w", err)
	}
	so := opts.Server
	so.Store = NewSessionsStore(g.store, opts.Redis)
	so.Sender = NewSMPPSender(g.pool)
	so.OTA = NewAppletOTA(opts.MasterKeys)
	so.Logger = opts.Logger.With("component", "gateway")
	so.Registerer = opts.Registry
	g.server, err = NewServer(so)
	if err != nil {
		g.store.Close()
		return nil, err
	}
	handler.Server = g.server

	lc := net.ListenConfig{}
	g.apiLn, err = lc.Listen(ctx, "tcp", opts.HTTPAddr)
	if err != nil {
		g.closeParts(ctx)
		return nil, fmt.Errorf("gateway: API listener: %w", err)
	}
	if opts.TLS != nil {
		g.apiLn = tls.NewListener(g.apiLn, opts.TLS)
	}
	if opts.AdminAddr != "off" {
		g.adminLn, err = lc.Listen(ctx, "tcp", opts.AdminAddr)
		if err != nil {
			g.apiLn.Close()
			g.closeParts(ctx)
			return nil, fmt.Errorf("gateway: admin listener: %w", err)
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.startPool(runCtx, handler)
	g.api = &http.Server{
		Handler: g.server.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 150 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	go func() { _ = g.api.Serve(g.apiLn) }()
	if g.adminLn != nil {
		g.admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = g.admin.Serve(g.adminLn) }()
	}
	g.log.Info("gateway started", slog.String("api", g.APIAddr()), slog.String("admin", g.AdminAddr()))
	return g, nil
}

// Run starts a gateway, serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, opts Options) error {
	g, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), g.opts.ShutdownTimeout)
	defer cancel()
	return g.Shutdown(sctx)
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

// Server is the portal API and correlator.
func (g *Gateway) Server() *Server { return g.server }

// Store is the session store the gateway uses.
func (g *Gateway) Store() *sessions.Store { return g.store }

// Pool is the SMPP pool.
func (g *Gateway) Pool() *smpp.Pool { return g.pool }

// Shutdown stops gracefully within ctx (and never longer than
// Options.ShutdownTimeout): /readyz turns unready, the API stops accepting
// and finishes in-flight requests, timers and callbacks drain, the binds
// unbind (answering MOs until then), the store closes.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.stopOnce.Do(func() { g.stopErr = g.shutdown(ctx) })
	return g.stopErr
}

// shutdown is Shutdown's single run.
func (g *Gateway) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, g.opts.ShutdownTimeout)
	defer cancel()
	g.draining.Store(true)
	g.server.metrics.ready.Set(0)
	g.server.Drain()
	var errs []error
	if err := g.api.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("api: %w", err))
		g.api.Close()
	}
	errs = append(errs, g.closeParts(ctx))
	if g.admin != nil {
		_ = g.admin.Close()
	}
	if g.cancel != nil {
		g.cancel()
	}
	g.log.Info("gateway stopped")
	return errors.Join(errs...)
}

// closeParts stops the server, the pool and the store.
func (g *Gateway) closeParts(ctx context.Context) error {
	var errs []error
	if g.server != nil {
		errs = append(errs, g.server.Close(ctx))
	}
	if g.poolDone != nil {
		errs = append(errs, g.stopPool(ctx))
	}
	if g.store != nil {
		errs = append(errs, g.store.Close())
	}
	return errors.Join(errs...)
}

// startPool runs the pool's binds in the background until stopPool. A bind
// refused for good ends the pool's Run early; that is logged here and
// returned by stopPool.
func (g *Gateway) startPool(ctx context.Context, h smpp.Handler) {
	ctx, g.poolStop = context.WithCancel(ctx)
	g.poolDone = make(chan error, 1)
	go func() {
		err := g.pool.Run(ctx, h)
		if err != nil {
			g.log.Error("smpp pool stopped", "err", err)
		}
		g.poolDone <- err
	}()
}

// stopPool ends the pool's Run and waits for it within ctx. Run unbinds
// every bind (bounded by smpp's own shutdown cap) and the handler keeps
// answering MOs until then.
func (g *Gateway) stopPool(ctx context.Context) error {
	g.poolStop()
	select {
	case err := <-g.poolDone:
		return err
	case <-ctx.Done():
		return fmt.Errorf("smpp pool: %w", ctx.Err())
	}
}

// Ready reports nil when the gateway can serve: not draining, Redis
// answers, and every configured operator has at least one bound bind.
func (g *Gateway) Ready(ctx context.Context) error {
	if g.draining.Load() {
		return errors.New("draining")
	}
	if err := g.server.store.Ping(ctx); err != nil {
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
	}
	return nil
}

// readyCheckTimeout bounds the readiness check done for each scrape.
const readyCheckTimeout = time.Second

// checkReady runs Ready and records its answer in imzagate_ready.
func (g *Gateway) checkReady(ctx context.Context) error {
	err := g.Ready(ctx)
	if err != nil {
		g.server.metrics.ready.Set(0)
	} else {
		g.server.metrics.ready.Set(1)
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
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// segmentStore adapts sessions.SegmentStore to smpp.SegmentStore: a part
// the store refuses as invalid (too long, a total that differs from the
// first part's) is answered with a permanent error, since redelivering it
// cannot help; every other error stays temporary, so the SMSC redelivers.
// The pool calls Done only after the handler returned a final status, so a
// reply whose handling failed stays in Redis for the redelivery.
type segmentStore struct{ s *sessions.SegmentStore }

var _ smpp.SegmentStore = segmentStore{}

func (a segmentStore) Add(ctx context.Context, key string, total, seq int, part []byte) ([][]byte, error) {
	parts, err := a.s.Add(ctx, key, total, seq, part)
	if errors.Is(err, sessions.ErrInvalid) {
		return nil, fmt.Errorf("%w: %w", smpp.ErrBadValue, err)
	}
	return parts, err
}

func (a segmentStore) Done(ctx context.Context, key string) error { return a.s.Done(ctx, key) }
