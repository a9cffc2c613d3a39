package trust

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
	"golang.org/x/sync/singleflight"

	"github.com/imzagate/imzagate/sessions"
)

// OCSP outcomes, the values of the outcome label.
const (
	outcomeGood         = "good"
	outcomeRevoked      = "revoked"
	outcomeUnknown      = "unknown"
	outcomeError        = "error"
	outcomeBadSignature = "bad_signature"
	outcomeStale        = "stale"
)

// oidOCSPNonce is id-pkix-ocsp-nonce (RFC 8954).
var oidOCSPNonce = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// ocspStatus is a verified good or revoked answer.
type ocspStatus struct {
	state  State
	entry  entry
	expiry time.Time // nextUpdate, or thisUpdate + MaxHold when the response has none
}

type heldStatus struct {
	st    ocspStatus
	until time.Time
}

// ocspChecker asks responders and keeps their answers: in process for at
// most MaxHold, and in the shared cache until nextUpdate (at most
// MaxCacheTTL).
type ocspChecker struct {
	opts   OCSPOptions
	skew   time.Duration
	client *http.Client
	cache  OCSPCache
	m      *metrics
	log    *slog.Logger

	mu     sync.Mutex
	held   map[[32]byte]heldStatus
	warned map[string]time.Time // responder URL → last warning, guarded by mu
	group  singleflight.Group
}

// warnEvery spaces the warnings about one responder: during an outage
// every check fails the same way, and the metrics count them all.
const warnEvery = time.Minute

// failure is a response that gives no status, with its outcome label.
type failure struct {
	outcome string
	err     error
}

