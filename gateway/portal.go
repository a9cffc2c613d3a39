package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
)

// Portal is one relying party allowed to use the API.
type Portal struct {
	// ID names the portal in sessions, metrics and logs (bounded set: from the configuration).
	ID string `yaml:"id"`
	// DisplayName is shown on the phone before the portal's text, e.g. "e-taxes.gov.az".
	DisplayName string `yaml:"displayName"`
	// APIKeySHA256 is the hex SHA-256 of the portal's bearer API key; the key
	// itself is never stored.
	APIKeySHA256 string `yaml:"apiKeySHA256"`
	// Operations the portal may start: AUTHENTICATE, SIGN. Empty means both.
	Operations []applet.Operation `yaml:"operations"`
	// RateLimit is the sustained starts per second allowed (per gateway
	// instance); Burst the bucket size. Zero means 10/s with a burst of 20.
	RateLimit float64 `yaml:"rateLimit"`
	Burst     int     `yaml:"burst"`
	// CallbackHosts are the host names callback URLs may point to. Empty
	// means the portal cannot use callbacks.
	CallbackHosts []string `yaml:"callbackHosts"`
	// CallbackSecretEnv names the environment variable holding the HMAC key
	// for callback signatures (never in the configuration file).
	CallbackSecretEnv string `yaml:"callbackSecretEnv"`
	// ClientCertSHA256 is, when mutual TLS is on, the hex SHA-256 fingerprint
	// of the portal's client certificate: requests with its API key must
	// present this certificate.
	ClientCertSHA256 string `yaml:"clientCertSHA256"`
	// RevocationPolicy overrides the default revocation policy of both
	// operations for this portal: hard-fail or soft-fail (docs/trust.md).
	RevocationPolicy string `yaml:"revocationPolicy"`
	// UserIDBudget bounds the wrong User IDs the portal may send over all
	// phones, counted by every instance together: failures within window
	// block its starts and lookups for block (yaml keys failures, window,
	// block). Zero fields mean 100 per 10 minutes, blocked for 15 minutes.
	UserIDBudget sessions.Budget `yaml:"userIdBudget"`

	callbackSecret []byte
	revocation     trust.Policy
	keyHash        [32]byte
	certHash       []byte
	bucket         *tokenBucket
}

// HashAPIKey returns the hex SHA-256 of an API key, the form the
// configuration stores.
func HashAPIKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// init prepares the portal's derived fields; the error names what is wrong.
func (p *Portal) init(lookupEnv func(string) (string, bool)) error {
	if p.ID == "" || len(p.ID) > 64 || strings.ContainsAny(p.ID, " \t\n\"") {
		return fmt.Errorf("portal id %q: 1–64 characters without spaces or quotes", p.ID)
	}
	if p.DisplayName == "" {
		p.DisplayName = p.ID
	}
	if bad := displayCharProblem(p.DisplayName); bad != "" {
		return fmt.Errorf("portal %s: displayName contains %s", p.ID, bad)
	}
	p.UserIDBudget = p.UserIDBudget.WithDefaults()
	if err := p.UserIDBudget.Validate(); err != nil {
		return fmt.Errorf("portal %s: userIdBudget: %w", p.ID, err)
	}
	kh, err := hex.DecodeString(p.APIKeySHA256)
	if err != nil || len(kh) != 32 {
		return fmt.Errorf("portal %s: apiKeySHA256 must be 64 hex digits", p.ID)
	}
	copy(p.keyHash[:], kh)
	if p.ClientCertSHA256 != "" {
		ch, err := hex.DecodeString(strings.ReplaceAll(p.ClientCertSHA256, ":", ""))
		if err != nil || len(ch) != 32 {
			return fmt.Errorf("portal %s: clientCertSHA256 must be 64 hex digits", p.ID)
		}
		p.certHash = ch
	}
	for _, op := range p.Operations {
		if op != applet.OpAuthenticate && op != applet.OpSign {
			return fmt.Errorf("portal %s: unknown operation %v", p.ID, op)
		}
	}
	if p.RateLimit < 0 || p.Burst < 0 {
		return fmt.Errorf("portal %s: negative rate limit", p.ID)
	}
	rate, burst := p.RateLimit, p.Burst
	if rate == 0 {
		rate = 10
	}
	if burst == 0 {
		burst = int(math.Max(1, 2*rate))
	}
	if p.revocation, err = trust.ParsePolicy(p.RevocationPolicy); err != nil {
		return fmt.Errorf("portal %s: revocationPolicy %q: want hard-fail or soft-fail", p.ID, p.RevocationPolicy)
	}
	p.bucket = newTokenBucket(rate, burst)
	if p.CallbackSecretEnv != "" && lookupEnv != nil {
		v, ok := lookupEnv(p.CallbackSecretEnv)
		if !ok || v == "" {
			return fmt.Errorf("portal %s: environment variable %s (callback secret) is not set", p.ID, p.CallbackSecretEnv)
		}
		p.callbackSecret = []byte(v)
	}
	return nil
}

