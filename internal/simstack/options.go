package simstack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// Defaults of Options.
const (
	// DefaultSeed derives the SIMs when Options.Seed is empty.
	DefaultSeed = "imzagate-sim"
	// DefaultOperator names the simulated operator.
	DefaultOperator = "sim-operator"
	// DefaultSystemID is the SMPP account the gateways bind with.
	DefaultSystemID = "imzagate"
	// DefaultSIMs is the farm's size when Options.SIMs is zero.
	DefaultSIMs = 1000
	// sourceAddr is the short code the gateway sends from.
	sourceAddr = "9944000"
	// operatorPrefix routes every Azerbaijani number to the simulated
	// operator; longer prefixes of Options.Operators win over it.
	operatorPrefix = "994"
	// defaultProvisionWorkers write subscribers to Redis in parallel.
	defaultProvisionWorkers = 16
	// maxProvisionWorkers bounds Options.ProvisionWorkers.
	maxProvisionWorkers = 256
	// maxBinds bounds Options.Binds (SMPP sessions per instance).
	maxBinds = 64
	// defaultReadyTimeout bounds the wait for an instance's binds.
	defaultReadyTimeout = 15 * time.Second
)

// Options configure a stack. The zero value runs 1,000 SIMs whose users
// approve at once, an embedded Redis, random master keys, pepper and
// SMSC password, one unthrottled portal with a generated key, and one
// gateway instance with its API on a free loopback port and no admin
// listener.
type Options struct {
	// Redis is the session store's Redis (zero: an embedded one).
	Redis Redis

	// SIMs is the number of simulated SIMs, all provisioned (default
	// DefaultSIMs, at most simcard.MaxCards).
	SIMs int
	// Seed derives the SIMs' numbers, ICCIDs, User IDs and keys, so that
	// the same seed gives the same subscribers on every run (default
	// DefaultSeed).
	Seed string
	// Prefixes are the SIMs' E.164 prefixes (default simcard's three).
	Prefixes []string
	// Alg, when set, gives every SIM an authentication and a personal
	// signing key of this algorithm; otherwise Profile decides.
	Alg applet.SigAlg
	// Profile gives SIM i's key slots (default simcard.DefaultProfile); it
	// cannot be combined with Alg.
	Profile func(i int) []simcard.SlotSpec
	// KeyPool, when positive, makes SIMs share that many key sets and
	// certificates (each keeps its number, ICCID, OTA keys and counters),
	// so 100,000 SIMs provision in seconds; 0 gives each SIM its own.
	KeyPool int
	// Behaviour scripts SIM i's user; nil: every user approves after
	// UserDelay.At(i).
	Behaviour func(i int) simcard.Behaviour
	// UserDelay is how long the default users take to answer (zero: at once).
	UserDelay Delay
	// Faults gives SIM i's card faults (default none).
	Faults func(i int) simcard.Faults
	// Receipts sets the receipt outcome by SIM index (default Delivered).
	Receipts map[int]smsc.Outcome
	// Handset, when set, stands between the SMSC and the farm (a test
	// observing what each card accepted); nil hands MT to the farm.
	Handset func(*simcard.Farm) smsc.Handset

	// Operator names the simulated operator (default DefaultOperator).
	Operator string
	// SystemID and Password are the SMPP account the gateways bind with
	// (default DefaultSystemID and a random password).
	SystemID, Password string
	// Binds is the number of SMPP binds each gateway instance opens to
	// the SMSC (default 1): more binds also mean more inbound workers.
	Binds int
	// Window is the submits in flight per bind, set on both the gateway's
	// binds and the SMSC (0 keeps each side's default).
	Window int
	// InboundWorkers per bind handle MOs and receipts (0: smpp's default).
	InboundWorkers int
	// SMSC tunes the test SMSC (MaxBinds, MaxAttempts, RedeliveryDelay,
	// RequestTimeout, QueueSize, SpreadReplyParts, Faults...). Start sets
	// its Accounts, Handset, Window (when Window is set) and, from
	// Receipts, its Receipts; a nil Logger gets SimLogger's.
	SMSC smsc.Options
	// Operators are more operators beside the simulated one, routed by
	// their longer prefixes (a test's operator whose SMSC never answers).
	Operators []smpp.Operator

	// Portals are the portals the gateways accept (default one, "sim",
	// unthrottled).
	Portals []Portal
	// Server carries further portal API settings (UserTimeout,
	// DeliveryGrace, Callbacks, LookupEnv...); Start fills in Portals.
	Server gateway.ServerOptions
	// HTTPAddr is the API listener of the first instance (default
	// 127.0.0.1:0); StartInstance uses a free port unless told otherwise.
	HTTPAddr string
	// AdminAddr is the first instance's admin listener; empty or "off"
	// runs none.
	AdminAddr string
	// Handler, when set, builds every instance's API handler around the
	// portal API (a demo page beside it).
	Handler func(*gateway.Server) http.Handler
	// NoGateway starts Redis, the farm and the SMSC and provisions the
	// SIMs, but no gateway: the caller starts instances (StartInstance)
	// or runs gateway processes of its own.
	NoGateway bool

	// MasterKeys are the OTA master keys of the SIMs and the gateways
	// (zero: applet.RandomMasterKeys).
	MasterKeys applet.MasterKeys
	// Pepper keys the store's hashes (default 32 random bytes).
	Pepper []byte
	// CA issues the cards' certificates. Nil serves a CA hierarchy (root →
	// issuing CA, OCSP and CRLs on a loopback listener) that the gateways
	// trust, so the stack runs with every certificate checked as in
	// production; with a CA of the caller's, the trust settings are the
	// caller's too (Gateway).
	CA *testca.CA
	// KeyVersions are the cards' OTA key versions; the gateways are given
	// the same (zero: the protocol's defaults).
	KeyVersions applet.KeyVersions
	// NoAudit runs the gateways without the audit trail; by default they
	// keep one as production does, with a random checkpoint key, so its
	// cost is in every figure the stack gives.
	NoAudit bool
	// Gateway, when set, has the last word on each instance's options.
	Gateway func(*gateway.Options)
	// ProvisionWorkers write the subscribers in parallel (default 16).
	ProvisionWorkers int
	// ReadyTimeout bounds the wait for an instance's binds (default 15 s).
	ReadyTimeout time.Duration

	// Logger receives the gateways' logs; nil discards.
	Logger *slog.Logger
	// SimLogger receives the logs of the SMSC, the SIM farm and the
	// stack's own provisioning store; nil uses Logger.
	SimLogger *slog.Logger
	// Registry collects the first instance's metrics; nil lets the gateway
	// make one with the Go and process collectors.
	Registry *prometheus.Registry
	// ShutdownTimeout bounds each instance's graceful stop (default: the
	// gateway's).
	ShutdownTimeout time.Duration
}

