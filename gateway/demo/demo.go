package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/webui"
	"github.com/imzagate/imzagate/internal/simstack"
)

// Seed makes the demo's simulated SIMs the same on every run, so the
// README's walk-through can name a phone number and User ID.
const Seed = simcard.DemoSeed

// Options configure the demo. The zero value runs 1,000 SIMs on
// 127.0.0.1:8080 with an embedded Redis and a generated API key.
type Options struct {
	HTTPAddr  string // default 127.0.0.1:8080
	AdminAddr string // default 127.0.0.1:9090; "off" disables it
	// RedisURL uses a real Redis (redis://host:port/db) instead of the embedded one.
	RedisURL string
	// SIMs is the number of simulated SIMs (default 1000).
	SIMs int
	// APIKey is the demo portal's key; empty generates one.
	APIKey string
	// UserDelay is how long simulated users take per step (default 3 s).
	UserDelay time.Duration
	// UserTimeout is the applet's wait for the user (default 30 s).
	UserTimeout time.Duration
	// Behaviour overrides the scripted user of SIM i (tests).
	Behaviour func(i int) simcard.Behaviour
	// Logger; nil discards.
	Logger *slog.Logger
	// Registry collects metrics; nil makes one with Go and process collectors.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds Shutdown (default 10 s).
	ShutdownTimeout time.Duration
}

// operator names the demo's simulated operator (in metrics and binds).
const operator = "demo-operator"

// Demo is a running all-in-one gateway with the demo page.
type Demo struct {
	stack  *simstack.Stack
	apiKey string
	subs   atomic.Pointer[[]Subscriber] // set once Start has provisioned
}

// Subscriber is one simulated user as /v1/demo/subscribers lists it.
type Subscriber struct {
	PhoneNumber  string                    `json:"phoneNumber"`
	UserID       string                    `json:"userId"`
	Behaviour    string                    `json:"behaviour"`
	Certificates []gateway.CertificateInfo `json:"certificates"`
}

// behaviourMix scripts SIM i (simcard.DemoMix, shared with the simulated
// operator): card i approves when i mod 10 is 0–5, cancels at 6, mistypes
// the PIN once at 7, blocks it at 8 and never answers at 9.
func behaviourMix(delay time.Duration) func(i int) simcard.Behaviour { return simcard.DemoMix(delay) }

// describeBehaviour names a scripted user for the subscriber list.
func describeBehaviour(b simcard.Behaviour) string { return b.Label() }

