package trust

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/internal/testutil"
)

var ctx = context.Background()

func signReq(leaf *x509.Certificate) Request {
	return Request{Chain: []*x509.Certificate{leaf}, Operation: Sign}
}

func TestOCSPGood(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rc, rk := w.DelegatedResponder(true)
	leaf := w.Leaf(testca.Business, testca.Sign)
	w.StartResponder(rc, rk, 5)
	c := w.checker(func(o *Options) { o.CRL.Disabled = true })

	st, err := c.Check(ctx, Request{Chain: []*x509.Certificate{leaf}, Operation: Sign, Slot: Slot{Kind: KindBusiness, VOEN: "1400123456"}})
	if err != nil {
		t.Fatal(err)
	}
	if st.State != StateGood || st.Source != SourceOCSP || len(st.Chain) != 3 {
		t.Fatalf("status %+v", st)
	}
	for i, want := range []*x509.Certificate{leaf, w.Inter.Certificate(), w.Root.Certificate()} {
		got, err := parsePEM([]byte(st.Chain[i]))
		if err != nil || !got[0].Equal(want) {
			t.Fatalf("chain[%d] is not %s: %v", i, want.Subject.CommonName, err)
		}
	}
	if got := value(t, c.m.ocspOutcomes.WithLabelValues(outcomeGood)); got != 1 {
		t.Fatalf("good outcomes %v", got)
	}
	// The second check is answered in process: no second request.
	if _, err := c.Check(ctx, signReq(leaf)); err != nil || w.OCSPHits.Load() != 1 {
		t.Fatalf("second check: %v, responder hits %d", err, w.OCSPHits.Load())
	}
}

// The issuing CA may sign responses itself, with no delegated certificate.
func TestOCSPSignedByIssuer(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	leaf := w.Leaf(testca.Personal, testca.Auth)
	w.Inter.Revoke(leaf.SerialNumber, time.Now().Add(-time.Hour).Truncate(time.Second))
	w.StartResponder(w.Inter.Certificate(), w.Inter.Key(), 5)
	c := w.checker(func(o *Options) { o.CRL.Disabled = true })
	st, err := c.Check(ctx, Request{Chain: []*x509.Certificate{leaf}, Operation: Authenticate})
	if !errors.Is(err, ErrRevoked) || st.State != StateRevoked || st.Source != SourceOCSP {
		t.Fatalf("status %+v, err %v", st, err)
	}
}

func TestCRLRevoked(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	good, bad := w.Leaf(testca.Personal, testca.Sign), w.Leaf(testca.Personal, testca.Sign)
	revokedAt := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	w.Inter.RevokeWithReason(bad.SerialNumber, revokedAt, 1)
	now := time.Now()
	w.PublishCRL(now.Add(-time.Minute), now.Add(time.Hour))
	c := w.checker(func(o *Options) { o.OCSP.Disabled = true })

	st, err := c.Check(ctx, signReq(bad))
	if code, _ := CodeOf(err); code != CodeRevoked {
		t.Fatalf("revoked certificate: %v", err)
	}
	if st.State != StateRevoked || st.Source != SourceCRL || !st.RevokedAt.Equal(revokedAt) || st.Reason != 1 {
		t.Fatalf("status %+v", st)
	}
	if st, err := c.Check(ctx, signReq(good)); err != nil || st.State != StateGood || st.Source != SourceCRL {
		t.Fatalf("good certificate: %+v, %v", st, err)
	}
	if w.CRLHits.Load() != 1 {
		t.Fatalf("CRL fetched %d times for two checks", w.CRLHits.Load())
	}
}

// A CRL listing the certificate wins over OCSP's "good": whichever source
// learns of a revocation first refuses.
func TestCRLRevocationBeatsOCSPGood(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rc, rk := w.DelegatedResponder(true)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	w.StartResponder(rc, rk, 5) // its index says good
	w.Inter.Revoke(leaf.SerialNumber, time.Now().Add(-time.Minute))
	now := time.Now()
	w.PublishCRL(now.Add(-time.Minute), now.Add(time.Hour))
	c := w.checker(nil)
	if st, err := c.Check(ctx, signReq(leaf)); !errors.Is(err, ErrRevoked) || st.Source != SourceCRL {
		t.Fatalf("status %+v, err %v", st, err)
	}
}

