package trust

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet/testca"
)

func TestNewRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	leafFile := w.WritePEM("leaf.pem", w.Leaf(testca.Personal, testca.Sign))
	past := time.Now().AddDate(-30, 0, 0)
	oldRoot, err := testca.New(testca.Options{Name: "Old Root", Now: func() time.Time { return past }})
	if err != nil {
		t.Fatal(err)
	}
	expiredFile := w.WritePEM("expired-root.pem", oldRoot.Certificate())
	otherInterFile := w.WritePEM("other-inter.pem", w.OtherInter.Certificate())
	emptyDir := filepath.Join(w.Dir, "empty")
	if err := os.Mkdir(emptyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	w.WriteFile("empty/README", []byte("no certificates here"))
	noCert := w.WriteFile("nocert.pem", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"))
	withKey := w.WriteKey("root-and-key.pem", w.Root.Key())
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no-roots", Options{}, "trust.roots is empty"},
		{"missing-file", Options{Roots: []string{filepath.Join(w.Dir, "absent.pem")}}, "no such file"},
		{"no-certificate", Options{Roots: []string{noCert}}, "no PEM CERTIFICATE block"},
		{"empty-dir", Options{Roots: []string{emptyDir}}, "has no .pem, .crt or .cer file"},
		{"private-key", Options{Roots: []string{withKey}}, "is a private key"},
		{"leaf-as-root", Options{Roots: []string{leafFile}}, "is not a CA certificate"},
		{"expired-root", Options{Roots: []string{expiredFile}}, "Old Root (" + expiredFile + ") expired on"},
		{"intermediate-does-not-chain", Options{Roots: []string{w.RootFile}, Intermediates: []string{otherInterFile}},
			"Unrelated Issuing CA (" + otherInterFile + ") does not chain to a configured root"},
		{"provisioned-with-roots", Options{Mode: ModeProvisionedOnly, Roots: []string{w.RootFile}}, "takes no trust.roots"},
		{"crl-url-for-unknown-ca", Options{Roots: []string{w.RootFile}, CRL: CRLOptions{URLs: map[string]string{"Nobody": "http://127.0.0.1/x.crl"}}},
			`trust.crl.urls names "Nobody"`},
		{"ocsp-url-not-http", Options{Roots: []string{w.RootFile}, OCSP: OCSPOptions{URLs: map[string]string{"ASXM Test Root": "ldap://x"}}},
			"want an http or https URL"},
		{"refresh-too-fast", Options{Roots: []string{w.RootFile}, CRL: CRLOptions{RefreshInterval: time.Millisecond}}, "trust.crl.refreshInterval"},
		{"bad-mode", Options{Mode: 7, Roots: []string{w.RootFile}}, "trust.mode 7 unknown"},
		{"given-nil-root", Options{RootCertificates: []*x509.Certificate{nil}}, "Options.RootCertificates[0] is nil"},
		{"given-leaf-as-root", Options{RootCertificates: []*x509.Certificate{w.Root.Certificate(), w.Leaf(testca.Personal, testca.Sign)}},
			"(Options.RootCertificates[1]) is not a CA certificate"},
		{"given-intermediate-does-not-chain", Options{RootCertificates: []*x509.Certificate{w.Root.Certificate()},
			IntermediateCertificates: []*x509.Certificate{w.OtherInter.Certificate()}}, "does not chain to a configured root"},
		{"provisioned-with-given-root", Options{Mode: ModeProvisionedOnly, RootCertificates: []*x509.Certificate{w.Root.Certificate()}}, "takes no trust.roots"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want ErrConfig containing %q", err, tt.want)
			}
		})
	}
	// A directory of roots works, and ignores what is not a certificate file.
	dir := filepath.Join(w.Dir, "roots")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "asxm.crt"), readFile(t, w.RootFile), 0o600); err != nil {
		t.Fatal(err)
	}
	w.WriteFile("roots/notes.txt", []byte("ignored"))
	if _, err := New(Options{Roots: []string{dir}, Intermediates: []string{w.InterFile}}); err != nil {
		t.Fatalf("directory of roots: %v", err)
	}
}

