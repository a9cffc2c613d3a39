package allinone

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/internal/simstack"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// The child's stack: knobs a benchmark needs and the demo does not.
const (
	seed     = "imzabench"
	operator = "bench-operator"
	portal   = "bench"
	// keyPool is the number of distinct key sets (and certificates) the
	// SIMs share; each SIM still has its own number, ICCID, OTA keys and
	// counters, which is what the gateway's work depends on.
	keyPool = 512
	// smppWindow is the submits in flight per bind, on both sides.
	smppWindow = 200
	// smppBinds is the number of binds to the test SMSC; several binds,
	// as an operator link would have, spread the MOs over more workers.
	smppBinds = 4
	// inboundWorkers per bind handle MOs and receipts; each spends most of
	// its time waiting on Redis, so the default 4 per bind queues replies
	// at a few thousand per second.
	inboundWorkers = 16
	// redisPool is the gateway's Redis connections.
	redisPool = 64
	// smscQueue bounds the deliveries waiting at the SMSC.
	smscQueue = 65536
)

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

// stackOptions are the child's simulated stack on the Redis at redisAddr.
func stackOptions(redisAddr string, sims int, alg applet.SigAlg, delay simstack.Delay, verbose bool, log io.Writer) simstack.Options {
	level := slog.LevelError
	if verbose {
		level = slog.LevelWarn
	}
	return simstack.Options{
		Redis: simstack.Redis{Addrs: []string{redisAddr}, PoolSize: redisPool},
		SIMs:  sims, Seed: seed, Alg: alg, KeyPool: keyPool, UserDelay: delay,
		Operator: operator, SystemID: "imzabench", Binds: smppBinds, Window: smppWindow, InboundWorkers: inboundWorkers,
		SMSC:    smsc.Options{QueueSize: smscQueue},
		Portals: []simstack.Portal{{Portal: gateway.Portal{ID: portal, DisplayName: "Benchmark", RateLimit: 1e6, Burst: 1e6}}},
		Server:  gateway.ServerOptions{UserTimeout: 60 * time.Second, DeliveryGrace: 10 * time.Second},
		Logger:  slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: level})),
	}
}