// The issuing CA itself is revoked in the root's CRL: every certificate it
// issued is refused, even with OCSP saying good.
func TestIntermediateRevokedInRootCRL(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rc, rk := w.DelegatedResponder(true)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	w.StartResponder(rc, rk, 5)
	c := w.checker(nil)
	run(t, c)
	if st, err := c.Check(ctx, signReq(leaf)); err != nil || st.Source != SourceOCSP {
		t.Fatalf("before: %+v, %v", st, err)
	}
	w.Root.RevokeWithReason(w.Inter.Certificate().SerialNumber, time.Now().Add(-time.Minute).Truncate(time.Second), 2)
	w.PublishRootCRL()
	var st Status
	testutil.Eventually(t, 10*time.Second, "the root's CRL revokes the issuing CA", func() bool {
		var err error
		st, err = c.Check(ctx, signReq(leaf))
		return errors.Is(err, ErrRevoked)
	})
	if st.Source != SourceCRL || st.Reason != 2 {
		t.Fatalf("status %+v", st)
	}
	// Without the root's CRL the path's status is unknown.
	w.RootCRL.Store(&[]byte{})
	c2 := w.checker(func(o *Options) { o.Registerer = nil })
	if st, err := c2.Check(ctx, signReq(leaf)); !errors.Is(err, ErrStatusUnknown) {
		t.Fatalf("no root CRL: %+v, %v", st, err)
	}
}

func TestRevokedBetweenChecksCRL(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	now := time.Now()
	w.PublishCRL(now.Add(-time.Minute), now.Add(time.Hour))
	c := w.checker(func(o *Options) { o.OCSP.Disabled = true })
	run(t, c)
	if st, err := c.Check(ctx, signReq(leaf)); err != nil || st.State != StateGood {
		t.Fatalf("first check: %+v, %v", st, err)
	}
	w.Inter.Revoke(leaf.SerialNumber, time.Now().Truncate(time.Second))
	w.PublishCRL(time.Now(), time.Now().Add(time.Hour))
	testutil.Eventually(t, 10*time.Second, "CRL refresh shows the revocation", func() bool {
		_, err := c.Check(ctx, signReq(leaf))
		return errors.Is(err, ErrRevoked)
	})
}

func TestRevokedBetweenChecksOCSP(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rc, rk := w.DelegatedResponder(true)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	w.StartResponder(rc, rk, 5)
	c := w.checker(func(o *Options) {
		o.CRL.Disabled = true
		o.OCSP.MaxHold = 200 * time.Millisecond
	})
	if st, err := c.Check(ctx, signReq(leaf)); err != nil || st.State != StateGood {
		t.Fatalf("first check: %+v, %v", st, err)
	}
	w.Inter.RevokeWithReason(leaf.SerialNumber, time.Now().Truncate(time.Second), 4)
	w.WriteIndex()
	var st Status
	testutil.Eventually(t, 10*time.Second, "OCSP shows the revocation once the hold ends", func() bool {
		var err error
		st, err = c.Check(ctx, signReq(leaf))
		return errors.Is(err, ErrRevoked)
	})
	if st.Source != SourceOCSP || st.Reason != 4 {
		t.Fatalf("status %+v", st)
	}
}

func TestResponderDownPolicy(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	auth, sign := w.Leaf(testca.Personal, testca.Auth), w.Leaf(testca.Personal, testca.Sign)
	w.Srv.Close() // the responder is unreachable: connection refused
	c := w.checker(func(o *Options) { o.CRL.Disabled = true })
	tests := []struct {
		name   string
		leaf   *x509.Certificate
		op     Operation
		policy Policy
		want   error
	}{
		{"sign-default-hard", sign, Sign, PolicyDefault, ErrStatusUnknown},
		{"auth-default-soft", auth, Authenticate, PolicyDefault, nil},
		{"sign-soft", sign, Sign, PolicySoftFail, nil},
		{"auth-hard", auth, Authenticate, PolicyHardFail, ErrStatusUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := c.Check(ctx, Request{Chain: []*x509.Certificate{tt.leaf}, Operation: tt.op, Policy: tt.policy})
			if (tt.want == nil) != (err == nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if st.State != StateUnknown || st.Source != "" || len(st.Chain) != 3 {
				t.Fatalf("status %+v", st)
			}
		})
	}
	if got := value(t, c.m.ocspOutcomes.WithLabelValues(outcomeError)); got < 1 {
		t.Fatalf("error outcomes %v", got)
	}
}