// Redis says which Redis holds the sessions and the subscribers. The
// zero value starts an embedded one (miniredis) on a loopback port.
type Redis struct {
	// Addrs of a real Redis: one server, the nodes of a Cluster, or the
	// sentinels with MasterName (clients from sessions.ClientOptions).
	Addrs      []string
	MasterName string
	// URL of a real Redis (redis://host:port/db), instead of Addrs.
	URL string
	// PoolSize of each client the stack makes (0: go-redis's default).
	PoolSize int
	// Client, when set, is used by the stack and every instance as is;
	// it belongs to the caller, who closes it after Shutdown. Instances
	// with a RedisHook need Addrs or URL instead.
	Client redis.UniversalClient
}

// Portal is one portal the gateways accept, with its bearer key in clear
// for the caller's requests.
type Portal struct {
	// Portal is the gateway's portal; Start sets APIKeySHA256 from APIKey.
	gateway.Portal
	// APIKey is the bearer key; empty generates "<ID>-<32 hex digits>".
	APIKey string
}

// Instance configures one gateway instance of StartInstance.
type Instance struct {
	// Name names the instance's binds ("name", or "name-1".. with several
	// binds); empty keeps smpp's "<operator>-<n>".
	Name string
	// HTTPAddr and AdminAddr as in Options (defaults 127.0.0.1:0 and off).
	HTTPAddr, AdminAddr string
	// Registry collects this instance's metrics (nil: a fresh one).
	Registry *prometheus.Registry
	// RedisHook, when set, sees (or breaks) this instance's Redis calls;
	// the instance then has a client of its own.
	RedisHook redis.Hook
}