func TestParseModeAndPolicy(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeVerify, "verify": ModeVerify, "provisioned-only": ModeProvisionedOnly} {
		if got, err := ParseMode(in); err != nil || got != want || (in != "" && got.String() != in) {
			t.Fatalf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("trust-all"); !errors.Is(err, ErrConfig) {
		t.Fatalf("ParseMode(trust-all): %v", err)
	}
	for in, want := range map[string]Policy{"": PolicyDefault, "hard-fail": PolicyHardFail, "soft-fail": PolicySoftFail} {
		if got, err := ParsePolicy(in); err != nil || got != want {
			t.Fatalf("ParsePolicy(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParsePolicy("fail-open"); !errors.Is(err, ErrConfig) {
		t.Fatal("ParsePolicy accepted fail-open")
	}
	if !PolicyDefault.hardFail(Sign) || PolicyDefault.hardFail(Authenticate) {
		t.Fatal("defaults: hard-fail for SIGN, soft-fail for AUTHENTICATE")
	}
}

// lateLeaf is valid from a year before the issuing CA expires to two
// years after.
func (w *world) lateLeaf() *x509.Certificate {
	w.T.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c, err := w.Inter.Issue(testca.Request{Kind: testca.Personal, Usage: testca.Sign, Holder: leyla, PublicKey: &k.PublicKey,
		NotBefore: w.Inter.Certificate().NotAfter.AddDate(-1, 0, 0)})
	if err != nil {
		w.T.Fatal(err)
	}
	return c
}

// customLeaf issues, under the world's issuing CA, a certificate with the
// given usages, for the profiles testca does not make.
func (w *world) customLeaf(ku x509.KeyUsage, eku []x509.ExtKeyUsage, cdp ...string) *x509.Certificate {
	w.T.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "Custom"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: ku, ExtKeyUsage: eku,
		CRLDistributionPoints: cdp}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, w.Inter.Certificate(), &k.PublicKey, w.Inter.Key())
	if err != nil {
		w.T.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		w.T.Fatal(err)
	}
	return c
}

func TestValidateRefusals(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.checker(func(o *Options) { o.Registerer = nil })
	auth, sign := w.Leaf(testca.Business, testca.Auth), w.Leaf(testca.Business, testca.Sign)
	personal := w.Leaf(testca.Personal, testca.Sign)
	gov := w.Leaf(testca.Government, testca.Sign)
	late := w.lateLeaf()
	now := time.Now()
	tests := []struct {
		name  string
		chain []*x509.Certificate
		op    Operation
		slot  Slot
		at    time.Time
		want  Code
	}{
		{"untrusted-root", []*x509.Certificate{issue(t, w.OtherInter, testca.Personal, testca.Sign, false), w.OtherInter.Certificate()}, Sign, Slot{}, now, CodeUntrusted},
		{"untrusted-self-signed", []*x509.Certificate{w.OtherRoot.Certificate()}, Sign, Slot{}, now, CodeKeyUsage},
		{"expired", []*x509.Certificate{issue(t, w.Inter, testca.Personal, testca.Sign, true)}, Sign, Slot{}, now, CodeExpired},
		{"not-yet-valid", []*x509.Certificate{sign}, Sign, Slot{}, sign.NotBefore.Add(-time.Second), CodeExpired},
		{"intermediate-expired", []*x509.Certificate{late}, Sign, Slot{}, w.Inter.Certificate().NotAfter.Add(time.Hour), CodeExpired},
		{"auth-cert-for-sign", []*x509.Certificate{auth}, Sign, Slot{}, now, CodeKeyUsage},
		{"no-client-auth-eku", []*x509.Certificate{w.customLeaf(x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection})}, Authenticate, Slot{}, now, CodeKeyUsage},
		{"no-digital-signature", []*x509.Certificate{w.customLeaf(x509.KeyUsageContentCommitment, nil)}, Authenticate, Slot{}, now, CodeKeyUsage},
		{"no-key-usage-extension", []*x509.Certificate{w.customLeaf(0, nil)}, Sign, Slot{}, now, CodeKeyUsage},
		{"business-wrong-voen", []*x509.Certificate{sign}, Sign, Slot{Kind: KindBusiness, VOEN: "1400123457"}, now, CodeSubjectMismatch},
		{"business-slot-personal-cert", []*x509.Certificate{personal}, Sign, Slot{Kind: KindBusiness}, now, CodeSubjectMismatch},
		{"personal-slot-business-cert", []*x509.Certificate{sign}, Sign, Slot{Kind: KindPersonal}, now, CodeSubjectMismatch},
		{"government-slot-business-cert", []*x509.Certificate{sign}, Sign, Slot{Kind: KindGovernment, VOEN: "1400123456"}, now, CodeSubjectMismatch},
		{"any-slot-wrong-voen", []*x509.Certificate{gov}, Sign, Slot{VOEN: "1700000001"}, now, CodeSubjectMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Validate(tt.chain, tt.op, tt.slot, tt.at)
			if code, ok := CodeOf(err); !ok || code != tt.want {
				t.Fatalf("err %v, want %s", err, tt.want)
			}
			if !errors.Is(err, &Error{code: tt.want}) {
				t.Fatalf("%v does not match its sentinel", err)
			}
		})
	}
	for _, ok := range []struct {
		name string
		leaf *x509.Certificate
		op   Operation
		slot Slot
	}{
		{"business-auth", auth, Authenticate, Slot{Kind: KindBusiness, VOEN: "1400123456"}},
		{"business-sign", sign, Sign, Slot{Kind: KindBusiness, VOEN: "1400123456"}},
		{"government-sign", gov, Sign, Slot{Kind: KindGovernment, VOEN: "1400123456"}},
		{"personal", personal, Sign, Slot{Kind: KindPersonal}},
		{"sign-cert-login", personal, Authenticate, Slot{}},
	} {
		if _, err := c.Validate([]*x509.Certificate{ok.leaf}, ok.op, ok.slot, now); err != nil {
			t.Fatalf("%s: %v", ok.name, err)
		}
	}
	for _, bad := range []struct {
		chain []*x509.Certificate
		op    Operation
		slot  Slot
	}{
		{nil, Sign, Slot{}},
		{[]*x509.Certificate{sign}, 0, Slot{}},
		{[]*x509.Certificate{sign}, Sign, Slot{VOEN: "14001234"}},
		{make([]*x509.Certificate, 9), Sign, Slot{}},
	} {
		if _, err := c.Validate(bad.chain, bad.op, bad.slot, now); !errors.Is(err, ErrRequest) {
			t.Fatalf("malformed request %+v: %v", bad, err)
		}
	}
}

