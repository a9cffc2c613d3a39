package testca

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"

	"github.com/imzagate/imzagate/applet"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func newCA(t testing.TB) *CA {
	ca, err := New(Options{Now: func() time.Time { return t0 }, Seed: []byte("seed")})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func holder() Holder {
	return Holder{GivenName: "Leyla", Surname: "Məmmədova", FIN: "5ABC7DE", Organization: "Xəzər MMC", VOEN: "1400123456"}
}

func TestIssueProfiles(t *testing.T) {
	ca := newCA(t)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	mlPub, _, _ := mldsa44.GenerateKey(rand.Reader)
	keys := []struct {
		name string
		pub  any
		alg  applet.SigAlg
	}{{"ecdsa", &ecKey.PublicKey, applet.SigECDSAP256}, {"ed25519", edPub, applet.SigEd25519}, {"mldsa44", mlPub, applet.SigMLDSA44}}
	for _, k := range keys {
		for _, kind := range []Kind{Personal, Business, Government} {
			for _, usage := range []Usage{Auth, Sign} {
				t.Run(fmt.Sprintf("%s/%v/%d", k.name, kind, usage), func(t *testing.T) {
					c, err := ca.Issue(Request{Kind: kind, Usage: usage, Holder: holder(), PublicKey: k.pub})
					if err != nil {
						t.Fatal(err)
					}
					eku := x509.ExtKeyUsageAny
					if usage == Auth {
						eku = x509.ExtKeyUsageClientAuth
					}
					if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
						t.Fatalf("chain: %v", err)
					}
					if got := c.NotAfter.Sub(c.NotBefore); got < 3*365*24*time.Hour || got > 3*366*24*time.Hour {
						t.Fatalf("validity %v", got)
					}
					if alg, err := applet.CertificateSigAlg(c); err != nil || alg != k.alg {
						t.Fatalf("alg %v %v", alg, err)
					}
					s := c.Subject
					if s.Country[0] != "AZ" || s.CommonName != "Leyla Məmmədova" || s.SerialNumber != "PNOAZ-5ABC7DE" {
						t.Fatalf("subject %v", s)
					}
					var orgID string
					for _, n := range s.Names {
						if n.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 97}) {
							orgID, _ = n.Value.(string)
						}
					}
					switch kind {
					case Personal:
						if orgID != "" || len(s.Organization) != 0 {
							t.Fatal("personal certificate names an organisation")
						}
					case Business, Government:
						if orgID != "VATAZ-1400123456" || s.Organization[0] != "Xəzər MMC" {
							t.Fatalf("org %q %v", orgID, s.Organization)
						}
						if (kind == Government) != (len(s.OrganizationalUnit) == 1 && s.OrganizationalUnit[0] == GovernmentOU) {
							t.Fatalf("OU %v", s.OrganizationalUnit)
						}
					}
					if usage == Auth {
						if c.KeyUsage != x509.KeyUsageDigitalSignature || len(c.ExtKeyUsage) != 1 {
							t.Fatalf("auth usage %v %v", c.KeyUsage, c.ExtKeyUsage)
						}
					} else if c.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment || len(c.ExtKeyUsage) != 0 {
						t.Fatalf("sign usage %v %v", c.KeyUsage, c.ExtKeyUsage)
					}
				})
			}
		}
	}
}