// Responses that must give no status at all: signed by a key that may not
// speak for the issuer, by a responder without id-kp-OCSPSigning, or past
// their nextUpdate.
func TestOCSPNoStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		signer  func(w *world) (*x509.Certificate, any)
		at      time.Duration // after now
		outcome string
	}{
		{"wrong-key", func(w *world) (*x509.Certificate, any) {
			c, k, err := w.OtherInter.IssueResponder("Unrelated OCSP", true)
			if err != nil {
				t.Fatal(err)
			}
			return c, k
		}, 0, outcomeBadSignature},
		{"other-ca-itself", func(w *world) (*x509.Certificate, any) {
			return w.OtherInter.Certificate(), w.OtherInter.Key()
		}, 0, outcomeBadSignature},
		{"no-ocsp-signing-eku", func(w *world) (*x509.Certificate, any) {
			c, k := w.DelegatedResponder(false)
			return c, k
		}, 0, outcomeBadSignature},
		{"stale", func(w *world) (*x509.Certificate, any) {
			c, k := w.DelegatedResponder(true)
			return c, k
		}, 3 * time.Minute, outcomeStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			leaf := w.Leaf(testca.Personal, testca.Sign)
			w.Inter.Revoke(leaf.SerialNumber, time.Now().Add(-time.Hour)) // a forged "revoked" must not count either
			rc, rk := tt.signer(w)
			w.StartResponder(rc, asECDSA(t, rk), 1)
			c := w.checker(func(o *Options) { o.CRL.Disabled = true })
			st, err := c.Check(ctx, Request{Chain: []*x509.Certificate{leaf}, Operation: Sign, At: time.Now().Add(tt.at)})
			if !errors.Is(err, ErrStatusUnknown) || st.State != StateUnknown {
				t.Fatalf("status %+v, err %v", st, err)
			}
			if w.OCSPHits.Load() != 1 {
				t.Fatalf("responder asked %d times", w.OCSPHits.Load())
			}
			if got := value(t, c.m.ocspOutcomes.WithLabelValues(tt.outcome)); got != 1 {
				t.Fatalf("%s outcomes %v", tt.outcome, got)
			}
		})
	}
}

func TestOCSPNonce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rc, rk := w.DelegatedResponder(true)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	w.StartResponder(rc, rk, 5)
	c := w.checker(func(o *Options) { o.CRL.Disabled = true; o.OCSP.Nonce = true })
	if st, err := c.Check(ctx, signReq(leaf)); err != nil || st.State != StateGood {
		t.Fatalf("status %+v, err %v", st, err)
	}
}

// One real response from openssl, checked against every rule of
// verifyResponse.
func TestOCSPResponseChecks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	rc, rk := w.DelegatedResponder(true)
	leaf, other := w.Leaf(testca.Personal, testca.Sign), w.Leaf(testca.Personal, testca.Sign)
	w.StartResponder(rc, rk, 5)
	c := w.checker(func(o *Options) { o.Registerer = nil })
	issuer := w.Inter.Certificate()
	req, nonce, err := buildRequest(leaf, issuer, []byte("0123456789abcdef"))
	if err != nil || len(nonce) != 18 {
		t.Fatalf("request: nonce %x, %v", nonce, err)
	}
	if parsed, err := ocsp.ParseRequest(req); err != nil || parsed.SerialNumber.Cmp(leaf.SerialNumber) != 0 {
		t.Fatalf("request with nonce does not parse: %v", err)
	}
	der, err := c.ocsp.post(ctx, w.Srv.URL+"/ocsp", req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponse(der, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	otherNonce, _ := asn1.Marshal([]byte("fedcba9876543210"))
	tests := []struct {
		name    string
		leaf    *x509.Certificate
		issuer  *x509.Certificate
		at      time.Time
		nonce   []byte
		outcome string // empty: good
	}{
		{"good", leaf, issuer, now, nonce, ""},
		{"nonce-not-sent", leaf, issuer, now, nil, ""},
		{"nonce-changed", leaf, issuer, now, otherNonce, outcomeStale},
		{"this-update-in-future", leaf, issuer, resp.ThisUpdate.Add(-DefaultSkew - time.Second), nonce, outcomeStale},
		{"this-update-within-skew", leaf, issuer, resp.ThisUpdate.Add(-DefaultSkew + time.Second), nonce, ""},
		{"next-update-passed", leaf, issuer, resp.NextUpdate.Add(time.Second), nonce, outcomeStale},
		{"other-serial", other, issuer, now, nonce, outcomeError},
		{"other-issuer", leaf, w.OtherInter.Certificate(), now, nonce, outcomeBadSignature},
		{"responder-expired", leaf, issuer, rc.NotAfter.Add(time.Second), nil, outcomeBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := verifyResponse(der, tt.leaf, tt.issuer, tt.at, tt.nonce, time.Minute, DefaultSkew)
			if tt.outcome == "" {
				if err != nil || st.state != StateGood || !st.expiry.Equal(resp.NextUpdate) {
					t.Fatalf("status %+v, %v", st, err)
				}
				return
			}
			var f *failure
			if !errors.As(err, &f) || f.outcome != tt.outcome {
				t.Fatalf("err %v, want outcome %s", err, tt.outcome)
			}
		})
	}
}

