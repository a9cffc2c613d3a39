package trust

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Mode says where revocation status comes from.
type Mode uint8

// Modes.
const (
	// ModeVerify (the zero value): every certificate must chain to a
	// configured root, and its status comes from the CA (OCSP, CRL).
	ModeVerify Mode = iota
	// ModeProvisionedOnly is the explicit migration mode: no roots, no
	// chain check, and the status is the one the registry import wrote
	// (source "provisioned"). Validity, key usage and the slot are still
	// checked.
	ModeProvisionedOnly
)

// String gives the configuration spelling of the mode.
func (m Mode) String() string {
	switch m {
	case ModeVerify:
		return "verify"
	case ModeProvisionedOnly:
		return "provisioned-only"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode reads a configuration value: "verify" (or empty) or
// "provisioned-only".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "verify":
		return ModeVerify, nil
	case "provisioned-only":
		return ModeProvisionedOnly, nil
	}
	return 0, configf("trust.mode %q: want verify or provisioned-only", s)
}

// Defaults applied by New to zero fields.
const (
	DefaultOCSPTimeout      = 3 * time.Second
	DefaultOCSPMaxHold      = 30 * time.Second
	DefaultOCSPMaxCacheTTL  = time.Hour
	DefaultOCSPMaxResponse  = 32 * 1024
	DefaultOCSPMaxHeld      = 100_000
	DefaultSkew             = 2 * time.Minute
	DefaultCRLRefresh       = time.Minute
	DefaultCRLTimeout       = 10 * time.Second
	DefaultCRLMaxBytes      = 16 << 20
	DefaultCRLMaxEntries    = 1_000_000
	DefaultCRLMaxSources    = 16
	DefaultMaxCachedPaths   = 10_000
	minRefreshInterval      = 10 * time.Millisecond
	maxAnchorFileLen        = 1 << 20
	maxAnchors              = 256
	maxChainLen             = 8
	maxConfiguredURLs       = 64
	maxIssuerLabelLen       = 64
	syncFetchRetryInterval  = 5 * time.Second
	defaultHTTPIdleTimeout  = 90 * time.Second
	defaultHTTPMaxIdleConns = 16
)

// OCSPCache is the shared store of raw OCSP responses (package sessions'
// Store implements it on Redis). Get returns an error matching
// sessions.ErrNotFound on a miss; any other error is an unavailable
// cache, which costs a responder request, never a refusal.
type OCSPCache interface {
	OCSPResponse(ctx context.Context, issuerKeyHash, serial []byte) ([]byte, error)
	PutOCSPResponse(ctx context.Context, issuerKeyHash, serial, der []byte, ttl time.Duration) error
}

// OCSPOptions configure OCSP (RFC 6960). The zero value asks the
// responder named in each certificate.
type OCSPOptions struct {
	// Disabled turns OCSP off: status comes from CRLs alone.
	Disabled bool
	// URLs maps an issuing CA's common name to the responder to ask for
	// the certificates it issued, instead of the one in their authority
	// information access extension.
	URLs map[string]string
	// Timeout bounds one responder request (default 3s).
	Timeout time.Duration
	// Nonce sends a fresh nonce (RFC 8954) with every request; a response
	// that echoes one must echo it exactly. Responses then cannot come
	// from an HTTP cache between gateway and responder.
	Nonce bool
	// MaxHold bounds how long a verified response is held in this
	// process (default 30s; negative holds nothing): the delay before a
	// new answer from the responder, a revocation say, is seen here.
	MaxHold time.Duration
	// MaxCacheTTL bounds how long a response is kept in the shared cache
	// (default 1h, at most a day), whatever its nextUpdate.
	MaxCacheTTL time.Duration
	// MaxResponseBytes bounds a response (default 32 KiB).
	MaxResponseBytes int
	// MaxHeld bounds the responses held in process (default 100000).
	MaxHeld int
}

// CRLOptions configure CRLs (RFC 5280 §5). The zero value fetches the
// CRL named in each certificate's distribution points.
type CRLOptions struct {
	// Disabled turns CRLs off: status comes from OCSP alone.
	Disabled bool
	// URLs maps a CA's common name to the URL of its CRL, instead of the
	// certificates' distribution points. These are fetched as soon as Run
	// starts; others when a certificate first names them.
	URLs map[string]string
	// RefreshInterval is how often Run fetches every known CRL again
	// (default 1m): the delay before a new CRL is seen here.
	RefreshInterval time.Duration
	// Timeout bounds one fetch (default 10s).
	Timeout time.Duration
	// MaxBytes bounds one CRL's DER (default 16 MiB); MaxEntries its
	// revoked entries (default 1000000). A CRL over either is refused and
	// the previous one kept.
	MaxBytes   int64
	MaxEntries int
	// MaxSources bounds how many CRLs are held (default 16).
	MaxSources int
}

