package simstack

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/embedded"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// Stack is a running simulated system: Redis, the SIM farm, the test SMSC
// and the gateway instances. Its methods are safe for concurrent use.
type Stack struct {
	opts    Options
	redis   redisConn
	store   *sessions.Store // provisions; the instances have their own
	farm    *simcard.Farm
	smsc    *smsc.Server
	subs    []Subscriber
	apiKeys map[string]string
	ca      *testca.Hierarchy  // the served CA when Options.CA is nil
	audit   ed25519.PrivateKey // signs the audit trail's checkpoints

	mu        sync.Mutex
	instances []*instance
	closed    bool // Shutdown began: no more instances
}

// Subscriber is one provisioned SIM as a portal addresses it.
type Subscriber struct {
	// Phone is the number in E.164 with '+', as portals send it.
	Phone string
	// UserID is the 6-digit User ID the registry checks.
	UserID string
	// Behaviour is the SIM's scripted user.
	Behaviour simcard.Behaviour
}

// instance is one running gateway with the client it owns (nil when it
// shares the stack's).
type instance struct {
	gw     *gateway.Gateway
	client redis.UniversalClient
}

// Start runs the stack: Redis (embedded unless Options.Redis names one),
// the SIM farm, the test SMSC on a loopback port with the farm as its
// handsets, every SIM provisioned as a subscriber, then (unless
// NoGateway) one gateway bound to the SMSC over real SMPP, waited for
// until its binds are up. ctx bounds the start only.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Stack{opts: opts, apiKeys: map[string]string{}, audit: ed25519.NewKeyFromSeed(randomBytes(ed25519.SeedSize))}
	for _, p := range opts.Portals {
		s.apiKeys[p.ID] = p.APIKey
	}
	defer func() {
		if err != nil {
			s.close(context.Background())
		}
	}()
	cardCA := opts.CA
	if cardCA == nil {
		if s.ca, err = testca.Serve("127.0.0.1:0", testca.Options{Name: "simstack root", Seed: []byte(opts.Seed)}); err != nil {
			return nil, fmt.Errorf("simstack: CA: %w", err)
		}
		cardCA = s.ca.Issuing
	}
	if s.farm, err = newFarm(opts, cardCA); err != nil {
		return nil, err
	}
	if s.redis, err = openRedis(opts.Redis); err != nil {
		return nil, err
	}
	s.store, err = sessions.New(s.redis.client, sessions.Options{Pepper: opts.Pepper,
		Logger: opts.SimLogger.With("component", "provisioning")})
	if err != nil {
		return nil, fmt.Errorf("simstack: store: %w", err)
	}
	if s.smsc, err = s.startSMSC(); err != nil {
		return nil, err
	}
	if s.subs, err = s.provision(ctx); err != nil {
		return nil, err
	}
	if opts.NoGateway {
		return s, nil
	}
	if _, err = s.StartInstance(ctx, Instance{HTTPAddr: opts.HTTPAddr, AdminAddr: opts.AdminAddr, Registry: opts.Registry}); err != nil {
		return nil, err
	}
	return s, nil
}

// newFarm makes the SIMs.
func newFarm(opts Options, ca *testca.CA) (*simcard.Farm, error) {
	behaviour := opts.Behaviour
	if behaviour == nil {
		delay := opts.UserDelay
		behaviour = func(i int) simcard.Behaviour {
			return simcard.Behaviour{Action: simcard.Approve, Delay: delay.At(i)}
		}
	}
	profile := opts.Profile
	if alg := opts.Alg; alg != 0 {
		profile = func(int) []simcard.SlotSpec {
			return []simcard.SlotSpec{
				{Ref: applet.KeyRefAuth, Alg: alg, Kind: testca.Personal},
				{Ref: 0x02, Alg: alg, Kind: testca.Personal},
			}
		}
	}
	keyPool := opts.KeyPool
	if keyPool > opts.SIMs {
		keyPool = opts.SIMs
	}
	farm, err := simcard.New(simcard.Options{
		Cards: opts.SIMs, Seed: []byte(opts.Seed), Master: opts.MasterKeys, Prefixes: opts.Prefixes,
		Behaviour: behaviour, Profile: profile, Faults: opts.Faults, KeyPool: keyPool,
		CA: ca, KeyVersions: opts.KeyVersions,
		Logger: opts.SimLogger.With("component", "simcard"),
	})
	if err != nil {
		return nil, fmt.Errorf("simstack: %w", err)
	}
	return farm, nil
}

