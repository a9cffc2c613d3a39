package gateway

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/imzagate/imzagate/gateway/ades"
	"github.com/imzagate/imzagate/gateway/trust"
)

// ChainSource gives the issuer certificates of a subscriber's certificate,
// issuer first and root last, which a CAdES container carries beside the
// signer's. The gateway asks it when a CAdES or ASiC-E session starts and
// again, on whichever instance the reply reaches, when the container is
// assembled; both answers must be the same. NewCAChains builds one from CA
// certificates; path validation can supply its validated path instead.
type ChainSource interface {
	ChainFor(cert *x509.Certificate) ([]*x509.Certificate, error)
}

// trustChains is the ChainSource of the trust checker: the validated
// path's issuers, the default when no ades.caFiles are configured.
type trustChains struct {
	c   *trust.Checker
	now func() time.Time
}

// ChainFor implements ChainSource.
func (t trustChains) ChainFor(cert *x509.Certificate) ([]*x509.Certificate, error) {
	chain, err := t.c.Issuers(cert, t.now())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errNoChain, err)
	}
	return chain, nil
}

// errNoChain reports a certificate whose issuer the ChainSource does not
// know; the portal gets CERTIFICATE_CHAIN_UNAVAILABLE.
var errNoChain = errors.New("gateway: no certificate chain")

// caChains is the ChainSource of a fixed set of CA certificates: it links
// a certificate to its issuer by name and, where several CA certificates
// share a name (a CA's key rollover), by key identifier. The CA
// certificates' own links are checked by signature once, in NewCAChains;
// the subscriber's certificate is linked by name only, as the registry's
// certificates are issued by these CAs (checking them is path validation's
// job).
type caChains struct {
	bySubject map[string][]*x509.Certificate
}

// NewCAChains returns a ChainSource over the given CA certificates (roots
// and intermediates, in any order). Each must be a CA certificate, and
// each must lead by signature to a self-signed root of the set within
// ades.MaxChain certificates.
func NewCAChains(cas []*x509.Certificate) (ChainSource, error) {
	c := &caChains{bySubject: make(map[string][]*x509.Certificate, len(cas))}
	for _, ca := range cas {
		if ca == nil || !ca.BasicConstraintsValid || !ca.IsCA {
			return nil, errors.New("gateway: AdES CA certificates: a certificate is not a CA certificate")
		}
		c.bySubject[string(ca.RawSubject)] = append(c.bySubject[string(ca.RawSubject)], ca)
	}
	for _, ca := range cas {
		if _, err := c.walk(ca, true); err != nil {
			return nil, fmt.Errorf("gateway: AdES CA certificate %q: %w", ca.Subject.String(), err)
		}
	}
	return c, nil
}

// ChainFor implements ChainSource.
func (c *caChains) ChainFor(cert *x509.Certificate) ([]*x509.Certificate, error) {
	return c.walk(cert, false)
}

// walk follows issuers from cert up to a self-issued root and returns
// them (cert itself included when it is a root of the set, so that a
// root's chain is itself). checkSig verifies each link's signature.
func (c *caChains) walk(cert *x509.Certificate, checkSig bool) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	child := cert
	for range ades.MaxChain {
		if bytes.Equal(child.RawIssuer, child.RawSubject) && len(chain) > 0 {
			return chain, nil
		}
		issuer := c.issuerOf(child, checkSig)
		if issuer == nil {
			return nil, fmt.Errorf("%w: no CA certificate issued %q", errNoChain, child.Subject.String())
		}
		chain = append(chain, issuer)
		if issuer == child { // a self-signed root of the set
			return chain, nil
		}
		child = issuer
	}
	return nil, fmt.Errorf("%w: longer than %d certificates", errNoChain, ades.MaxChain)
}

// issuerOf picks child's issuer among the CA certificates with its issuer
// name: the only one, else the one whose subject key identifier matches
// child's authority key identifier, else (or when checkSig) the one whose
// signature verifies.
func (c *caChains) issuerOf(child *x509.Certificate, checkSig bool) *x509.Certificate {
	cands := c.bySubject[string(child.RawIssuer)]
	for _, ca := range cands {
		switch {
		case checkSig:
			if child.CheckSignatureFrom(ca) == nil {
				return ca
			}
		case len(cands) == 1:
			return ca
		case len(child.AuthorityKeyId) > 0 && bytes.Equal(child.AuthorityKeyId, ca.SubjectKeyId):
			return ca
		}
	}
	if !checkSig && len(cands) > 1 {
		return c.issuerOf(child, true)
	}
	return nil
}

// LoadCertificates reads the PEM certificates of the given files, for the
// configuration's AdES CA list.
func LoadCertificates(files []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("config: ades.caFiles: %w", err)
		}
		n := 0
		for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
			if block.Type != "CERTIFICATE" {
				continue
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("config: ades.caFiles: %s: %w", f, err)
			}
			out, n = append(out, cert), n+1
		}
		if n == 0 {
			return nil, fmt.Errorf("config: ades.caFiles: %s holds no PEM certificate", f)
		}
	}
	return out, nil
}