func TestMLDSASignatureVerifiesAgainstCertificate(t *testing.T) {
	ca := newCA(t)
	pub, priv, _ := mldsa44.GenerateKey(rand.Reader)
	c, err := ca.Issue(Request{Kind: Personal, Usage: Sign, Holder: holder(), PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("doc"))
	sig := make([]byte, mldsa44.SignatureSize)
	if err := mldsa44.SignTo(priv, h[:], nil, false, sig); err != nil {
		t.Fatal(err)
	}
	if err := applet.VerifySignature(c, applet.SigMLDSA44, h[:], sig); err != nil {
		t.Fatal(err)
	}
	sig[0] ^= 1
	if err := applet.VerifySignature(c, applet.SigMLDSA44, h[:], sig); !errors.Is(err, applet.ErrSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	if err := applet.VerifySignature(c, applet.SigEd25519, h[:], sig[:64]); !errors.Is(err, applet.ErrSignature) {
		t.Fatalf("wrong algorithm: %v", err)
	}
}

func TestExpiredAndRevoked(t *testing.T) {
	ca := newCA(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	c, err := ca.Issue(Request{Kind: Personal, Usage: Sign, Holder: holder(), PublicKey: pub, Expired: true})
	if err != nil {
		t.Fatal(err)
	}
	if !c.NotAfter.Before(t0) {
		t.Fatalf("NotAfter %v not before now", c.NotAfter)
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: t0, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Fatal("expired certificate verifies")
	}
	good, _ := ca.Issue(Request{Kind: Personal, Usage: Sign, Holder: holder(), PublicKey: pub})
	if ca.IsRevoked(good.SerialNumber, t0) {
		t.Fatal("fresh certificate revoked")
	}
	ca.Revoke(good.SerialNumber, t0.Add(time.Hour))
	if ca.IsRevoked(good.SerialNumber, t0) || !ca.IsRevoked(good.SerialNumber, t0.Add(2*time.Hour)) {
		t.Fatal("revocation time not honoured")
	}
	der, err := ca.CRL()
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl.CheckSignatureFrom(ca.Certificate()); err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].SerialNumber.Cmp(good.SerialNumber) != 0 {
		t.Fatalf("CRL entries %v", crl.RevokedCertificateEntries)
	}
}

func TestIssueRejects(t *testing.T) {
	ca := newCA(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	h := holder()
	noVOEN := h
	noVOEN.VOEN = "123"
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{"no-holder", Request{Kind: Personal, Usage: Sign, PublicKey: pub}, ErrRequest},
		{"business-bad-voen", Request{Kind: Business, Usage: Sign, Holder: noVOEN, PublicKey: pub}, ErrRequest},
		{"bad-kind", Request{Kind: 9, Usage: Sign, Holder: h, PublicKey: pub}, ErrRequest},
		{"bad-usage", Request{Kind: Personal, Holder: h, PublicKey: pub}, ErrRequest},
		{"p384", Request{Kind: Personal, Usage: Sign, Holder: h, PublicKey: &p384.PublicKey}, ErrKeyType},
		{"no-key", Request{Kind: Personal, Usage: Sign, Holder: h}, ErrKeyType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ca.Issue(tt.req); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDeterministicECDSA(t *testing.T) {
	a, _ := DeterministicECDSA([]byte("s"), "x")
	b, _ := DeterministicECDSA([]byte("s"), "x")
	c, _ := DeterministicECDSA([]byte("s"), "y")
	if !a.Equal(b) || a.Equal(c) {
		t.Fatal("derivation not deterministic or not label-separated")
	}
}

func BenchmarkIssueECDSA(b *testing.B) {
	ca := newCA(b)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ca.Issue(Request{Kind: Business, Usage: Sign, Holder: holder(), PublicKey: &k.PublicKey}); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleCA_Issue() {
	ca, _ := New(Options{})
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	c, _ := ca.Issue(Request{Kind: Government, Usage: Auth, PublicKey: pub,
		Holder: Holder{GivenName: "Elvin", Surname: "Əliyev", FIN: "1AB2CD3", Organization: "Nazirlik", VOEN: "1700000001"}})
	fmt.Println(c.Subject.SerialNumber, c.Subject.OrganizationalUnit[0])
	// Output: PNOAZ-1AB2CD3 Dövlət və bələdiyyə
}

func TestSubordinateHierarchy(t *testing.T) {
	root, err := New(Options{Now: func() time.Time { return t0 }, Name: "Root", CRLDistributionPoint: "http://127.0.0.1:1/root.crl"})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := root.NewSubordinate(Options{Name: "Issuing", OCSPServer: "http://127.0.0.1:2/ocsp", CRLDistributionPoint: "http://127.0.0.1:2/issuing.crl"})
	if err != nil {
		t.Fatal(err)
	}
	ic := sub.Certificate()
	if !ic.IsCA || !ic.MaxPathLenZero || ic.Issuer.CommonName != "Root" || ic.CRLDistributionPoints[0] != "http://127.0.0.1:1/root.crl" || len(ic.OCSPServer) != 0 {
		t.Fatalf("intermediate: CA %v pathlen0 %v issuer %q CDP %v AIA %v", ic.IsCA, ic.MaxPathLenZero, ic.Issuer.CommonName, ic.CRLDistributionPoints, ic.OCSPServer)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	leaf, err := sub.Issue(Request{Kind: Business, Usage: Auth, Holder: holder(), PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	if leaf.OCSPServer[0] != "http://127.0.0.1:2/ocsp" || leaf.CRLDistributionPoints[0] != "http://127.0.0.1:2/issuing.crl" {
		t.Fatalf("leaf URLs %v %v", leaf.OCSPServer, leaf.CRLDistributionPoints)
	}
	inter := x509.NewCertPool()
	inter.AddCert(ic)
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: root.Pool(), Intermediates: inter, CurrentTime: t0,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil || len(chains[0]) != 3 {
		t.Fatalf("chain %v: %v", chains, err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: root.Pool(), CurrentTime: t0}); err == nil {
		t.Fatal("leaf verifies without its intermediate")
	}

	for _, eku := range []bool{true, false} {
		rc, key, err := sub.IssueResponder("OCSP responder", eku)
		if err != nil {
			t.Fatal(err)
		}
		if !key.PublicKey.Equal(rc.PublicKey) || rc.CheckSignatureFrom(ic) != nil {
			t.Fatal("responder key or signature wrong")
		}
		hasEKU := len(rc.ExtKeyUsage) == 1 && rc.ExtKeyUsage[0] == x509.ExtKeyUsageOCSPSigning
		noCheck := false
		for _, e := range rc.Extensions {
			noCheck = noCheck || e.Id.Equal(oidOCSPNoCheck)
		}
		if hasEKU != eku || !noCheck || rc.IsCA {
			t.Fatalf("responder eku=%v: has %v nocheck %v", eku, rc.ExtKeyUsage, noCheck)
		}
	}
}

func TestOpenSSLIndex(t *testing.T) {
	ca := newCA(t)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	var certs []*x509.Certificate
	for range 3 {
		c, err := ca.Issue(Request{Kind: Personal, Usage: Sign, Holder: holder(), PublicKey: pub, NotBefore: t0})
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	ca.RevokeWithReason(certs[1].SerialNumber, t0.Add(90*time.Minute), 1)
	ca.Revoke(certs[2].SerialNumber, t0.Add(2*time.Hour))
	want := "V\t290601120000Z\t\t02\tunknown\t/O=imzagate test/CN=serial 02\n" +
		"R\t290601120000Z\t260601133000Z,keyCompromise\t03\tunknown\t/O=imzagate test/CN=serial 03\n" +
		"R\t290601120000Z\t260601140000Z\t04\tunknown\t/O=imzagate test/CN=serial 04\n"
	if got := string(ca.OpenSSLIndex()); got != want {
		t.Fatalf("index:\n%s\nwant:\n%s", got, want)
	}

	der, err := ca.CRLValid(t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if !crl.ThisUpdate.Equal(t0) || !crl.NextUpdate.Equal(t0.Add(time.Hour)) || len(crl.RevokedCertificateEntries) != 2 {
		t.Fatalf("CRL %v..%v, %d entries", crl.ThisUpdate, crl.NextUpdate, len(crl.RevokedCertificateEntries))
	}
	for _, e := range crl.RevokedCertificateEntries {
		if want := map[int64]int{3: 1, 4: 0}[e.SerialNumber.Int64()]; e.ReasonCode != want {
			t.Fatalf("serial %v reason %d, want %d", e.SerialNumber, e.ReasonCode, want)
		}
	}
	der2, _ := ca.CRLValid(t0, t0.Add(time.Hour))
	crl2, _ := x509.ParseRevocationList(der2)
	if crl2.Number.Cmp(crl.Number) <= 0 {
		t.Fatalf("CRL numbers %v then %v", crl.Number, crl2.Number)
	}
}
