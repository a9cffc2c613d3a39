package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

//go:embed openapi.yaml
var openapiFS embed.FS

// ServerOptions configure a Server. The zero value of every optional field
// is safe; Store, Sender, OTA and at least one portal are required.
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

	// DemoSubscribers, when set, serves GET /v1/demo/subscribers (demo mode only).
	DemoSubscribers func(ctx context.Context) (any, error)
	// Fallback serves every path the API does not own (the demo page); nil answers 404 problems.
	Fallback http.Handler
	// Now is the clock; nil uses time.Now.
	Now func() time.Time
	// LookupEnv reads callback secrets; nil uses no environment.
	LookupEnv func(string) (string, bool)
}

// Server is the portal API and the correlator of replies, over the small
// Store, Sender and OTA interfaces.
type Server struct {
	store   Store
	sender  Sender
	ota     OTA
	portals portals
	byID    map[string]*Portal
	log     *slog.Logger
	metrics *metrics
	logKey  []byte
	now     func() time.Time

	userTimeout time.Duration
	grace       time.Duration
	maxPoll     time.Duration
	demoSubs    func(ctx context.Context) (any, error)
	fallback    http.Handler
	callbacks   *callbacks
	handler     http.Handler
	drainOnce   sync.Once
	draining    chan struct{}
	// drainCtx ends when draining starts, so a long-poll can stop with
	// context.AfterFunc instead of a goroutine of its own.
	drainCtx    context.Context
	drainCancel context.CancelFunc
	timersMu    sync.Mutex
	timers      map[string]*time.Timer
	// submitting holds, per session this instance is submitting, a channel
	// closed once the submit is recorded (MarkSubmitted answered), so a
	// reply racing it completes the session only after its stamp is stored.
	submitting map[string]chan struct{}
	// msgs maps this instance's recent MT message ids to their sessions.
	msgs           *msgIndex
	closed         bool
	background     sync.WaitGroup
	backgroundStop context.CancelFunc
	backgroundCtx  context.Context
}

// NewServer validates the options and builds a server. It starts the
// callback workers; Close stops them.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Store == nil || opts.Sender == nil || opts.OTA == nil {
		return nil, errors.New("gateway: Store, Sender and OTA are required")
	}
	if len(opts.Portals) == 0 {
		return nil, errNoPortals
	}
	s := &Server{
		store: opts.Store, sender: opts.Sender, ota: opts.OTA,
		byID: map[string]*Portal{}, log: opts.Logger, logKey: opts.LogKey, now: opts.Now,
		userTimeout: opts.UserTimeout, grace: opts.DeliveryGrace,
		maxPoll: opts.MaxLongPoll, demoSubs: opts.DemoSubscribers, fallback: opts.Fallback,
		timers: map[string]*time.Timer{}, submitting: map[string]chan struct{}{}, msgs: newMsgIndex(), draining: make(chan struct{}),
	}
	s.drainCtx, s.drainCancel = context.WithCancel(context.Background())
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if len(s.logKey) == 0 {
		s.logKey = make([]byte, 32)
		_, _ = rand.Read(s.logKey)
	}
	if s.userTimeout == 0 {
		s.userTimeout = 60 * time.Second
	}
	if s.userTimeout < 10*time.Second || s.userTimeout > 255*time.Second {
		return nil, errors.New("gateway: UserTimeout must be within 10 s–255 s (applet-protocol §3, tag 88)")
	}
	if s.grace <= 0 {
		s.grace = 30 * time.Second
	}
	if s.maxPoll <= 0 {
		s.maxPoll = 120 * time.Second
	}
	for i := range opts.Portals {
		p := opts.Portals[i]
		if err := p.init(opts.LookupEnv); err != nil {
			return nil, err
		}
		if _, dup := s.byID[p.ID]; dup {
			return nil, errors.New("gateway: duplicate portal id " + p.ID)
		}
		s.byID[p.ID] = &p
		s.portals.list = append(s.portals.list, &p)
	}
	reg := opts.Registerer
	if reg == nil {
		reg = prometheus.NewRegistry() // a private sink: metrics still work, nobody scrapes them
	}
	s.metrics = newMetrics(reg)
	s.backgroundCtx, s.backgroundStop = context.WithCancel(context.Background())
	s.callbacks = newCallbacks(opts.Callbacks, s.metrics, s.log)
	s.handler = s.routes()
	return s, nil
}

// Handler returns the portal API's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Drain makes running long-polls answer now with the session's current
// state, so a graceful shutdown does not wait for them; portals poll again
// (on another instance).
func (s *Server) Drain() {
	s.drainOnce.Do(func() {
		close(s.draining)
		s.drainCancel()
	})
}

