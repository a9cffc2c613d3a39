package trust

import (
	"context"
	"crypto/x509"
	"time"
)

// Checker validates subscribers' certificates against the configured
// certification authority and tracks their revocation status. It is safe
// for concurrent use.
type Checker struct {
	opts   Options
	m      *metrics
	roots  *x509.CertPool
	inters *x509.CertPool
	paths  *pathCache
	ocsp   *ocspChecker // nil when disabled or provisioned-only
	crls   *crlStore    // nil when disabled or provisioned-only
}

// New loads and checks the trust configuration. It fetches nothing: Run
// fetches the configured CRLs, and a check fetches what it needs.
func New(opts Options) (*Checker, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c := &Checker{opts: opts, m: newMetrics(opts.Registerer), paths: newPathCache(opts.MaxCachedPaths)}
	if opts.Mode == ModeProvisionedOnly {
		return c, nil
	}
	roots, err := loadAnchors("trust.roots", opts.Roots)
	if err != nil {
		return nil, err
	}
	inters, err := loadAnchors("trust.intermediates", opts.Intermediates)
	if err != nil {
		return nil, err
	}
	for _, g := range []struct {
		dst  *[]anchor
		name string
		list []*x509.Certificate
	}{{&roots, "Options.RootCertificates", opts.RootCertificates}, {&inters, "Options.IntermediateCertificates", opts.IntermediateCertificates}} {
		more, err := given(g.name, g.list)
		if err != nil {
			return nil, err
		}
		*g.dst = append(*g.dst, more...)
	}
	if len(roots) > maxAnchors || len(inters) > maxAnchors {
		return nil, configf("more than %d roots or intermediates", maxAnchors)
	}
	if c.roots, c.inters, err = checkAnchors(roots, inters, opts.Now()); err != nil {
		return nil, err
	}
	byName := make(map[string]*x509.Certificate)
	for _, a := range append(roots, inters...) {
		if prev := byName[a.cert.Subject.CommonName]; prev != nil && !prev.Equal(a.cert) {
			if opts.OCSP.URLs[a.cert.Subject.CommonName] != "" || opts.CRL.URLs[a.cert.Subject.CommonName] != "" {
				return nil, configf("two configured CAs are named %q: a URL given for that name is ambiguous", a.cert.Subject.CommonName)
			}
		}
		byName[a.cert.Subject.CommonName] = a.cert
	}
	for setting, urls := range map[string]map[string]string{"trust.ocsp.urls": opts.OCSP.URLs, "trust.crl.urls": opts.CRL.URLs} {
		for cn := range urls {
			if byName[cn] == nil {
				return nil, configf("%s names %q, which is not a configured root or intermediate", setting, cn)
			}
		}
	}
	if !opts.OCSP.Disabled {
		c.ocsp = &ocspChecker{opts: opts.OCSP, skew: opts.Skew, client: opts.HTTPClient, cache: opts.Cache,
			m: c.m, log: opts.Logger, held: make(map[[32]byte]heldStatus), warned: make(map[string]time.Time)}
	}
	if !opts.CRL.Disabled {
		c.crls = &crlStore{opts: opts.CRL, skew: opts.Skew, client: opts.HTTPClient, m: c.m, log: opts.Logger,
			now: opts.Now, sources: make(map[string]*crlSource)}
		for cn := range opts.CRL.URLs {
			c.crls.source(nil, byName[cn])
		}
		if opts.Registerer != nil {
			if err := opts.Registerer.Register(newCRLCollector(c.crls, opts.Now)); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// Run keeps the CRLs fresh until ctx ends: it fetches the configured ones
// at once, then every CRL known (configured or named by a certificate
// checked) each CRLOptions.RefreshInterval. A failed fetch keeps the CRL
// held and is retried on the next tick. Run returns nil when ctx ends, so
// it fits an errgroup beside the gateway's servers.
func (c *Checker) Run(ctx context.Context) error {
	if c.crls == nil {
		<-ctx.Done()
		return nil
	}
	c.crls.run(ctx)
	return nil
}

// Mode returns the configured mode, for the gateway to report it.
func (c *Checker) Mode() Mode { return c.opts.Mode }