// allows reports whether the portal may start op.
func (p *Portal) allows(op applet.Operation) bool {
	if len(p.Operations) == 0 {
		return true
	}
	for _, o := range p.Operations {
		if o == op {
			return true
		}
	}
	return false
}

// portals authenticates bearer keys. Every configured key hash is compared
// in constant time, so the time taken does not tell which portal came close.
type portals struct {
	list []*Portal
	byID map[string]*Portal
	// refusals logs refused keys, rate-limited (authlog.go).
	refusals *refusalLog
}

// newPortals prepares the configured portals (copies: the caller's list is
// not changed); lookupEnv reads their callback secrets.
func newPortals(list []Portal, lookupEnv func(string) (string, bool)) (*portals, error) {
	if len(list) == 0 {
		return nil, errNoPortals
	}
	ps := &portals{byID: make(map[string]*Portal, len(list)), refusals: newRefusalLog()}
	for i := range list {
		p := list[i]
		if err := p.init(lookupEnv); err != nil {
			return nil, err
		}
		if _, dup := ps.byID[p.ID]; dup {
			return nil, errors.New("gateway: duplicate portal id " + p.ID)
		}
		ps.byID[p.ID] = &p
		ps.list = append(ps.list, &p)
	}
	return ps, nil
}

// errUnauthorized is the one answer for a missing, malformed or unknown key.
var errUnauthorized = &Error{Code: CodeUnauthorized, Detail: "send a valid API key as 'Authorization: Bearer <key>'"}

// authenticate finds the portal of the request's API key (and, when the
// portal is bound to a client certificate, checks the TLS peer).
func (ps *portals) authenticate(r *http.Request) (*Portal, error) {
	auth := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if auth == "" {
		return nil, refusedNoHeader
	}
	if len(auth) <= len(prefix) || len(auth) > 512 || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return nil, refusedNoBearer
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(auth[len(prefix):])))
	var found *Portal
	for _, p := range ps.list {
		if subtle.ConstantTimeCompare(sum[:], p.keyHash[:]) == 1 {
			found = p
		}
	}
	if found == nil {
		return nil, refusedUnknownKey
	}
	if found.certHash != nil {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			return nil, refusedCert(found.ID)
		}
		ch := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		if subtle.ConstantTimeCompare(ch[:], found.certHash) != 1 {
			return nil, refusedCert(found.ID)
		}
	}
	return found, nil
}

// tokenBucket is a small rate limiter: rate tokens per second up to burst.
// The gateway keeps one per portal; with several instances each enforces
// its share (documented in the configuration reference).
type tokenBucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, burst int) *tokenBucket {
	return &tokenBucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// take removes one token at now; when none is left it returns how long to wait.
func (b *tokenBucket) take(now time.Time) (ok bool, wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	need := (1 - b.tokens) / b.rate
	return false, time.Duration(need * float64(time.Second))
}

// errNoPortals is returned when a server is built without any portal.
var errNoPortals = errors.New("gateway: no portals configured")
