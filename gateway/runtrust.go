package gateway

import (
	"fmt"

	"github.com/imzagate/imzagate/gateway/trust"
)

// newTrust builds the certificate checker of Options.Trust, sharing OCSP
// answers through the session store and registering its metrics on the
// gateway's registry. Provisioned-only mode is said loudly: it is the
// migration mode, not one to forget in.
func (g *Gateway) newTrust() (*trust.Checker, error) {
	to := g.opts.Trust
	if to.Cache == nil {
		to.Cache = g.store
	}
	if to.Registerer == nil {
		to.Registerer = g.opts.Registry
	}
	if to.Logger == nil {
		to.Logger = g.opts.Logger.With("component", "trust")
	}
	c, err := trust.New(to)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if c.Mode() == trust.ModeProvisionedOnly {
		g.log.Warn("trust mode provisioned-only: certificates are not checked against the certification authority; " +
			"the registry's revoked flag is the only revocation status (configure trust.roots to verify)")
	}
	return c, nil
}

// readyText is /readyz's answer when ready; it names provisioned-only
// mode, so a probe's log shows a gateway left in it.
func (g *Gateway) readyText() string {
	if g.trust.Mode() == trust.ModeProvisionedOnly {
		return "ready (trust: provisioned-only)\n"
	}
	return "ready\n"
}
