package ades

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// pki is a root, an intermediate and a signing certificate made with
// crypto/x509, as a certification centre would issue them.
type pki struct {
	root, inter, signer *x509.Certificate
	signerKey           *ecdsa.PrivateKey
	interKey            *ecdsa.PrivateKey
	dir                 string // root.pem lives here
}

var testSigningTime = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issue(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caTemplate(serial int64, cn string) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Country: []string{"AZ"}, Organization: []string{"imzagate test"}, CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// signerTemplate has a 20-octet serial whose first octet has its high bit
// set, so that its INTEGER needs a leading zero.
func signerTemplate(cn string) *x509.Certificate {
	serial := new(big.Int).SetBytes(append([]byte{0x9c}, bytes.Repeat([]byte{0x5a}, 18)...))
	return &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{Country: []string{"AZ"}, CommonName: cn, SerialNumber: "PNOAZ-1AB2C3D",
			ExtraNames: []pkix.AttributeTypeAndValue{{Type: []int{2, 5, 4, 42}, Value: "Leyla"}}},
		NotBefore: time.Now().Add(-time.Hour),
		NotAfter:  time.Now().AddDate(3, 0, 0),
		KeyUsage:  x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	rootKey, interKey, signerKey := newKey(t), newKey(t), newKey(t)
	rootT := caTemplate(1, "imzagate test root")
	root := issue(t, rootT, rootT, &rootKey.PublicKey, rootKey)
	inter := issue(t, caTemplate(2, "imzagate test signing CA"), root, &interKey.PublicKey, rootKey)
	signer := issue(t, signerTemplate("Leyla Məmmədova"), inter, &signerKey.PublicKey, interKey)
	p := &pki{root: root, inter: inter, signer: signer, signerKey: signerKey, interKey: interKey, dir: t.TempDir()}
	writeFile(t, p.rootPEM(), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}))
	return p
}

func (p *pki) rootPEM() string { return filepath.Join(p.dir, "root.pem") }

func (p *pki) chain() []*x509.Certificate { return []*x509.Certificate{p.inter, p.root} }

// simSign signs hash as the applet does (applet protocol §4): ECDSA with
// the hash value as the digest (truncated to the curve's size by the
// standard), answered as raw r ‖ s of 32 octets each.
func simSign(t testing.TB, key *ecdsa.PrivateKey, hash []byte) []byte {
	t.Helper()
	r, s, err := ecdsa.Sign(rand.Reader, key, hash)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 64)
	r.FillBytes(raw[:32])
	s.FillBytes(raw[32:])
	return raw
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// openssl runs the openssl command line tool and returns its combined
// output and whether it exited 0.
func openssl(t testing.TB, args ...string) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("the tests verify with the openssl command: %v", err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("openssl %v: %v", args, err)
		}
		return string(out), false
	}
	return string(out), true
}

// opensslVerify runs openssl cms -verify on a detached DER container with
// the document as its content and the root as the only trust anchor.
func opensslVerify(t testing.TB, p *pki, p7s, content []byte) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	sig, doc := filepath.Join(dir, "signature.p7s"), filepath.Join(dir, "document")
	writeFile(t, sig, p7s)
	writeFile(t, doc, content)
	return openssl(t, "cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-content", doc,
		"-CAfile", p.rootPEM(), "-purpose", "any", "-out", os.DevNull)
}

// signDocument runs the whole flow for a document: Prepare, the SIM's
// signature, Assemble.
func signDocument(t testing.TB, p *pki, alg crypto.Hash, doc []byte, at time.Time) (*Prepared, []byte) {
	t.Helper()
	digest, err := Sum(alg, doc)
	if err != nil {
		t.Fatal(err)
	}
	prep, err := Prepare(Request{DigestAlg: alg, Digest: digest, Signer: p.signer, Chain: p.chain(), SigningTime: at})
	if err != nil {
		t.Fatal(err)
	}
	der, err := prep.Assemble(simSign(t, p.signerKey, prep.Hash))
	if err != nil {
		t.Fatal(err)
	}
	return prep, der
}

func sha256Of(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
