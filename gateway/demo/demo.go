package demo

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/webui"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/embedded"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// Seed makes the demo's simulated SIMs the same on every run, so the
// README's walk-through can name a phone number and User ID.
const Seed = simcard.DemoSeed

// Options configure the demo. The zero value runs 1,000 SIMs on
// 127.0.0.1:8080 with an embedded Redis and a generated API key.
type Options struct {
	HTTPAddr  string // default 127.0.0.1:8080
	AdminAddr string // default 127.0.0.1:9090
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
	// Profile overrides the key slots of SIM i (tests).
	Profile func(i int) []simcard.SlotSpec
	// Faults overrides the card faults of SIM i (tests).
	Faults func(i int) simcard.Faults
	// Receipts sets the SMSC's receipt outcome per MSISDN (digits, tests).
	Receipts map[string]smsc.Outcome
	// Logger; nil writes text to io.Discard.
	Logger *slog.Logger
	// Registry collects metrics; nil makes one with Go and process collectors.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds Shutdown (default 10 s).
	ShutdownTimeout time.Duration
}

// Demo is a running all-in-one gateway.
type Demo struct {
	gw     *gateway.Gateway
	smsc   *smsc.Server
	farm   *simcard.Farm
	redis  *embedded.Server
	rdb    redis.UniversalClient
	apiKey string
	subs   []Subscriber
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

// SubscriberFromRecord turns a simulated card into a registry entry.
func SubscriberFromRecord(r simcard.Record, operator string) (sessions.Subscriber, error) {
	sub := sessions.Subscriber{Phone: "+" + r.MSISDN, ICCID: r.ICCID, KeyVersion: 1, Operator: operator}
	for _, c := range r.Certificates {
		x, err := x509.ParseCertificate(c.DER)
		if err != nil {
			return sub, fmt.Errorf("demo: card certificate: %w", err)
		}
		status := sessions.StatusActive
		if c.Revoked {
			status = sessions.StatusRevoked
		}
		typ := c.Kind.String()
		if c.Kind != testca.Personal && c.Kind != testca.Business && c.Kind != testca.Government {
			typ = "personal"
		}
		sub.Certificates = append(sub.Certificates, sessions.Certificate{Type: typ, TaxID: c.VOEN, KeyRef: c.KeyRef, DER: c.DER,
			NotBefore: x.NotBefore, NotAfter: x.NotAfter, Status: status})
	}
	return sub, nil
}

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
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
		opts.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return nil
}

// Start runs the demo: Redis (embedded unless RedisURL), a simulated SIM
// farm, the test SMSC on a loopback port with the farm as its handsets, and
// a gateway bound to it over real SMPP.
func Start(ctx context.Context, opts Options) (_ *Demo, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	d := &Demo{apiKey: opts.APIKey}
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.apiKey == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		d.apiKey = "demo-" + hex.EncodeToString(b)
	}
	var master applet.MasterKeys
	for _, k := range []*[16]byte{&master.KIc, &master.KID, &master.KIcMO, &master.KIDMO} {
		_, _ = rand.Read(k[:])
	}
	d.farm, err = simcard.New(simcard.Options{Cards: opts.SIMs, Seed: []byte(Seed), Master: master,
		Behaviour: opts.Behaviour, Profile: opts.Profile, Faults: opts.Faults,
		Logger: opts.Logger.With("component", "simcard")})
	if err != nil {
		return nil, err
	}
	if err := d.openRedis(opts.RedisURL); err != nil {
		return nil, err
	}
	password := hex.EncodeToString(master.KID[:4])
	d.smsc, err = smsc.Start("127.0.0.1:0", smsc.Options{
		Accounts: map[string]string{"imzagate": password}, Handset: d.farm, Receipts: opts.Receipts,
		Logger: opts.Logger.With("component", "smsc"),
	})
	if err != nil {
		return nil, err
	}
	pepper := make([]byte, 32)
	_, _ = rand.Read(pepper)
	const operator = "demo-operator"
	gopts := gateway.Options{
		HTTPAddr: opts.HTTPAddr, AdminAddr: opts.AdminAddr, Redis: d.rdb, Pepper: pepper, MasterKeys: master,
		Operators: []smpp.Operator{{
			Name: operator, Prefixes: []string{"994"},
			Binds: []smpp.BindConfig{{Addr: d.smsc.Addr(), SystemID: "imzagate", Password: password, SourceAddr: "9944000",
				ReconnectMin: 100 * time.Millisecond, ReconnectMax: 2 * time.Second}},
		}},
		Server: gateway.ServerOptions{
			Portals:     []gateway.Portal{{ID: "demo", DisplayName: "Demo portal", APIKeySHA256: gateway.HashAPIKey(d.apiKey), RateLimit: 1000, Burst: 1000}},
			UserTimeout: opts.UserTimeout, DeliveryGrace: 10 * time.Second,
		},
		Handler: d.handler,
		Logger:  opts.Logger, Registry: opts.Registry, ShutdownTimeout: opts.ShutdownTimeout,
	}
	d.gw, err = gateway.Start(ctx, gopts)
	if err != nil {
		return nil, err
	}
	if err := d.provision(ctx, operator); err != nil {
		return nil, err
	}
	// Wait for the bind so the first request does not meet an unbound operator.
	deadline := time.Now().Add(10 * time.Second)
	for d.gw.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("demo: gateway not ready: %v", d.gw.Ready(ctx))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return d, nil
}