func TestCRLFromOpenSSLCA(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	good, bad := w.Leaf(testca.Personal, testca.Sign), w.Leaf(testca.Personal, testca.Sign)
	w.Inter.RevokeWithReason(bad.SerialNumber, time.Now().Add(-time.Hour).Truncate(time.Second), 1)
	index := w.WriteIndex()
	w.WriteFile("index.txt.attr", []byte("unique_subject = no\n"))
	w.WriteFile("crlnumber", []byte("1000\n"))
	key := w.WriteKey("inter.key", w.Inter.Key())
	conf := w.WriteFile("ca.cnf", []byte("[ca]\ndefault_ca = CA\n[CA]\ndatabase = "+index+
		"\ncrlnumber = "+w.Dir+"/crlnumber\ncertificate = "+w.InterFile+"\nprivate_key = "+key+
		"\ndefault_md = sha256\ndefault_crl_hours = 1\n"))
	crlPEM := w.Dir + "/crl.pem"
	for _, args := range [][]string{
		{"ca", "-gencrl", "-config", conf, "-out", crlPEM},
		{"crl", "-in", crlPEM, "-outform", "DER", "-out", w.Dir + "/crl.der"},
	} {
		if out, err := openssl(t, w.Dir, args...); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	der := readFile(t, w.Dir+"/crl.der")
	w.CRL.Store(&der)
	c := w.checker(func(o *Options) { o.OCSP.Disabled = true })
	st, err := c.Check(ctx, signReq(bad))
	if !errors.Is(err, ErrRevoked) || st.Reason != 1 || st.Source != SourceCRL {
		t.Fatalf("revoked: %+v, %v", st, err)
	}
	if st, err := c.Check(ctx, signReq(good)); err != nil || st.State != StateGood {
		t.Fatalf("good: %+v, %v", st, err)
	}
}

// A CRL that fails a check is refused and the one held is kept: here the
// second CRL revokes a second certificate but its signature is broken.
func TestCRLBadSignatureKeepsPrevious(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first, second := w.Leaf(testca.Personal, testca.Sign), w.Leaf(testca.Personal, testca.Sign)
	w.Inter.Revoke(first.SerialNumber, time.Now().Add(-time.Hour))
	now := time.Now()
	w.PublishCRL(now.Add(-time.Minute), now.Add(time.Hour))
	c := w.checker(func(o *Options) { o.OCSP.Disabled = true })
	run(t, c)
	if _, err := c.Check(ctx, signReq(first)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("first: %v", err)
	}
	w.Inter.Revoke(second.SerialNumber, time.Now().Add(-time.Minute))
	der, err := w.Inter.CRLValid(time.Now(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	der[len(der)-1] ^= 0x01 // the last octet of the signature
	w.CRL.Store(&der)
	rejected := c.m.crlFetches.WithLabelValues("Asan Imza Test Issuing CA", "rejected")
	testutil.Eventually(t, 10*time.Second, "the broken CRL is fetched and refused", func() bool {
		return value(t, rejected) >= 1
	})
	if _, err := c.Check(ctx, signReq(first)); !errors.Is(err, ErrRevoked) {
		t.Fatalf("first after refusal: %v", err)
	}
	if st, err := c.Check(ctx, signReq(second)); err != nil || st.State != StateGood {
		t.Fatalf("second after refusal: %+v, %v", st, err)
	}
}

func TestCRLRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	now := time.Now()
	small, _ := w.Inter.CRLValid(now.Add(-time.Minute), now.Add(time.Hour)) // no entries, the one held
	for i := 0; i < 6; i++ {
		w.Inter.Revoke(w.Leaf(testca.Personal, testca.Sign).SerialNumber, time.Now().Add(-time.Hour))
	}
	good, _ := w.Inter.CRLValid(now.Add(-time.Minute), now.Add(time.Hour))
	stale, _ := w.Inter.CRLValid(now.Add(-2*time.Hour), now.Add(-time.Hour))
	future, _ := w.Inter.CRLValid(now.Add(time.Hour), now.Add(2*time.Hour))
	otherCA, _ := w.OtherInter.CRLValid(now.Add(-time.Minute), now.Add(time.Hour))
	older, _ := w.Inter.CRLValid(now.Add(-time.Minute), now.Add(time.Hour))
	newer, _ := w.Inter.CRLValid(now.Add(-time.Minute), now.Add(time.Hour))
	tests := []struct {
		name string
		mod  func(*CRLOptions)
		held []byte // installed first
		crl  []byte
		want string
	}{
		{"too-many-entries", func(o *CRLOptions) { o.MaxEntries = 5 }, small, good, "6 entries, more than trust.crl.maxEntries 5"},
		{"too-many-bytes", func(o *CRLOptions) { o.MaxBytes = int64(len(small)) }, small, good, "larger than trust.crl.maxBytes"},
		{"stale", nil, small, stale, "stale, nextUpdate"},
		{"future", nil, small, future, "thisUpdate"},
		{"other-issuer", nil, small, otherCA, "signature does not verify"},
		{"garbage", nil, small, []byte("not a CRL"), "parse"},
		{"rollback", nil, newer, older, "older than the"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := w.checker(func(o *Options) {
				o.OCSP.Disabled = true
				o.Registerer = nil
				if tt.mod != nil {
					tt.mod(&o.CRL)
				}
			})
			if c.crls.source(nil, w.Inter.Certificate()) != nil {
				t.Fatal("source without a URL")
			}
			src := c.crls.source(w.Leaf(testca.Personal, testca.Sign), w.Inter.Certificate())
			w.CRL.Store(&tt.held)
			if err := c.crls.refresh(ctx, src, true); err != nil {
				t.Fatal(err)
			}
			held := src.cur.Load()
			b := tt.crl
			w.CRL.Store(&b)
			err := c.crls.refresh(ctx, src, true)
			if !errors.Is(err, errCRL) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want errCRL with %q", err, tt.want)
			}
			if src.cur.Load() != held {
				t.Fatal("the CRL held was replaced")
			}
			if got := value(t, c.m.crlFetches.WithLabelValues("Asan Imza Test Issuing CA", "rejected")); got != 1 {
				t.Fatalf("rejected fetches %v", got)
			}
		})
	}
}