// Options configure a Checker. The zero value of every field but Roots
// means the documented default; ModeVerify needs Roots.
type Options struct {
	// Mode is ModeVerify (default) or ModeProvisionedOnly.
	Mode Mode
	// Roots are the trust anchors: PEM files, or directories whose *.pem,
	// *.crt and *.cer files are read. Each must be a CA certificate valid
	// now.
	Roots []string
	// Intermediates are CA certificates that may stand between a root and
	// a subscriber's certificate, in the same form. Each must chain to a
	// root now.
	Intermediates []string
	// RootCertificates and IntermediateCertificates are further anchors
	// given as certificates rather than files, for a program that brings
	// its own certification authority (the demo's test CA); they are
	// checked as the files are.
	RootCertificates         []*x509.Certificate
	IntermediateCertificates []*x509.Certificate
	// OCSP and CRL configure the two revocation sources.
	OCSP OCSPOptions
	CRL  CRLOptions
	// Cache, when set, shares OCSP responses between gateway instances.
	Cache OCSPCache
	// HTTPClient fetches CRLs and asks responders (default: a client of
	// its own; each request is bounded by the timeouts above).
	HTTPClient *http.Client
	// Skew is the clock difference tolerated in thisUpdate (default 2m).
	Skew time.Duration
	// MaxCachedPaths bounds the verified paths remembered (default 10000;
	// negative remembers none).
	MaxCachedPaths int
	// Logger receives operational logs; nil discards.
	Logger *slog.Logger
	// Registerer receives the imzagate_trust_* metrics; nil registers
	// nothing.
	Registerer prometheus.Registerer
	// Now is the clock for loading anchors and refreshing CRLs (default
	// time.Now); checks take their time as an argument.
	Now func() time.Time
}

func (o *Options) validate() error {
	switch o.Mode {
	case ModeVerify:
		if len(o.Roots)+len(o.RootCertificates) == 0 {
			return configf("trust.roots is empty: name the certification authority's root certificates, or set mode provisioned-only")
		}
	case ModeProvisionedOnly:
		if len(o.Roots)+len(o.Intermediates)+len(o.RootCertificates)+len(o.IntermediateCertificates) != 0 {
			return configf("mode provisioned-only takes no trust.roots or trust.intermediates")
		}
	default:
		return configf("trust.mode %d unknown", o.Mode)
	}
	if err := o.OCSP.validate(); err != nil {
		return err
	}
	if err := o.CRL.validate(); err != nil {
		return err
	}
	if o.Skew == 0 {
		o.Skew = DefaultSkew
	}
	if o.Skew < 0 || o.Skew > time.Hour {
		return configf("trust.skew %s outside 0..1h", o.Skew)
	}
	if o.MaxCachedPaths == 0 {
		o.MaxCachedPaths = DefaultMaxCachedPaths
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = defaultHTTPMaxIdleConns
		tr.IdleConnTimeout = defaultHTTPIdleTimeout
		o.HTTPClient = &http.Client{Transport: tr}
	}
	return nil
}

func (o *OCSPOptions) validate() error {
	if o.Timeout == 0 {
		o.Timeout = DefaultOCSPTimeout
	}
	if o.MaxHold == 0 {
		o.MaxHold = DefaultOCSPMaxHold
	}
	if o.MaxCacheTTL == 0 {
		o.MaxCacheTTL = DefaultOCSPMaxCacheTTL
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = DefaultOCSPMaxResponse
	}
	if o.MaxHeld == 0 {
		o.MaxHeld = DefaultOCSPMaxHeld
	}
	switch {
	case o.Timeout < time.Millisecond:
		return configf("trust.ocsp.timeout %s below 1ms", o.Timeout)
	case o.MaxCacheTTL < time.Second || o.MaxCacheTTL > 24*time.Hour:
		return configf("trust.ocsp.maxCacheTTL %s outside 1s..24h", o.MaxCacheTTL)
	case o.MaxResponseBytes < 64 || o.MaxResponseBytes > 1<<20:
		return configf("trust.ocsp.maxResponseBytes %d outside 64..1048576", o.MaxResponseBytes)
	case o.MaxHeld < 1:
		return configf("trust.ocsp.maxHeld must be positive")
	}
	return validURLs("trust.ocsp.urls", o.URLs)
}

func (o *CRLOptions) validate() error {
	if o.RefreshInterval == 0 {
		o.RefreshInterval = DefaultCRLRefresh
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultCRLTimeout
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultCRLMaxBytes
	}
	if o.MaxEntries == 0 {
		o.MaxEntries = DefaultCRLMaxEntries
	}
	if o.MaxSources == 0 {
		o.MaxSources = DefaultCRLMaxSources
	}
	switch {
	case o.RefreshInterval < minRefreshInterval:
		return configf("trust.crl.refreshInterval %s below %s", o.RefreshInterval, minRefreshInterval)
	case o.Timeout < time.Millisecond:
		return configf("trust.crl.timeout %s below 1ms", o.Timeout)
	case o.MaxBytes < 64:
		return configf("trust.crl.maxBytes %d below 64", o.MaxBytes)
	case o.MaxEntries < 1:
		return configf("trust.crl.maxEntries must be positive")
	case o.MaxSources < 1 || o.MaxSources > 1024:
		return configf("trust.crl.maxSources %d outside 1..1024", o.MaxSources)
	}
	return validURLs("trust.crl.urls", o.URLs)
}

func validURLs(name string, m map[string]string) error {
	if len(m) > maxConfiguredURLs {
		return configf("%s: %d entries, at most %d", name, len(m), maxConfiguredURLs)
	}
	for cn, u := range m {
		if _, ok := httpURL(u); !ok {
			return configf("%s[%q] = %q: want an http or https URL", name, cn, u)
		}
	}
	return nil
}