// Close stops the timeout timers and drains the callback queue within ctx.
// In-flight sessions keep running in the store: another instance, or the
// store's own expiry, finishes them.
func (s *Server) Close(ctx context.Context) error {
	s.Drain()
	s.timersMu.Lock()
	s.closed = true
	for id, t := range s.timers {
		t.Stop()
		delete(s.timers, id)
	}
	s.timersMu.Unlock()
	s.backgroundStop()
	done := make(chan struct{})
	go func() { s.background.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return s.callbacks.close(ctx)
}

// routes registers every endpoint on the standard mux.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/authentications", s.handleAuthenticationCreate)
	mux.HandleFunc("POST /v1/signatures", s.handleSignatureCreate)
	mux.HandleFunc("GET /v1/sessions/{id}", s.handleSessionGet)
	mux.HandleFunc("GET /v1/certificates", s.handleCertificateList)
	mux.HandleFunc("GET /v1/openapi.yaml", s.handleOpenAPI)
	if s.demoSubs != nil {
		mux.HandleFunc("GET /v1/demo/subscribers", s.handleDemoSubscribers)
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(r.URL.Path, s.demoSubs != nil); allow != "" {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, &Error{Code: CodeMethodNotAllowed, Detail: "use " + allow})
			return
		}
		s.writeError(w, r, &Error{Code: CodeNotFound, Detail: "no such endpoint"})
	})
	if s.fallback != nil {
		mux.Handle("/", s.fallback)
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			s.writeError(w, r, &Error{Code: CodeNotFound, Detail: "no such endpoint"})
		})
	}
	return s.instrument(mux)
}

// allowedMethods names the methods of a known API path ("" if unknown),
// so a wrong method gets 405 rather than 404.
func allowedMethods(path string, demo bool) string {
	switch {
	case path == "/v1/authentications", path == "/v1/signatures":
		return "POST"
	case path == "/v1/certificates", path == "/v1/openapi.yaml", demo && path == "/v1/demo/subscribers":
		return "GET, HEAD"
	case strings.HasPrefix(path, "/v1/sessions/") && !strings.Contains(path[len("/v1/sessions/"):], "/") && len(path) > len("/v1/sessions/"):
		return "GET, HEAD"
	}
	return ""
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	loggerKey
)

// requestID returns the request id stored by instrument.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// logger returns the request's logger (with request_id).
func (s *Server) logger(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(loggerKey).(*slog.Logger); ok {
		return l
	}
	return s.log
}

// statusWriter remembers the status code for metrics.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the first status written.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument gives every request an id (the caller's X-Request-Id when it is
// short and plain), a logger carrying it, and counts it by route pattern.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !plainID(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		ctx = context.WithValue(ctx, loggerKey, lazyWith(s.log, slog.String("request_id", id)))
		r = r.WithContext(ctx)
		sw := &statusWriter{ResponseWriter: w}
		s.metrics.httpInFlight.Inc()
		defer s.metrics.httpInFlight.Dec()
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" || route == "/v1/" {
			route = "other"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.metrics.observeHTTP(route, methodLabel(r.Method), sw.status, time.Since(start).Seconds())
	})
}

// methodLabel keeps the method label bounded.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodPatch:
		return m
	}
	return "other"
}

// plainID accepts caller request ids of 1–64 characters [A-Za-z0-9._-].
func plainID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// phoneAttrs are the only forms of a phone number that reach the logs: a
// keyed hash (to correlate lines) and a masked form (+99450***4567). The
// value is a LogValuer, so the HMAC runs only when a line carrying it is
// written, not on every MO and start whose lines the level drops.
func (s *Server) phoneAttrs(phone string) slog.Attr {
	return slog.Any("phone", loggedPhone{key: s.logKey, phone: phone})
}

// loggedPhone resolves to the phone group of phoneAttrs when a handler
// formats it.
type loggedPhone struct {
	key   []byte
	phone string
}

// LogValue implements slog.LogValuer.
func (p loggedPhone) LogValue() slog.Value {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(p.phone))
	return slog.GroupValue(slog.String("hash", hex.EncodeToString(m.Sum(nil)[:8])), slog.String("masked", MaskPhone(p.phone)))
}

// lazyWith is l.With(attrs...) that defers the handler's WithAttrs until a
// record is actually written. A text or JSON handler formats attributes
// in WithAttrs, so the per-request and per-MO loggers cost an allocation
// and formatting each even when nothing at their level is ever logged,
// which is the common case on the hot paths.
func lazyWith(l *slog.Logger, attrs ...slog.Attr) *slog.Logger {
	if lh, ok := l.Handler().(*lazyHandler); ok {
		return slog.New(lh.withAttrs(attrs))
	}
	return slog.New(&lazyHandler{h: l.Handler(), attrs: attrs})
}