func (f *failure) Error() string { return "ocsp " + f.outcome + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func fail(outcome string, format string, args ...any) *failure {
	return &failure{outcome: outcome, err: fmt.Errorf(format, args...)}
}

// issuerKeyID names an issuer in cache keys: the SHA-256 of its
// subjectPublicKeyInfo.
func issuerKeyID(issuer *x509.Certificate) [32]byte {
	return sha256.Sum256(issuer.RawSubjectPublicKeyInfo)
}

func heldKey(ikid [32]byte, serial *big.Int) [32]byte {
	var buf [64]byte
	h := sha256.New()
	h.Write(ikid[:])
	h.Write(serialBytes(serial, &buf))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// serialBytes writes a serial number's magnitude into buf without
// allocating (serials have at most 20 octets; longer ones allocate).
func serialBytes(n *big.Int, buf *[64]byte) []byte {
	l := (n.BitLen() + 7) / 8
	if l > len(buf) {
		return n.Bytes()
	}
	if l == 0 {
		l = 1
	}
	return n.FillBytes(buf[:l])
}

// status returns a fresh good or revoked answer for leaf, or false when
// none can be had (no responder, responder down, unknown, bad signature,
// stale).
func (o *ocspChecker) status(ctx context.Context, leaf, issuer *x509.Certificate, at time.Time) (ocspStatus, bool) {
	if o == nil {
		return ocspStatus{}, false
	}
	ikid := issuerKeyID(issuer)
	k := heldKey(ikid, leaf.SerialNumber)
	if st, ok := o.fromProcess(k, at); ok {
		return st, true
	}
	if st, ok := o.fromCache(ctx, ikid, leaf, issuer, at); ok {
		o.hold(k, st, at)
		return st, true
	}
	url := o.opts.URLs[issuer.Subject.CommonName]
	if url == "" {
		url = firstHTTP(leaf.OCSPServer)
	}
	if url == "" {
		return ocspStatus{}, false
	}
	v, err, _ := o.group.Do(string(k[:]), func() (any, error) {
		der, st, err := o.ask(ctx, url, leaf, issuer, at)
		if err != nil {
			return nil, err
		}
		o.hold(k, st, at)
		o.store(ctx, ikid, leaf, der, st, at)
		return st, nil
	})
	if err != nil {
		o.warn(url, issuer, err)
		return ocspStatus{}, false
	}
	return v.(ocspStatus), true
}

func (o *ocspChecker) warn(url string, issuer *x509.Certificate, err error) {
	now := time.Now()
	o.mu.Lock()
	last, seen := o.warned[url]
	quiet := seen && now.Sub(last) < warnEvery
	if !quiet {
		if len(o.warned) >= maxConfiguredURLs {
			clear(o.warned)
		}
		o.warned[url] = now
	}
	o.mu.Unlock()
	if quiet {
		o.log.Debug("no OCSP status", "issuer", name(issuer), "url", url, "err", err)
		return
	}
	o.log.Warn("no OCSP status", "issuer", name(issuer), "url", url, "err", err)
}

func (o *ocspChecker) fromProcess(k [32]byte, at time.Time) (ocspStatus, bool) {
	if o.opts.MaxHold < 0 {
		return ocspStatus{}, false
	}
	o.mu.Lock()
	h, ok := o.held[k]
	o.mu.Unlock()
	if ok && at.Before(h.until) {
		o.m.processHit.Inc()
		return h.st, true
	}
	o.m.processMiss.Inc()
	return ocspStatus{}, false
}

func (o *ocspChecker) hold(k [32]byte, st ocspStatus, at time.Time) {
	if o.opts.MaxHold < 0 {
		return
	}
	until := at.Add(o.opts.MaxHold)
	if st.expiry.Before(until) {
		until = st.expiry
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.held) >= o.opts.MaxHeld {
		for hk, h := range o.held {
			if !at.Before(h.until) {
				delete(o.held, hk)
			}
		}
		if len(o.held) >= o.opts.MaxHeld {
			clear(o.held)
		}
	}
	o.held[k] = heldStatus{st: st, until: until}
}

// fromCache reads the shared cache and verifies what it finds exactly as a
// responder's answer (without a nonce): whoever can write to Redis still
// cannot make a certificate good.
func (o *ocspChecker) fromCache(ctx context.Context, ikid [32]byte, leaf, issuer *x509.Certificate, at time.Time) (ocspStatus, bool) {
	if o.cache == nil {
		return ocspStatus{}, false
	}
	var buf [64]byte
	der, err := o.cache.OCSPResponse(ctx, ikid[:], serialBytes(leaf.SerialNumber, &buf))
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		o.m.cache.WithLabelValues("redis", "miss").Inc()
		return ocspStatus{}, false
	case err != nil:
		o.m.cache.WithLabelValues("redis", "error").Inc()
		o.log.Warn("OCSP cache unavailable", "err", err)
		return ocspStatus{}, false
	}
	st, err := verifyResponse(der, leaf, issuer, at, nil, o.opts.MaxHold, o.skew)
	if err != nil {
		o.m.cache.WithLabelValues("redis", "invalid").Inc()
		return ocspStatus{}, false
	}
	o.m.cache.WithLabelValues("redis", "hit").Inc()
	return st, true
}

func (o *ocspChecker) store(ctx context.Context, ikid [32]byte, leaf *x509.Certificate, der []byte, st ocspStatus, at time.Time) {
	if o.cache == nil {
		return
	}
	ttl := min(st.expiry.Sub(at), o.opts.MaxCacheTTL).Truncate(time.Millisecond)
	if ttl < time.Second {
		return
	}
	var buf [64]byte
	if err := o.cache.PutOCSPResponse(ctx, ikid[:], serialBytes(leaf.SerialNumber, &buf), der, ttl); err != nil {
		o.log.Warn("OCSP cache write failed", "err", err)
	}
}

// ask sends one request to the responder and verifies its answer.
func (o *ocspChecker) ask(ctx context.Context, url string, leaf, issuer *x509.Certificate, at time.Time) ([]byte, ocspStatus, error) {
	var nonce []byte
	if o.opts.Nonce {
		nonce = make([]byte, 16)
		_, _ = rand.Read(nonce)
	}
	reqDER, nonceExt, err := buildRequest(leaf, issuer, nonce)
	if err != nil {
		return nil, ocspStatus{}, fail(outcomeError, "request: %w", err)
	}
	start := time.Now()
	der, err := o.post(ctx, url, reqDER)
	o.m.ocspDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		o.m.ocspOutcomes.WithLabelValues(outcomeError).Inc()
		return nil, ocspStatus{}, err
	}
	st, err := verifyResponse(der, leaf, issuer, at, nonceExt, o.opts.MaxHold, o.skew)
	if err != nil {
		var f *failure
		if errors.As(err, &f) {
			o.m.ocspOutcomes.WithLabelValues(f.outcome).Inc()
		}
		return nil, ocspStatus{}, err
	}
	o.m.ocspOutcomes.WithLabelValues(string(st.state)).Inc()
	return der, st, nil
}

func (o *ocspChecker) post(ctx context.Context, url string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, o.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fail(outcomeError, "%w", err)
	}
	req.Header.Set("Content-Type", "application/ocsp-request")
	req.Header.Set("Accept", "application/ocsp-response")
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, fail(outcomeError, "%w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fail(outcomeError, "responder answered HTTP %d", resp.StatusCode)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, int64(o.opts.MaxResponseBytes)+1))
	if err != nil {
		return nil, fail(outcomeError, "reading response: %w", err)
	}
	if len(der) > o.opts.MaxResponseBytes {
		return nil, fail(outcomeError, "response larger than %d octets", o.opts.MaxResponseBytes)
	}
	return der, nil
}