// openRedis connects to the Redis at url, or starts the embedded one.
func (d *Demo) openRedis(url string) error {
	if url == "" {
		var err error
		if d.redis, err = embedded.Start(); err != nil {
			return err
		}
		d.rdb = d.redis.Client()
		return nil
	}
	ro, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("demo: --redis: %w", err)
	}
	ro.ContextTimeoutEnabled = true
	d.rdb = redis.NewClient(ro)
	return nil
}

// provision stores every card of the farm as a subscriber of operator and
// lists it for /v1/demo/subscribers.
func (d *Demo) provision(ctx context.Context, operator string) error {
	now := time.Now()
	for i := range d.farm.Len() {
		rec, err := d.farm.Record(i)
		if err != nil {
			return err
		}
		sub, err := SubscriberFromRecord(rec, operator)
		if err != nil {
			return err
		}
		if err := d.gw.Store().PutSubscriber(ctx, sub, rec.UserID); err != nil {
			return fmt.Errorf("demo: provisioning: %w", err)
		}
		ds := Subscriber{PhoneNumber: sub.Phone, UserID: rec.UserID, Behaviour: describeBehaviour(rec.Behaviour)}
		for _, c := range sub.Certificates {
			ds.Certificates = append(ds.Certificates, gateway.DescribeCertificate(c, now))
		}
		d.subs = append(d.subs, ds)
	}
	return nil
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
	out := make([]webui.User, len(d.subs))
	for i, s := range d.subs {
		out[i] = webui.User(s)
	}
	return out
}

// handleSubscribers lists the simulated users with their User IDs.
func (d *Demo) handleSubscribers(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"subscribers": d.subs})
}

// APIAddr is the portal API's address.
func (d *Demo) APIAddr() string { return d.gw.APIAddr() }

// AdminAddr is the admin listener's address.
func (d *Demo) AdminAddr() string { return d.gw.AdminAddr() }

// APIKey is the demo portal's bearer key.
func (d *Demo) APIKey() string { return d.apiKey }

// Subscribers lists the simulated users.
func (d *Demo) Subscribers() []Subscriber { return d.subs }

// Farm is the simulated SIM farm.
func (d *Demo) Farm() *simcard.Farm { return d.farm }

// SMSC is the simulated operator.
func (d *Demo) SMSC() *smsc.Server { return d.smsc }

// Gateway is the running gateway.
func (d *Demo) Gateway() *gateway.Gateway { return d.gw }

// Shutdown stops the gateway gracefully, then the SMSC and Redis.
func (d *Demo) Shutdown(ctx context.Context) error {
	var err error
	if d.gw != nil {
		err = d.gw.Shutdown(ctx)
		d.gw = nil
	}
	d.close()
	return err
}

func (d *Demo) close() {
	if d.gw != nil {
		_ = d.gw.Shutdown(context.Background())
	}
	if d.smsc != nil {
		_ = d.smsc.Close()
	}
	if d.redis != nil {
		d.redis.Close()
	} else if d.rdb != nil {
		_ = d.rdb.Close()
	}
}

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
	fmt.Fprintf(&b, "  simulated SIMs    %d (list: GET /v1/demo/subscribers)\n", len(d.subs))
	if len(d.subs) > 0 {
		s := d.subs[0]
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
