package trust

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/ocsp"

	"github.com/imzagate/imzagate/applet/testca"
)

// world is a certification authority as a relying party sees it: a root,
// an issuing CA whose certificates name an OCSP responder and a CRL on a
// loopback HTTP server, and an unrelated second hierarchy. The responder
// is a real `openssl ocsp` process behind a counting proxy; the CRLs are
// real, served as bytes.
type world struct {
	t           testing.TB
	dir         string
	root, inter *testca.CA
	otherRoot   *testca.CA
	otherInter  *testca.CA
	rootFile    string
	interFile   string
	srv         *httptest.Server
	ocspHits    atomic.Int64
	crlHits     atomic.Int64
	crl         atomic.Pointer[[]byte]
	rootCRL     atomic.Pointer[[]byte]
	responder   atomic.Pointer[url.URL]
	reg         *prometheus.Registry
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir(), reg: prometheus.NewRegistry()}
	mux := http.NewServeMux()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(w.responder.Load())
			r.Out.URL.Path = "/"
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	mux.HandleFunc("POST /ocsp", func(rw http.ResponseWriter, r *http.Request) {
		w.ocspHits.Add(1)
		if w.responder.Load() == nil {
			http.Error(rw, "no responder", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(rw, r)
	})
	mux.HandleFunc("GET /issuing.crl", func(rw http.ResponseWriter, r *http.Request) {
		w.crlHits.Add(1)
		b := w.crl.Load()
		if b == nil {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = rw.Write(*b)
	})
	mux.HandleFunc("GET /root.crl", func(rw http.ResponseWriter, r *http.Request) {
		_, _ = rw.Write(*w.rootCRL.Load())
	})
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)

	var err error
	// The root's CRL (an authority revocation list) covers the issuing CA,
	// whose certificate names it.
	if w.root, err = testca.New(testca.Options{Name: "ASXM Test Root", CRLDistributionPoint: w.srv.URL + "/root.crl"}); err != nil {
		t.Fatal(err)
	}
	if w.inter, err = w.root.NewSubordinate(testca.Options{Name: "Asan Imza Test Issuing CA",
		OCSPServer: w.srv.URL + "/ocsp", CRLDistributionPoint: w.srv.URL + "/issuing.crl"}); err != nil {
		t.Fatal(err)
	}
	if w.otherRoot, err = testca.New(testca.Options{Name: "Unrelated Root"}); err != nil {
		t.Fatal(err)
	}
	if w.otherInter, err = w.otherRoot.NewSubordinate(testca.Options{Name: "Unrelated Issuing CA",
		OCSPServer: w.srv.URL + "/ocsp", CRLDistributionPoint: w.srv.URL + "/issuing.crl"}); err != nil {
		t.Fatal(err)
	}
	w.publishRootCRL()
	w.rootFile = w.writePEM("root.pem", w.root.Certificate())
	w.interFile = w.writePEM("inter.pem", w.inter.Certificate())
	return w
}

func (w *world) writePEM(name string, certs ...*x509.Certificate) string {
	w.t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return w.writeFile(name, b)
}

func (w *world) writeFile(name string, b []byte) string {
	w.t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) writeKey(name string, k *ecdsa.PrivateKey) string {
	w.t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.writeFile(name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

var leyla = testca.Holder{GivenName: "Leyla", Surname: "Məmmədova", FIN: "5ABC7DE", Organization: "Xəzər MMC", VOEN: "1400123456"}

// issue gives a certificate of ca for a fresh ECDSA key.
func issue(t testing.TB, ca *testca.CA, kind testca.Kind, usage testca.Usage, expired bool) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.Issue(testca.Request{Kind: kind, Usage: usage, Holder: leyla, PublicKey: &k.PublicKey, Expired: expired})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *world) leaf(kind testca.Kind, usage testca.Usage) *x509.Certificate {
	return issue(w.t, w.inter, kind, usage, false)
}

// checker builds a Checker trusting the world's root and intermediate,
// with short intervals; mod adjusts the options.
func (w *world) checker(mod func(*Options)) *Checker {
	w.t.Helper()
	opts := Options{
		Roots:         []string{w.rootFile},
		Intermediates: []string{w.interFile},
		OCSP:          OCSPOptions{Timeout: 5 * time.Second},
		CRL:           CRLOptions{RefreshInterval: 100 * time.Millisecond, Timeout: 5 * time.Second},
		Logger:        slog.New(slog.NewTextHandler(w.t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
		Registerer:    w.reg,
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := New(opts)
	if err != nil {
		w.t.Fatal(err)
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

// publishCRL serves a new CRL of the issuing CA.
func (w *world) publishCRL(thisUpdate, nextUpdate time.Time) {
	w.t.Helper()
	der, err := w.inter.CRLValid(thisUpdate, nextUpdate)
	if err != nil {
		w.t.Fatal(err)
	}
	w.crl.Store(&der)
}

// publishRootCRL serves a new CRL of the root, valid for a day.
func (w *world) publishRootCRL() {
	w.t.Helper()
	der, err := w.root.CRL()
	if err != nil {
		w.t.Fatal(err)
	}
	w.rootCRL.Store(&der)
}

// writeIndex replaces the responder's CA database with the issuing CA's
// current one. The rename gives the file a new inode, which `openssl ocsp`
// (OpenSSL 3) notices before it waits for its next connection, and reloads.
func (w *world) writeIndex() string {
	w.t.Helper()
	tmp := filepath.Join(w.dir, "index.txt.new")
	if err := os.WriteFile(tmp, w.inter.OpenSSLIndex(), 0o600); err != nil {
		w.t.Fatal(err)
	}
	p := filepath.Join(w.dir, "index.txt")
	if err := os.Rename(tmp, p); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// startResponder runs `openssl ocsp` for the issuing CA, signing with
// signer and key, answers valid for nmin minutes, and points the proxy at
// it. The process is killed when the test ends.
func (w *world) startResponder(signer *x509.Certificate, key *ecdsa.PrivateKey, nmin int, extra ...string) {
	w.t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			w.t.Fatal("openssl not on PATH")
		}
		w.t.Skip("openssl not on PATH")
	}
	index := w.writeIndex()
	rs := w.writePEM("rsigner.pem", signer)
	rk := w.writeKey("rsigner.key", key)
	port := freePort(w.t)
	args := append([]string{"ocsp", "-index", index, "-port", strconv.Itoa(port), "-rsigner", rs, "-rkey", rk,
		"-CA", w.interFile, "-nmin", strconv.Itoa(nmin), "-ignore_err"}, extra...)
	cmd := exec.Command("openssl", args...)
	cmd.Dir = w.dir
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	w.t.Cleanup(stop)
	// Readiness is read from the log, not probed: a connection opened and
	// closed without a request wedges the single-threaded responder.
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "waiting for OCSP client connections") {
				ready <- true
				signalled = true
			}
		}
		if !signalled {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			w.t.Fatal("openssl ocsp exited before listening")
		}
	case <-time.After(10 * time.Second):
		w.t.Fatal("openssl ocsp did not start listening")
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	w.responder.Store(&url.URL{Scheme: "http", Host: addr})
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// delegatedResponder issues a responder certificate under the issuing CA.
func (w *world) delegatedResponder(ocspSigning bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	w.t.Helper()
	c, k, err := w.inter.IssueResponder("Asan Imza Test OCSP", ocspSigning)
	if err != nil {
		w.t.Fatal(err)
	}
	return c, k
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(25 * time.Millisecond)
	}
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
	rc, rk, err := w.otherInter.IssueResponder("Forger", true)
	if err != nil {
		t.Fatal(err)
	}
	return ocspResponse(t, w.inter.Certificate(), rc, rk, leaf, ocsp.Good)
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
