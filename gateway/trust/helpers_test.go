package trust

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"log/slog"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/ocsp"

	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway/trust/trusttest"
)

// world is the certification authority of package trusttest (a root, an
// issuing CA with an `openssl ocsp` responder and CRLs on a loopback
// server, an unrelated hierarchy) with the registry the checkers it builds
// register on.
type world struct {
	*trusttest.World
	reg *prometheus.Registry
}

func newWorld(t testing.TB) *world {
	t.Helper()
	return &world{World: trusttest.New(t), reg: prometheus.NewRegistry()}
}

var leyla = trusttest.Leyla

func issue(t testing.TB, ca *testca.CA, kind testca.Kind, usage testca.Usage, expired bool) *x509.Certificate {
	t.Helper()
	return trusttest.Issue(t, ca, kind, usage, expired)
}

// checker builds a Checker trusting the world's root and intermediate,
// with short intervals; mod adjusts the options.
func (w *world) checker(mod func(*Options)) *Checker {
	w.T.Helper()
	opts := Options{
		Roots:         []string{w.RootFile},
		Intermediates: []string{w.InterFile},
		OCSP:          OCSPOptions{Timeout: 5 * time.Second},
		CRL:           CRLOptions{RefreshInterval: 100 * time.Millisecond, Timeout: 5 * time.Second},
		Logger:        slog.New(slog.NewTextHandler(w.T.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registerer:    w.reg,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		w.T.Fatal(err)
	}
	return c
}

// run starts c.Run until the test ends.
func run(t testing.TB, c *Checker) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func asECDSA(t *testing.T, k any) *ecdsa.PrivateKey {
	t.Helper()
	e, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("key %T", k)
	}
	return e
}

func openssl(t *testing.T, dir string, args ...string) ([]byte, error) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not on PATH")
		}
		t.Skip("openssl not on PATH")
	}
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	return cmd.CombinedOutput()
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// value reads a counter or gauge.
func value(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatalf("metric %v is neither counter nor gauge", m.Desc())
	return 0
}

// forgedGood is a "good" response for leaf that names the right issuer but
// is signed by a responder of the unrelated CA.
func forgedGood(t testing.TB, w *world, leaf *x509.Certificate) []byte {
	t.Helper()
	rc, rk, err := w.OtherInter.IssueResponder("Forger", true)
	if err != nil {
		t.Fatal(err)
	}
	return ocspResponse(t, w.Inter.Certificate(), rc, rk, leaf, ocsp.Good)
}

// ocspResponse signs a response with x/crypto/ocsp, for inputs no real
// responder would give (forgeries, fuzz seeds).
func ocspResponse(t testing.TB, issuer, signer *x509.Certificate, key *ecdsa.PrivateKey, leaf *x509.Certificate, status int) []byte {
	t.Helper()
	now := time.Now()
	der, err := ocsp.CreateResponse(issuer, signer, ocsp.Response{Status: status, SerialNumber: leaf.SerialNumber,
		ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour), RevokedAt: now.Add(-time.Hour)}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
