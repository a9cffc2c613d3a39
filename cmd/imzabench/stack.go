package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/bench"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// The stack is wired here rather than through the demo's Start because a
// benchmark needs knobs the demo fixes for people: every user approves, an
// unthrottled portal (the demo's allows 1,000 starts/s), key sharing
// across SIMs so 100,000 of them provision in seconds, and no admin
// listener.
const (
	benchSeed     = "imzabench"
	benchOperator = "bench-operator"
	benchPortal   = "bench"
	// keyPool is the number of distinct key sets (and certificates) the
	// SIMs share; each SIM still has its own number, ICCID, OTA keys and
	// counters, which is what the gateway's work depends on.
	keyPool = 512
	// provisionWorkers write subscribers to Redis in parallel.
	provisionWorkers = 16
	// smppWindow is the submits in flight per bind, on both sides.
	smppWindow = 200
	// smppBinds is the number of binds to the test SMSC.
	smppBinds = 4
	// inboundWorkers per bind handle MOs and receipts; each spends most of
	// its time waiting on Redis, so the default 4 per bind queues replies
	// at a few thousand per second.
	inboundWorkers = 16
)

// stackOptions describe the all-in-one gateway the child runs.
type stackOptions struct {
	RedisAddr string    // the private redis-server
	SIMs      int       // simulated SIMs to provision
	Alg       string    // their signature algorithm: ecdsa-p256, ed25519, ml-dsa-44
	UserDelay userDelay // how long simulated users take to answer
	Verbose   bool      // log the gateway's warnings to Log
	Log       io.Writer
}

// stack is the running all-in-one gateway.
type stack struct {
	url    string
	apiKey string
	users  []bench.User
	close  func()
}

// parseAlg maps the --alg names to the applet's algorithms.
func parseAlg(s string) (applet.SigAlg, error) {
	switch s {
	case "ecdsa-p256":
		return applet.SigECDSAP256, nil
	case "ed25519":
		return applet.SigEd25519, nil
	case "ml-dsa-44":
		return applet.SigMLDSA44, nil
	}
	return 0, fmt.Errorf("--alg %q: want ecdsa-p256, ed25519 or ml-dsa-44", s)
}

// unitFloat maps i to a fixed pseudo-random number in [0, 1), so SIM i's
// answer delay is the same on every run.
func unitFloat(i int) float64 {
	x := uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}

// startStack starts the SIM farm, the test SMSC on a loopback port, and the
// gateway bound to it over SMPP against opts.RedisAddr, then provisions
// every SIM as a subscriber.
func startStack(ctx context.Context, opts stackOptions) (_ *stack, err error) {
	alg, err := parseAlg(opts.Alg)
	if err != nil {
		return nil, err
	}
	level := slog.LevelError
	if opts.Verbose {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(opts.Log, &slog.HandlerOptions{Level: level}))
	var closers []func()
	st := &stack{close: func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}}
	defer func() {
		if err != nil {
			st.close()
		}
	}()

	var master applet.MasterKeys
	for _, k := range []*[16]byte{&master.KIc, &master.KID, &master.KIcMO, &master.KIDMO} {
		_, _ = rand.Read(k[:])
	}
	delay := opts.UserDelay
	farm, err := simcard.New(simcard.Options{
		Cards: opts.SIMs, Seed: []byte(benchSeed), Master: master, KeyPool: min(keyPool, opts.SIMs),
		Behaviour: func(i int) simcard.Behaviour {
			return simcard.Behaviour{Action: simcard.Approve, Delay: delay.sample(unitFloat(i))}
		},
		Profile: func(int) []simcard.SlotSpec {
			return []simcard.SlotSpec{
				{Ref: applet.KeyRefAuth, Alg: alg, Kind: testca.Personal},
				{Ref: 0x02, Alg: alg, Kind: testca.Personal},
			}
		},
		Logger: log.With("component", "simcard"),
	})
	if err != nil {
		return nil, err
	}

	rdb := redis.NewUniversalClient(func() *redis.UniversalOptions {
		o := sessions.ClientOptions([]string{opts.RedisAddr}, "")
		o.PoolSize = 64
		return o
	}())
	closers = append(closers, func() { _ = rdb.Close() })

	pw := make([]byte, 4)
	_, _ = rand.Read(pw)
	password := hex.EncodeToString(pw)
	sc, err := smsc.Start("127.0.0.1:0", smsc.Options{
		Accounts: map[string]string{"imzabench": password}, Handset: farm, Window: smppWindow,
		QueueSize: 65536, Logger: log.With("component", "smsc"),
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() { _ = sc.Close() })

	key := make([]byte, 16)
	_, _ = rand.Read(key)
	st.apiKey = "bench-" + hex.EncodeToString(key)
	pepper := make([]byte, 32)
	_, _ = rand.Read(pepper)
	gw, err := gateway.Start(ctx, gateway.Options{
		HTTPAddr: "127.0.0.1:0", AdminAddr: "off", Redis: rdb, Pepper: pepper, MasterKeys: master,
		Operators: []smpp.Operator{{
			Name: benchOperator, Prefixes: []string{"994"},
			Binds: binds(sc.Addr(), password),
		}},
		InboundWorkers: inboundWorkers,
		Server: gateway.ServerOptions{
			Portals: []gateway.Portal{{ID: benchPortal, DisplayName: "Benchmark", APIKeySHA256: gateway.HashAPIKey(st.apiKey),
				RateLimit: 1e6, Burst: 1e6}},
			UserTimeout: 60 * time.Second, DeliveryGrace: 10 * time.Second,
		},
		Logger: log,
		// The audit trail as production runs it, so its cost is in the figures.
		Audit: gateway.AuditOptions{SigningKey: ed25519.NewKeyFromSeed(pepper), PhoneKey: pepper, Instance: "imzabench", SyncReplicas: -1},
	})
	if err != nil {
		return nil, err
	}
	closers = append(closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(sctx)
	})
	st.url = "http://" + gw.APIAddr()

	if st.users, err = provision(ctx, farm, gw.Store()); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Second)
	for gw.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gateway not ready: %v", gw.Ready(ctx))
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return st, nil
}

