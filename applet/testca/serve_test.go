package testca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/imzagate/imzagate/internal/testutil"
)

// TestServeAnswersOpenSSL: the served hierarchy's responder and CRLs as
// `openssl ocsp` and `openssl crl` see them, before and after a revocation.
func TestServeAnswersOpenSSL(t *testing.T) {
	testutil.RequireTools(t, "openssl")
	h, err := Serve("127.0.0.1:0", Options{Name: "Served Root", Seed: []byte("served")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	if got := h.Issuing.Certificate().CRLDistributionPoints; len(got) != 1 || got[0] != h.URL()+"/root.crl" {
		t.Fatalf("issuing CA's CRL distribution points %v", got)
	}
	if h.Root.Key().Equal(h.Issuing.Key()) {
		t.Fatal("root and issuing CA share a key")
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := h.Issuing.Issue(Request{Kind: Personal, Usage: Sign, Holder: holder(), PublicKey: &k.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if leaf.OCSPServer[0] != h.URL()+"/ocsp" || leaf.CRLDistributionPoints[0] != h.URL()+"/issuing.crl" {
		t.Fatalf("leaf URLs %v %v", leaf.OCSPServer, leaf.CRLDistributionPoints)
	}
	dir := t.TempDir()
	write := func(name string, c *x509.Certificate) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootPEM, issuerPEM, leafPEM := write("root.pem", h.Root.Certificate()), write("issuing.pem", h.Issuing.Certificate()), write("leaf.pem", leaf)
	ask := func() string {
		out, err := exec.Command("openssl", "ocsp", "-issuer", issuerPEM, "-cert", leafPEM, "-url", h.URL()+"/ocsp",
			"-CAfile", rootPEM, "-verify_other", issuerPEM, "-no_nonce", "-resp_text").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := ask(); !strings.Contains(out, "Response verify OK") || !strings.Contains(out, leafPEM+": good") {
		t.Fatalf("before the revocation:\n%s", out)
	}
	h.Issuing.RevokeWithReason(leaf.SerialNumber, time.Now().Add(-time.Minute).Truncate(time.Second), 1)
	if out := ask(); !strings.Contains(out, "Response verify OK") || !strings.Contains(out, leafPEM+": revoked") ||
		!strings.Contains(out, "Reason: keyCompromise") {
		t.Fatalf("after the revocation:\n%s", out)
	}

	crlFile := filepath.Join(dir, "issuing.crl")
	if err := os.WriteFile(crlFile, get(t, h.URL()+"/issuing.crl"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "crl", "-inform", "DER", "-in", crlFile, "-CAfile", issuerPEM, "-noout", "-text").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verify OK") || !strings.Contains(string(out), "Serial Number: "+evenHex(leaf.SerialNumber)) {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	rootCRL, err := x509.ParseRevocationList(get(t, h.URL()+"/root.crl"))
	if err != nil || rootCRL.CheckSignatureFrom(h.Root.Certificate()) != nil {
		t.Fatalf("root CRL: %v", err)
	}
}

// TestServeOCSPRefusals: a serial the CA never issued is unknown; a
// request for another issuer is unauthorized; garbage is malformed.
func TestServeOCSPRefusals(t *testing.T) {
	h, err := Serve("127.0.0.1:0", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	post := func(body []byte) []byte {
		resp, err := http.Post(h.URL()+"/ocsp", "application/ocsp-request", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	never := &x509.Certificate{SerialNumber: big.NewInt(987654321)}
	req, err := ocsp.CreateRequest(never, h.Issuing.Certificate(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponse(post(req), h.Issuing.Certificate())
	if err != nil || resp.Status != ocsp.Unknown || resp.NextUpdate.Sub(resp.ThisUpdate) != time.Minute {
		t.Fatalf("never issued: %+v, %v", resp, err)
	}
	req, _ = ocsp.CreateRequest(never, h.Root.Certificate(), nil)
	var re ocsp.ResponseError
	if _, err := ocsp.ParseResponse(post(req), nil); !errors.As(err, &re) || re.Status != ocsp.Unauthorized {
		t.Fatalf("another issuer: %v", err)
	}
	if _, err := ocsp.ParseResponse(post([]byte("not DER")), nil); !errors.As(err, &re) || re.Status != ocsp.Malformed {
		t.Fatalf("garbage: %v", err)
	}
}

// evenHex writes a serial as OpenSSL prints it: upper-case hex in whole
// octets.
func evenHex(n *big.Int) string {
	s := strings.ToUpper(n.Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}