// lazyHandler holds attributes for h without handing them over until a
// record is handled. It is immutable, so it is safe for concurrent use.
type lazyHandler struct {
	h     slog.Handler
	attrs []slog.Attr
}

func (lh *lazyHandler) withAttrs(attrs []slog.Attr) *lazyHandler {
	all := make([]slog.Attr, 0, len(lh.attrs)+len(attrs))
	all = append(append(all, lh.attrs...), attrs...)
	return &lazyHandler{h: lh.h, attrs: all}
}

// Enabled asks the wrapped handler, without its pending attributes.
func (lh *lazyHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return lh.h.Enabled(ctx, level)
}

// Handle hands over the pending attributes, then the record.
func (lh *lazyHandler) Handle(ctx context.Context, r slog.Record) error {
	return lh.materialize().Handle(ctx, r)
}

// WithAttrs keeps the new attributes pending too.
func (lh *lazyHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return lh
	}
	return lh.withAttrs(attrs)
}

// WithGroup hands over the pending attributes first: they belong outside
// the group.
func (lh *lazyHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return lh
	}
	return lh.materialize().WithGroup(name)
}

func (lh *lazyHandler) materialize() slog.Handler {
	if len(lh.attrs) == 0 {
		return lh.h
	}
	return lh.h.WithAttrs(lh.attrs)
}

// MaskPhone shows the country and operator code and the last four digits:
// +994501234567 → +99450***4567. Anything shorter is fully masked.
func MaskPhone(phone string) string {
	if len(phone) < 10 {
		return "***"
	}
	return phone[:6] + "***" + phone[len(phone)-4:]
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// handleOpenAPI serves the embedded OpenAPI 3 document.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	b, _ := openapiFS.ReadFile("openapi.yaml")
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(b)
}

// OpenAPI returns the OpenAPI 3 document of the portal API.
func OpenAPI() []byte {
	b, _ := openapiFS.ReadFile("openapi.yaml")
	return b
}

// handleDemoSubscribers lists the simulated users (demo mode only).
func (s *Server) handleDemoSubscribers(w http.ResponseWriter, r *http.Request) {
	if _, err := s.portals.authenticate(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.demoSubs(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// authPortal authenticates the request or writes the error.
func (s *Server) authPortal(w http.ResponseWriter, r *http.Request) *Portal {
	p, err := s.portals.authenticate(r)
	if err != nil {
		s.writeError(w, r, err)
		return nil
	}
	return p
}

// handleAuthenticationCreate is POST /v1/authentications.
func (s *Server) handleAuthenticationCreate(w http.ResponseWriter, r *http.Request) {
	p := s.authPortal(w, r)
	if p == nil {
		return
	}
	var req authRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.start(w, r, p, OpAuthenticate, &req, nil)
}

// handleSignatureCreate is POST /v1/signatures.
func (s *Server) handleSignatureCreate(w http.ResponseWriter, r *http.Request) {
	p := s.authPortal(w, r)
	if p == nil {
		return
	}
	var req signRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.start(w, r, p, OpSign, &req.authRequest, req.Certificate)
}

// startResponse is the 201 body of a start.
type startResponse struct {
	SessionID        string    `json:"sessionId"`
	VerificationCode string    `json:"verificationCode"`
	ExpiresAt        time.Time `json:"expiresAt"`
}

// start validates, then runs the service logic, then answers 201.
func (s *Server) start(w http.ResponseWriter, r *http.Request, p *Portal, op Operation, req *authRequest, sel *certSelector) {
	if !p.allows(op) {
		s.writeError(w, r, &Error{Code: CodeForbidden, Detail: "this portal may not start " + string(op)})
		return
	}
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > 128 || (idemKey != "" && !plainID(strings.ReplaceAll(idemKey, ":", "-"))) {
		s.writeError(w, r, invalid("Idempotency-Key", "1–128 characters [A-Za-z0-9._:-]"))
		return
	}
	in, err := s.validateStart(op, req, sel, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ok, wait := p.bucket.take(s.now()); !ok {
		s.writeError(w, r, &Error{Code: CodeRateLimited, Detail: "the portal's rate limit is exceeded", RetryAfter: wait})
		return
	}
	sess, err := s.startSession(r.Context(), s.logger(r), p, in, idemKey)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/sessions/"+sess.ID)
	writeJSON(w, http.StatusCreated, startResponse{SessionID: sess.ID, VerificationCode: sess.VerificationCode, ExpiresAt: sess.ExpiresAt.UTC()})
}