// buildRequest makes an OCSP request for leaf (CertID with SHA-1, which
// every responder supports, RFC 5019 §2.1.1). With a nonce the request
// from x/crypto/ocsp, which cannot carry extensions, is re-encoded with
// requestExtensions [2] holding the nonce (RFC 8954: an OCTET STRING);
// the extension's value is returned for comparison with the echo.
func buildRequest(leaf, issuer *x509.Certificate, nonce []byte) (der, nonceExt []byte, err error) {
	der, err = ocsp.CreateRequest(leaf, issuer, &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil || nonce == nil {
		return der, nil, err
	}
	var plain struct {
		TBS struct{ RequestList asn1.RawValue }
	}
	if rest, err := asn1.Unmarshal(der, &plain); err != nil || len(rest) != 0 {
		return nil, nil, fmt.Errorf("re-reading request: %v", err)
	}
	val, err := asn1.Marshal(nonce)
	if err != nil {
		return nil, nil, err
	}
	var withNonce struct {
		TBS struct {
			RequestList asn1.RawValue
			Extensions  []pkix.Extension `asn1:"explicit,tag:2"`
		}
	}
	withNonce.TBS.RequestList = plain.TBS.RequestList
	withNonce.TBS.Extensions = []pkix.Extension{{Id: oidOCSPNonce, Value: val}}
	der, err = asn1.Marshal(withNonce)
	return der, val, err
}

// verifyResponse turns a DER response into a status for leaf at time at,
// or a *failure. x/crypto/ocsp parses the response and checks the
// signature against the certificate it embeds; the rest of RFC 6960
// §3.2 is checked here: that certificate is the issuing CA itself or a
// delegated responder it issued with id-kp-OCSPSigning, valid at at; a
// response without one is signed by the issuing CA; the CertID names this
// issuer; thisUpdate is not in the future beyond skew; nextUpdate has not
// passed (a response without one counts for maxHold after thisUpdate); a
// nonce sent is echoed unchanged when echoed at all.
func verifyResponse(der []byte, leaf, issuer *x509.Certificate, at time.Time, nonceExt []byte, maxHold, skew time.Duration) (ocspStatus, error) {
	resp, err := ocsp.ParseResponseForCert(der, leaf, nil)
	if err != nil {
		var re ocsp.ResponseError
		if errors.As(err, &re) {
			return ocspStatus{}, fail(outcomeError, "responder said %v", re.Status)
		}
		return ocspStatus{}, fail(outcomeError, "parse: %w", err)
	}
	if err := checkResponder(resp, issuer, at); err != nil {
		return ocspStatus{}, err
	}
	det, err := responseDetails(resp.TBSResponseData, leaf.SerialNumber)
	if err != nil {
		return ocspStatus{}, fail(outcomeError, "%w", err)
	}
	if !det.names(issuer, resp.IssuerHash) {
		return ocspStatus{}, fail(outcomeError, "response is for a certificate of another issuer")
	}
	if nonceExt != nil && det.nonce != nil && !bytes.Equal(det.nonce, nonceExt) {
		return ocspStatus{}, fail(outcomeStale, "nonce echoed changed: a replayed response")
	}
	expiry := resp.NextUpdate
	if expiry.IsZero() {
		expiry = resp.ThisUpdate.Add(max(maxHold, 0) + skew)
	}
	switch {
	case resp.ThisUpdate.After(at.Add(skew)):
		return ocspStatus{}, fail(outcomeStale, "thisUpdate %s is in the future", resp.ThisUpdate.UTC().Format(time.RFC3339))
	case at.After(expiry):
		return ocspStatus{}, fail(outcomeStale, "nextUpdate %s has passed", expiry.UTC().Format(time.RFC3339))
	}
	switch resp.Status {
	case ocsp.Good:
		return ocspStatus{state: StateGood, expiry: expiry}, nil
	case ocsp.Revoked:
		return ocspStatus{state: StateRevoked, expiry: expiry,
			entry: entry{revoked: true, revokedAt: resp.RevokedAt, reason: resp.RevocationReason}}, nil
	}
	return ocspStatus{}, fail(outcomeUnknown, "responder does not know the certificate")
}

// checkResponder: who signed the response, and may they speak for the
// issuer (RFC 6960 §4.2.2.2).
func checkResponder(resp *ocsp.Response, issuer *x509.Certificate, at time.Time) error {
	rc := resp.Certificate
	if rc == nil || rc.Equal(issuer) {
		if err := resp.CheckSignatureFrom(issuer); err != nil {
			return fail(outcomeBadSignature, "not signed by the issuing CA: %w", err)
		}
		return nil
	}
	if err := rc.CheckSignatureFrom(issuer); err != nil {
		return fail(outcomeBadSignature, "responder certificate %q not issued by %q: %w", name(rc), name(issuer), err)
	}
	if !hasExtUsageExact(rc, x509.ExtKeyUsageOCSPSigning) {
		return fail(outcomeBadSignature, "responder certificate %q lacks id-kp-OCSPSigning", name(rc))
	}
	if at.Before(rc.NotBefore) || at.After(rc.NotAfter) {
		return fail(outcomeBadSignature, "responder certificate %q not valid at %s", name(rc), at.UTC().Format(time.RFC3339))
	}
	return nil
}

// hasExtUsageExact: anyExtendedKeyUsage does not make a responder (RFC
// 6960 §4.2.2.2 asks for id-kp-OCSPSigning itself).
func hasExtUsageExact(c *x509.Certificate, want x509.ExtKeyUsage) bool {
	for _, u := range c.ExtKeyUsage {
		if u == want {
			return true
		}
	}
	return false
}