// startSMSC starts the test SMSC on a loopback port in front of the farm.
func (s *Stack) startSMSC() (*smsc.Server, error) {
	so := s.opts.SMSC
	so.Accounts = map[string]string{s.opts.SystemID: s.opts.Password}
	so.Handset = s.farm
	if s.opts.Handset != nil {
		so.Handset = s.opts.Handset(s.farm)
	}
	if s.opts.Window > 0 {
		so.Window = s.opts.Window
	}
	if len(s.opts.Receipts) > 0 {
		so.Receipts = maps.Clone(so.Receipts)
		if so.Receipts == nil {
			so.Receipts = map[string]smsc.Outcome{}
		}
		for i, outcome := range s.opts.Receipts {
			c := s.farm.Card(i)
			if c == nil {
				return nil, fmt.Errorf("simstack: Receipts: no SIM %d", i)
			}
			so.Receipts[c.MSISDN()] = outcome
		}
	}
	if so.Logger == nil {
		so.Logger = s.opts.SimLogger.With("component", "smsc")
	}
	srv, err := smsc.Start("127.0.0.1:0", so)
	if err != nil {
		return nil, fmt.Errorf("simstack: SMSC: %w", err)
	}
	return srv, nil
}

// APIAddr is the first instance's API address ("" with none running).
func (s *Stack) APIAddr() string {
	if gw := s.Gateway(); gw != nil {
		return gw.APIAddr()
	}
	return ""
}

// AdminAddr is the first instance's admin address ("" when off or none).
func (s *Stack) AdminAddr() string {
	if gw := s.Gateway(); gw != nil {
		return gw.AdminAddr()
	}
	return ""
}

// APIKey is the bearer key of the portal with this ID ("" if none).
func (s *Stack) APIKey(portal string) string { return s.apiKeys[portal] }

// APIKeys maps every portal's ID to its bearer key.
func (s *Stack) APIKeys() map[string]string { return maps.Clone(s.apiKeys) }

// Subscribers lists the provisioned SIMs, SIM i at index i. The slice is
// the stack's own: callers must not change it.
func (s *Stack) Subscribers() []Subscriber { return s.subs }

// Entry is SIM i's registry entry, as provisioned.
func (s *Stack) Entry(i int) (sessions.Subscriber, error) {
	rec, err := s.farm.Record(i)
	if err != nil {
		return sessions.Subscriber{}, err
	}
	return Entry(rec, s.opts.Operator)
}

// Farm is the simulated SIM farm.
func (s *Stack) Farm() *simcard.Farm { return s.farm }

// Root is the root certificate of the CA the stack serves, which its
// gateways trust; nil when Options.CA named another CA.
func (s *Stack) Root() *x509.Certificate {
	if s.ca == nil {
		return nil
	}
	return s.ca.Root.Certificate()
}

// SMSC is the simulated operator's SMSC.
func (s *Stack) SMSC() *smsc.Server { return s.smsc }

// Store is the stack's session store on the same Redis and pepper as the
// gateways (to provision more subscribers).
func (s *Stack) Store() *sessions.Store { return s.store }

// MasterKeys are the OTA master keys the SIMs and the gateways share.
func (s *Stack) MasterKeys() applet.MasterKeys { return s.opts.MasterKeys }

// Pepper keys the store's hashes (a gateway process of the caller's needs it).
func (s *Stack) Pepper() []byte { return s.opts.Pepper }

// Operator is the simulated operator's name.
func (s *Stack) Operator() string { return s.opts.Operator }

// SMPPAccount is the system_id and password the gateways bind with.
func (s *Stack) SMPPAccount() (systemID, password string) { return s.opts.SystemID, s.opts.Password }

// Gateway is the first running instance (nil with none).
func (s *Stack) Gateway() *gateway.Gateway {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.instances) == 0 {
		return nil
	}
	return s.instances[0].gw
}

// Gateways are the instances in the order they started.
func (s *Stack) Gateways() []*gateway.Gateway {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*gateway.Gateway, len(s.instances))
	for i, in := range s.instances {
		out[i] = in.gw
	}
	return out
}

// Shutdown stops every instance gracefully (the latest first) within
// ctx, then the SMSC, the store and Redis. It returns the instances'
// errors.
func (s *Stack) Shutdown(ctx context.Context) error { return s.close(ctx) }

// close stops whatever has started.
func (s *Stack) close(ctx context.Context) error {
	s.mu.Lock()
	instances := s.instances
	s.instances, s.closed = nil, true
	s.mu.Unlock()
	var errs []error
	for i := len(instances) - 1; i >= 0; i-- {
		if err := instances[i].gw.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("simstack: instance %d: %w", i+1, err))
		}
		if c := instances[i].client; c != nil {
			_ = c.Close()
		}
	}
	if s.smsc != nil {
		_ = s.smsc.Close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
	s.redis.close()
	if s.ca != nil {
		_ = s.ca.Close()
	}
	return errors.Join(errs...)
}

// randomBytes reads n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand.Read crashes the program instead)
	return b
}

// randomHex is n random bytes in hex.
func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

// redisConn is the stack's Redis: the client it provisions with, the
// embedded server when it runs one, and how to make more clients.
type redisConn struct {
	client   redis.UniversalClient
	owned    bool             // the stack closes client
	embedded *embedded.Server // nil for a real Redis
	dial     func() redis.UniversalClient
}

// close closes what the stack opened.
func (r redisConn) close() {
	if r.owned && r.client != nil {
		_ = r.client.Close()
	}
	if r.embedded != nil {
		r.embedded.Close()
	}
}
