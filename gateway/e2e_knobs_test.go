package gateway_test

import (
	"crypto/x509"
	"testing"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
)

// envConfig are startEnv's knobs: who issues the cards' certificates, the
// key versions the cards' OTA keys carry (the gateway is given the same),
// and a last word on the gateway's options. Without knobs the cards'
// certificates come from a served testca hierarchy (OCSP and CRLs on a
// loopback listener) whose root the gateway trusts, so every run is
// checked as production is.
type envConfig struct {
	ca          *testca.CA
	keyVersions applet.KeyVersions
	gateway     []func(*gateway.Options)
}

type envOption func(*envConfig)

// withCA has ca issue the cards' certificates; the gateway's Trust is then
// the caller's to set (withGateway).
func withCA(ca *testca.CA) envOption { return func(c *envConfig) { c.ca = ca } }

// withKeyVersions personalises the cards with v and configures the gateway
// the same way.
func withKeyVersions(v applet.KeyVersions) envOption { return func(c *envConfig) { c.keyVersions = v } }

// withGateway changes the gateway's options just before it starts.
func withGateway(f func(*gateway.Options)) envOption {
	return func(c *envConfig) { c.gateway = append(c.gateway, f) }
}

func newEnvConfig(t *testing.T, opts []envOption) *envConfig {
	t.Helper()
	cfg := &envConfig{}
	for _, o := range opts {
		o(cfg)
	}
	if cfg.ca == nil {
		h, err := testca.Serve("127.0.0.1:0", testca.Options{Name: "E2E Root", Seed: []byte("e2e")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		cfg.ca = h.Issuing
		root, issuing := h.Root.Certificate(), h.Issuing.Certificate()
		cfg.gateway = append([]func(*gateway.Options){func(o *gateway.Options) {
			o.Trust.RootCertificates = []*x509.Certificate{root}
			o.Trust.IntermediateCertificates = []*x509.Certificate{issuing}
		}}, cfg.gateway...)
	}
	return cfg
}

// apply gives the gateway the cards' key versions and the last word.
func (c *envConfig) apply(o gateway.Options) gateway.Options {
	o.OTAKeyVersions = c.keyVersions
	for _, f := range c.gateway {
		f(&o)
	}
	return o
}
