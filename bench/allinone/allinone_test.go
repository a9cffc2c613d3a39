package allinone

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/bench"
	"github.com/imzagate/imzagate/internal/simstack"
)

func TestMemoryPerSession(t *testing.T) {
	base := memSample{bytes: 1_000_000}
	tests := []struct {
		name        string
		first, last memSample
		want        float64
		how         string
	}{
		{"slope leaves one-off costs out", memSample{1000, 3_000_000}, memSample{11000, 12_000_000}, 900, "slope over 10000"},
		{"too few for a slope", memSample{100, 1_200_000}, memSample{600, 1_600_000}, 1000, "growth from before the load over 600"},
		{"no sample", memSample{}, memSample{}, 0, "no sample"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, how := memoryPerSession(base, tt.first, tt.last)
			if got != tt.want || !strings.Contains(how, tt.how) {
				t.Errorf("memoryPerSession = %v, %q; want %v, %q", got, how, tt.want, tt.how)
			}
		})
	}
}

func TestOptionsRejected(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"bad user delay", Options{SIMs: 10, Alg: "ed25519", UserDelay: "soon"}, "--user-delay"},
		{"no SIMs", Options{Alg: "ecdsa-p256"}, "--sims 0"},
		{"too many SIMs", Options{SIMs: maxSIMs + 1, Alg: "ecdsa-p256"}, "--sims"},
		{"unknown algorithm", Options{SIMs: 10, Alg: "rsa"}, "--alg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Run(t.Context(), tt.o, bench.Options{}, nil, &bench.Report{})
			if !errors.Is(err, ErrOption) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run = %v, want an ErrOption naming %q", err, tt.want)
			}
		})
	}
}

// TestStackOptions: the child's stack is the benchmark's, not the demo's:
// every user approves after the delay asked for, SIMs share the key pool,
// the portal is unthrottled, several binds with a wide window, no admin.
func TestStackOptions(t *testing.T) {
	d, err := simstack.ParseDelay("uniform:1s-2s")
	if err != nil {
		t.Fatal(err)
	}
	o := stackOptions("127.0.0.1:1", 1000, applet.SigMLDSA44, d, false, io.Discard)
	p := o.Portals[0]
	switch {
	case o.Behaviour != nil || o.UserDelay != d:
		t.Error("users are scripted otherwise than approving after the delay")
	case o.KeyPool != keyPool || o.Alg != applet.SigMLDSA44 || o.SIMs != 1000:
		t.Errorf("SIMs %d, alg %v, key pool %d", o.SIMs, o.Alg, o.KeyPool)
	case p.RateLimit < 1e6 || p.Burst < 1e6:
		t.Errorf("portal throttled: %+v", p.Portal)
	case o.Binds != smppBinds || o.Window != smppWindow || o.InboundWorkers != inboundWorkers:
		t.Errorf("binds %d window %d workers %d", o.Binds, o.Window, o.InboundWorkers)
	case o.AdminAddr != "" || o.Redis.Addrs[0] != "127.0.0.1:1" || o.Redis.PoolSize != redisPool:
		t.Errorf("admin %q, redis %+v", o.AdminAddr, o.Redis)
	}
	for _, name := range []string{"ecdsa-p256", "ed25519", "ml-dsa-44"} {
		if _, err := parseAlg(name); err != nil {
			t.Errorf("parseAlg(%q): %v", name, err)
		}
	}
}

func TestRunChildBadArguments(t *testing.T) {
	var out, errOut strings.Builder
	if code := RunChild([]string{"--sims", "3"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--redis") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if out.Len() != 0 {
		t.Fatalf("READY without a stack: %q", out.String())
	}
}