// binds are the gateway's SMPP binds to the test SMSC. Several binds, as
// an operator link would have, also spread the MO traffic over more
// inbound workers (the smpp package runs a fixed few per bind).
func binds(addr, password string) []smpp.BindConfig {
	out := make([]smpp.BindConfig, smppBinds)
	for i := range out {
		out[i] = smpp.BindConfig{Name: fmt.Sprintf("bench-%d", i), Addr: addr, SystemID: "imzabench", Password: password,
			SourceAddr: "9944000", Window: smppWindow, ReconnectMin: 100 * time.Millisecond, ReconnectMax: 2 * time.Second}
	}
	return out
}

// provision writes every SIM of the farm to the registry, in parallel.
func provision(ctx context.Context, farm *simcard.Farm, store *sessions.Store) ([]bench.User, error) {
	users := make([]bench.User, farm.Len())
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range provisionWorkers {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(users) {
					return nil
				}
				rec, err := farm.Record(i)
				if err != nil {
					return err
				}
				sub := sessions.Subscriber{Phone: "+" + rec.MSISDN, ICCID: rec.ICCID, KeyVersion: 1, Operator: benchOperator}
				for _, c := range rec.Certificates {
					sc, err := certificate(c)
					if err != nil {
						return err
					}
					sub.Certificates = append(sub.Certificates, sc)
				}
				if err := store.PutSubscriber(ctx, sub, rec.UserID); err != nil {
					return fmt.Errorf("provisioning SIM %d: %w", i, err)
				}
				users[i] = bench.User{Phone: sub.Phone, UserID: rec.UserID}
			}
		})
	}
	return users, g.Wait()
}

// certificate turns a card's certificate into a registry entry, its
// validity taken from the DER.
func certificate(c simcard.Certificate) (sessions.Certificate, error) {
	x, err := x509.ParseCertificate(c.DER)
	if err != nil {
		return sessions.Certificate{}, fmt.Errorf("card certificate: %w", err)
	}
	status := sessions.StatusActive
	if c.Revoked {
		status = sessions.StatusRevoked
	}
	typ := sessions.CertPersonal
	switch c.Kind {
	case testca.Business:
		typ = sessions.CertBusiness
	case testca.Government:
		typ = sessions.CertGovernment
	}
	return sessions.Certificate{Type: typ, TaxID: c.VOEN, KeyRef: c.KeyRef, DER: c.DER, NotBefore: x.NotBefore, NotAfter: x.NotAfter, Status: status}, nil
}

func flagSetChild(stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("imzabench "+childArg, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}