// A certificate naming another CRL than the one held for its issuer gets
// no CRL status from it (it may be another partition).
func TestCRLOtherDistributionPoint(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	now := time.Now()
	w.PublishCRL(now.Add(-time.Minute), now.Add(time.Hour))
	c := w.checker(func(o *Options) { o.OCSP.Disabled = true; o.Registerer = nil })
	if _, err := c.Check(ctx, signReq(leaf)); err != nil {
		t.Fatal(err)
	}
	for _, cdp := range [][]string{nil, {w.Srv.URL + "/partition-2.crl"}} {
		k := w.customLeaf(x509.KeyUsageContentCommitment, nil, cdp...)
		if _, err := c.Check(ctx, signReq(k)); !errors.Is(err, ErrStatusUnknown) {
			t.Fatalf("certificate with distribution points %v: %v", cdp, err)
		}
	}
}

func TestProvisionedOnly(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	c, err := New(Options{Mode: ModeProvisionedOnly})
	if err != nil {
		t.Fatal(err)
	}
	// No chain check: a certificate of an unrelated CA is not refused.
	other := issue(t, w.OtherInter, testca.Personal, testca.Sign, false)
	for _, l := range []*x509.Certificate{leaf, other} {
		st, err := c.Check(ctx, signReq(l))
		if err != nil || st.State != StateGood || st.Source != SourceProvisioned || len(st.Chain) != 1 {
			t.Fatalf("status %+v, %v", st, err)
		}
	}
	st, err := c.Check(ctx, Request{Chain: []*x509.Certificate{leaf}, Operation: Sign, ProvisionedRevoked: true})
	if !errors.Is(err, ErrRevoked) || st.Source != SourceProvisioned {
		t.Fatalf("registry revoked: %+v, %v", st, err)
	}
	// Validity and usage still apply.
	if _, err := c.Check(ctx, Request{Chain: []*x509.Certificate{leaf}, Operation: Authenticate}); err != nil {
		t.Fatalf("sign certificate for login (digitalSignature, no EKU): %v", err)
	}
	expired := issue(t, w.Inter, testca.Personal, testca.Sign, true)
	if _, err := c.Check(ctx, signReq(expired)); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired: %v", err)
	}
}