// setDefaults fills in the zero fields and checks SIMs.
func (opts *Options) setDefaults() error {
	if opts.SIMs == 0 {
		opts.SIMs = 1000
	}
	if opts.SIMs < 1 || opts.SIMs > 1_000_000 {
		return errors.New("demo: --sims must be within 1–1000000")
	}
	if opts.HTTPAddr == "" {
		opts.HTTPAddr = "127.0.0.1:8080"
	}
	if opts.AdminAddr == "" {
		opts.AdminAddr = "127.0.0.1:9090"
	}
	if opts.UserDelay == 0 {
		opts.UserDelay = 3 * time.Second
	}
	if opts.UserTimeout == 0 {
		opts.UserTimeout = 30 * time.Second
	}
	if opts.Behaviour == nil {
		opts.Behaviour = behaviourMix(opts.UserDelay)
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	return nil
}

// Start runs the demo: the simulated stack (package simstack) with the
// demo's fixed seed, scripted users and portal, its API handler wrapped
// in the demo page and the subscriber list.
func Start(ctx context.Context, opts Options) (*Demo, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	d := &Demo{apiKey: opts.APIKey}
	if d.apiKey == "" {
		d.apiKey = "demo-" + hex.EncodeToString(randomBytes(16))
	}
	st, err := simstack.Start(ctx, simstack.Options{
		Redis: simstack.Redis{URL: opts.RedisURL}, SIMs: opts.SIMs, Seed: Seed, Behaviour: opts.Behaviour,
		Operator: operator,
		Portals: []simstack.Portal{{Portal: gateway.Portal{ID: "demo", DisplayName: "Demo portal", RateLimit: 1000, Burst: 1000},
			APIKey: d.apiKey}},
		Server:   gateway.ServerOptions{UserTimeout: opts.UserTimeout, DeliveryGrace: 10 * time.Second},
		HTTPAddr: opts.HTTPAddr, AdminAddr: opts.AdminAddr, Handler: d.handler,
		Logger: opts.Logger, Registry: opts.Registry, ShutdownTimeout: opts.ShutdownTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.stack = st
	subs, err := d.describe()
	if err != nil {
		_ = st.Shutdown(context.Background())
		return nil, err
	}
	d.subs.Store(&subs)
	return d, nil
}

// describe lists the stack's subscribers with their certificates for
// /v1/demo/subscribers.
func (d *Demo) describe() ([]Subscriber, error) {
	now := time.Now()
	subs := d.stack.Subscribers()
	out := make([]Subscriber, len(subs))
	for i, s := range subs {
		entry, err := d.stack.Entry(i)
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		ds := Subscriber{PhoneNumber: s.Phone, UserID: s.UserID, Behaviour: describeBehaviour(s.Behaviour)}
		for _, c := range entry.Certificates {
			ds.Certificates = append(ds.Certificates, gateway.DescribeCertificate(c, now))
		}
		out[i] = ds
	}
	return out, nil
}

// handler is what the demo serves on the API's address: the demo page at
// "/", the simulated users at GET /v1/demo/subscribers for a portal's API
// key, and the portal API for everything else under /v1/.
func (d *Demo) handler(api *gateway.Server) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", api.Handler())
	mux.Handle("GET /v1/demo/subscribers", api.Authenticated(http.HandlerFunc(d.handleSubscribers)))
	mux.Handle("/", webui.Handler(webui.Options{API: api.Handler(), APIKey: d.apiKey, Users: d.webUsers}))
	return mux
}

// webUsers lists the simulated users for the demo page.
func (d *Demo) webUsers() []webui.User {
	p := d.subs.Load()
	if p == nil {
		return nil
	}
	out := make([]webui.User, len(*p))
	for i, s := range *p {
		out[i] = webui.User(s)
	}
	return out
}

// handleSubscribers lists the simulated users with their User IDs.
func (d *Demo) handleSubscribers(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	var subs []Subscriber
	if p := d.subs.Load(); p != nil {
		subs = *p
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"subscribers": subs})
}

// randomBytes reads n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand.Read crashes the program instead)
	return b
}

// APIAddr is the portal API's address.
func (d *Demo) APIAddr() string { return d.stack.APIAddr() }

// AdminAddr is the admin listener's address ("" when off).
func (d *Demo) AdminAddr() string { return d.stack.AdminAddr() }

// APIKey is the demo portal's bearer key.
func (d *Demo) APIKey() string { return d.apiKey }

// Subscribers lists the simulated users.
func (d *Demo) Subscribers() []Subscriber { return *d.subs.Load() }

// Stack is the simulated stack under the demo (farm, SMSC, gateway).
func (d *Demo) Stack() *simstack.Stack { return d.stack }

// Shutdown stops the gateway gracefully, then the SMSC and Redis.
func (d *Demo) Shutdown(ctx context.Context) error { return d.stack.Shutdown(ctx) }

// Banner is what `imzagate demo` prints once it is up.
func (d *Demo) Banner() string {
	var b strings.Builder
	fmt.Fprintf(&b, "imzagate demo is running\n")
	fmt.Fprintf(&b, "  demo portal page  http://%s/\n", d.APIAddr())
	fmt.Fprintf(&b, "  portal API        http://%s/v1/  (OpenAPI: /v1/openapi.yaml)\n", d.APIAddr())
	if a := d.AdminAddr(); a != "" {
		fmt.Fprintf(&b, "  admin             http://%s/metrics /healthz /readyz /debug/pprof/\n", a)
	}
	fmt.Fprintf(&b, "  API key           %s\n", d.APIKey())
	subs := d.Subscribers()
	fmt.Fprintf(&b, "  simulated SIMs    %d (list: GET /v1/demo/subscribers)\n", len(subs))
	if len(subs) > 0 {
		s := subs[0]
		fmt.Fprintf(&b, "  try               phone %s, User ID %s (%s)\n", s.PhoneNumber, s.UserID, s.Behaviour)
	}
	fmt.Fprintf(&b, "Press Ctrl-C to stop.\n")
	return b.String()
}

// Run starts the demo, prints the banner to out, serves until ctx ends and
// shuts down gracefully.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	d, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Fprint(out, d.Banner())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return d.Shutdown(sctx)
}