// validate fills in the defaults and rejects what cannot work.
func (o *Options) validate() error {
	if err := o.checkRanges(); err != nil {
		return err
	}
	if o.SIMs == 0 {
		o.SIMs = DefaultSIMs
	}
	if o.Seed == "" {
		o.Seed = DefaultSeed
	}
	if o.Operator == "" {
		o.Operator = DefaultOperator
	}
	if o.SystemID == "" {
		o.SystemID = DefaultSystemID
	}
	if o.Password == "" {
		o.Password = randomHex(4)
	}
	if o.Binds == 0 {
		o.Binds = 1
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:0"
	}
	if o.MasterKeys == (applet.MasterKeys{}) {
		o.MasterKeys = applet.RandomMasterKeys()
	}
	if o.Pepper == nil {
		o.Pepper = randomBytes(32)
	}
	if o.ProvisionWorkers == 0 {
		o.ProvisionWorkers = defaultProvisionWorkers
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = defaultReadyTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SimLogger == nil {
		o.SimLogger = o.Logger
	}
	if len(o.Portals) == 0 {
		o.Portals = []Portal{{Portal: gateway.Portal{ID: "sim", DisplayName: "Simulated portal", RateLimit: 1e6, Burst: 1e6}}}
	}
	return o.fillPortals()
}

// checkRanges rejects values no default can mend.
func (o *Options) checkRanges() error {
	switch {
	case o.SIMs < 0 || o.SIMs > simcard.MaxCards:
		return fmt.Errorf("simstack: SIMs %d outside 1..%d", o.SIMs, simcard.MaxCards)
	case o.Alg != 0 && o.Profile != nil:
		return errors.New("simstack: Alg and Profile are exclusive")
	case o.Alg != 0 && o.Alg != applet.SigECDSAP256 && o.Alg != applet.SigEd25519 && o.Alg != applet.SigMLDSA44:
		return fmt.Errorf("simstack: unknown signature algorithm %v", o.Alg)
	case o.KeyPool < 0:
		return errors.New("simstack: KeyPool cannot be negative")
	case o.Binds < 0 || o.Binds > maxBinds:
		return fmt.Errorf("simstack: Binds %d outside 1..%d", o.Binds, maxBinds)
	case o.Window < 0:
		return errors.New("simstack: Window cannot be negative")
	case o.ProvisionWorkers < 0 || o.ProvisionWorkers > maxProvisionWorkers:
		return fmt.Errorf("simstack: ProvisionWorkers %d outside 1..%d", o.ProvisionWorkers, maxProvisionWorkers)
	case o.ReadyTimeout < 0:
		return errors.New("simstack: ReadyTimeout cannot be negative")
	case o.Pepper != nil && len(o.Pepper) < sessions.MinPepperLen:
		return fmt.Errorf("simstack: Pepper must be at least %d bytes", sessions.MinPepperLen)
	case o.Redis.URL != "" && len(o.Redis.Addrs) > 0, o.Redis.Client != nil && (o.Redis.URL != "" || len(o.Redis.Addrs) > 0):
		return errors.New("simstack: give Redis one of Addrs, URL or Client")
	case o.Redis.PoolSize < 0:
		return errors.New("simstack: Redis.PoolSize cannot be negative")
	}
	return nil
}

// fillPortals hashes each portal's key, generating the missing ones.
func (o *Options) fillPortals() error {
	portals := make([]Portal, len(o.Portals))
	seen := map[string]bool{}
	for i, p := range o.Portals {
		if p.ID == "" || seen[p.ID] {
			return fmt.Errorf("simstack: portal %d: empty or repeated ID %q", i, p.ID)
		}
		seen[p.ID] = true
		if p.APIKey == "" {
			p.APIKey = p.ID + "-" + randomHex(16)
		}
		p.APIKeySHA256 = gateway.HashAPIKey(p.APIKey)
		portals[i] = p
	}
	o.Portals = portals
	return nil
}