// A chain may bring its own intermediate when the configuration names only
// the root; the path found is remembered and reused at reply time.
func TestValidateChainSuppliedIntermediateAndCache(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.checker(func(o *Options) { o.Intermediates = nil; o.Registerer = nil })
	leaf := w.Leaf(testca.Personal, testca.Sign)
	if _, err := c.Validate([]*x509.Certificate{leaf}, Sign, Slot{}, time.Now()); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("without the intermediate: %v", err)
	}
	p, err := c.Validate([]*x509.Certificate{leaf, w.Inter.Certificate()}, Sign, Slot{}, time.Now())
	if err != nil || len(p.Certificates()) != 3 || p.Leaf() != leaf {
		t.Fatalf("path %v: %v", p, err)
	}
	// Reply time: the leaf alone is enough now, and the same path returns.
	p2, err := c.Validate([]*x509.Certificate{leaf}, Sign, Slot{}, time.Now())
	if err != nil || p2 != p {
		t.Fatalf("cached path %p vs %p: %v", p2, p, err)
	}
	// The window of the cached path is still checked: this leaf outlives
	// its intermediate.
	late := w.lateLeaf()
	interEnd := w.Inter.Certificate().NotAfter
	if _, err := c.Validate([]*x509.Certificate{late, w.Inter.Certificate()}, Sign, Slot{}, interEnd.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = c.Validate([]*x509.Certificate{late}, Sign, Slot{}, interEnd.Add(time.Hour))
	if !errors.Is(err, ErrExpired) || !strings.Contains(err.Error(), "a CA certificate of the path") {
		t.Fatalf("past the intermediate: %v", err)
	}
}

// Anchors given as certificates work as the files do.
func TestGivenCertificates(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.checker(func(o *Options) {
		o.Roots, o.Intermediates, o.Registerer = nil, nil, nil
		o.RootCertificates = []*x509.Certificate{w.Root.Certificate()}
		o.IntermediateCertificates = []*x509.Certificate{w.Inter.Certificate()}
	})
	p, err := c.Validate([]*x509.Certificate{w.Leaf(testca.Personal, testca.Sign)}, Sign, Slot{}, time.Now())
	if err != nil || len(p.Certificates()) != 3 || !p.Certificates()[2].Equal(w.Root.Certificate()) {
		t.Fatalf("path %v: %v", p, err)
	}
	other := issue(t, w.OtherInter, testca.Personal, testca.Sign, false)
	if _, err := c.Validate([]*x509.Certificate{other, w.OtherInter.Certificate()}, Sign, Slot{}, time.Now()); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("another root's certificate: %v", err)
	}
}

// Issuers gives a container the validated path above the leaf, issuer
// first and the root last; a certificate of another hierarchy has none,
// and provisioned-only, which trusts no root, has none at all.
func TestIssuers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	c := w.checker(func(o *Options) { o.Registerer = nil })
	leaf := w.Leaf(testca.Personal, testca.Sign)
	got, err := c.Issuers(leaf, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !got[0].Equal(w.Inter.Certificate()) || !got[1].Equal(w.Root.Certificate()) {
		t.Fatalf("Issuers = %d certificates, want the issuing CA then the root", len(got))
	}
	stranger := issue(t, w.OtherInter, testca.Personal, testca.Sign, false)
	if _, err := c.Issuers(stranger, time.Now()); !hasCode(err, CodeUntrusted) {
		t.Fatalf("another hierarchy's certificate: %v, want %s", err, CodeUntrusted)
	}
	po := w.checker(func(o *Options) {
		o.Registerer = nil
		o.Mode = ModeProvisionedOnly
		o.Roots, o.Intermediates = nil, nil
	})
	if _, err := po.Issuers(leaf, time.Now()); !hasCode(err, CodeUntrusted) {
		t.Fatalf("provisioned-only: %v, want %s", err, CodeUntrusted)
	}
	if _, err := c.Issuers(nil, time.Now()); err == nil {
		t.Fatal("a nil certificate has issuers")
	}
}

func hasCode(err error, want Code) bool {
	code, ok := CodeOf(err)
	return ok && code == want
}
