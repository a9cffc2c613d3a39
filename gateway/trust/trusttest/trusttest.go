package trusttest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
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

	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/internal/testutil"
)

// World is a certification authority as a relying party sees it. Its
// fields may be read by the test; the atomics count and swap what the
// world's server answers.
type World struct {
	T   testing.TB
	Dir string // the test's temporary directory, where files are written
	// Root issues Inter, the issuing CA of every Leaf; OtherRoot and
	// OtherInter are an unrelated hierarchy whose certificates name the
	// same responder and CRL URLs.
	Root, Inter           *testca.CA
	OtherRoot, OtherInter *testca.CA
	// RootFile and InterFile hold Root's and Inter's certificates as PEM.
	RootFile, InterFile string
	// Srv serves POST /ocsp (proxied to the responder), GET /issuing.crl
	// and GET /root.crl.
	Srv *httptest.Server
	// OCSPHits and CRLHits count the requests to /ocsp and /issuing.crl.
	OCSPHits, CRLHits atomic.Int64
	// CRL and RootCRL are the DER CRLs served (CRL nil: 404).
	CRL, RootCRL atomic.Pointer[[]byte]
	// Responder is where /ocsp is proxied (nil: 502, the responder down).
	Responder atomic.Pointer[url.URL]

	mu   sync.Mutex
	stop func() // kills the running responder process
}

// New builds the world and its server; both go away when the test ends.
func New(t testing.TB) *World {
	t.Helper()
	w := &World{T: t, Dir: t.TempDir()}
	mux := http.NewServeMux()
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(w.Responder.Load())
			r.Out.URL.Path = "/"
		},
		ErrorLog: log.New(io.Discard, "", 0),
	}
	mux.HandleFunc("POST /ocsp", func(rw http.ResponseWriter, r *http.Request) {
		w.OCSPHits.Add(1)
		if w.Responder.Load() == nil {
			http.Error(rw, "no responder", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(rw, r)
	})
	mux.HandleFunc("GET /issuing.crl", func(rw http.ResponseWriter, r *http.Request) {
		w.CRLHits.Add(1)
		b := w.CRL.Load()
		if b == nil {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = rw.Write(*b)
	})
	mux.HandleFunc("GET /root.crl", func(rw http.ResponseWriter, r *http.Request) {
		_, _ = rw.Write(*w.RootCRL.Load())
	})
	w.Srv = httptest.NewServer(mux)
	t.Cleanup(w.Srv.Close)

	var err error
	// The root's CRL (an authority revocation list) covers the issuing CA,
	// whose certificate names it.
	if w.Root, err = testca.New(testca.Options{Name: "ASXM Test Root", CRLDistributionPoint: w.Srv.URL + "/root.crl"}); err != nil {
		t.Fatal(err)
	}
	if w.Inter, err = w.Root.NewSubordinate(testca.Options{Name: "Asan Imza Test Issuing CA",
		OCSPServer: w.Srv.URL + "/ocsp", CRLDistributionPoint: w.Srv.URL + "/issuing.crl"}); err != nil {
		t.Fatal(err)
	}
	if w.OtherRoot, err = testca.New(testca.Options{Name: "Unrelated Root"}); err != nil {
		t.Fatal(err)
	}
	if w.OtherInter, err = w.OtherRoot.NewSubordinate(testca.Options{Name: "Unrelated Issuing CA",
		OCSPServer: w.Srv.URL + "/ocsp", CRLDistributionPoint: w.Srv.URL + "/issuing.crl"}); err != nil {
		t.Fatal(err)
	}
	w.PublishRootCRL()
	w.RootFile = w.WritePEM("root.pem", w.Root.Certificate())
	w.InterFile = w.WritePEM("inter.pem", w.Inter.Certificate())
	return w
}

// WritePEM writes certificates as one PEM file in Dir and returns its path.
func (w *World) WritePEM(name string, certs ...*x509.Certificate) string {
	w.T.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return w.WriteFile(name, b)
}

// WriteFile writes b to a file in Dir and returns its path.
func (w *World) WriteFile(name string, b []byte) string {
	w.T.Helper()
	p := filepath.Join(w.Dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		w.T.Fatal(err)
	}
	return p
}

// WriteKey writes a private key as PKCS #8 PEM in Dir and returns its path.
func (w *World) WriteKey(name string, k *ecdsa.PrivateKey) string {
	w.T.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		w.T.Fatal(err)
	}
	return w.WriteFile(name, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// Leyla is the holder of the certificates Leaf issues: a business
// certificate carries VÖEN 1400123456.
var Leyla = testca.Holder{GivenName: "Leyla", Surname: "Məmmədova", FIN: "5ABC7DE", Organization: "Xəzər MMC", VOEN: "1400123456"}

// Issue gives a certificate of ca for a fresh ECDSA key, held by Leyla.
func Issue(t testing.TB, ca *testca.CA, kind testca.Kind, usage testca.Usage, expired bool) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.Issue(testca.Request{Kind: kind, Usage: usage, Holder: Leyla, PublicKey: &k.PublicKey, Expired: expired})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Leaf gives a certificate of the issuing CA.
func (w *World) Leaf(kind testca.Kind, usage testca.Usage) *x509.Certificate {
	return Issue(w.T, w.Inter, kind, usage, false)
}

// PublishCRL serves a new CRL of the issuing CA with its revocations now.
func (w *World) PublishCRL(thisUpdate, nextUpdate time.Time) {
	w.T.Helper()
	der, err := w.Inter.CRLValid(thisUpdate, nextUpdate)
	if err != nil {
		w.T.Fatal(err)
	}
	w.CRL.Store(&der)
}

// PublishRootCRL serves a new CRL of the root, valid for a day.
func (w *World) PublishRootCRL() {
	w.T.Helper()
	der, err := w.Root.CRL()
	if err != nil {
		w.T.Fatal(err)
	}
	w.RootCRL.Store(&der)
}

// WriteIndex replaces the responder's CA database with the issuing CA's
// current one. The rename gives the file a new inode, which `openssl ocsp`
// (OpenSSL 3) notices before it waits for its next connection, and reloads.
func (w *World) WriteIndex() string {
	w.T.Helper()
	tmp := filepath.Join(w.Dir, "index.txt.new")
	if err := os.WriteFile(tmp, w.Inter.OpenSSLIndex(), 0o600); err != nil {
		w.T.Fatal(err)
	}
	p := filepath.Join(w.Dir, "index.txt")
	if err := os.Rename(tmp, p); err != nil {
		w.T.Fatal(err)
	}
	return p
}

// RequireOpenSSL skips the test when openssl is not on PATH, and fails it
// under CI, where it must be installed.
func RequireOpenSSL(t testing.TB) {
	t.Helper()
	testutil.RequireTools(t, "openssl")
}

// StartResponder runs `openssl ocsp` for the issuing CA, signing with
// signer and key, answers valid for nmin minutes (0: no nextUpdate), and
// points the proxy at it. A responder already running is stopped first.
// The process is killed when the test ends.
func (w *World) StartResponder(signer *x509.Certificate, key *ecdsa.PrivateKey, nmin int, extra ...string) {
	w.T.Helper()
	RequireOpenSSL(w.T)
	w.StopResponder()
	index := w.WriteIndex()
	rs := w.WritePEM("rsigner.pem", signer)
	rk := w.WriteKey("rsigner.key", key)
	// The free port can be taken by another test before openssl binds it:
	// a responder that exits before listening is tried again on another.
	var port int
	for attempt := 0; ; attempt++ {
		port = FreePort(w.T)
		ok, log := w.runResponder(port, index, rs, rk, nmin, extra)
		if ok {
			break
		}
		if attempt == 2 {
			w.T.Fatalf("openssl ocsp exited before listening, three times; last: %s", log)
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	w.Responder.Store(&url.URL{Scheme: "http", Host: addr})
}

// runResponder starts `openssl ocsp` on port and waits until it listens;
// false, with what it wrote, when it exited first.
func (w *World) runResponder(port int, index, rs, rk string, nmin int, extra []string) (bool, string) {
	w.T.Helper()
	args := []string{"ocsp", "-index", index, "-port", strconv.Itoa(port), "-rsigner", rs, "-rkey", rk,
		"-CA", w.InterFile, "-ignore_err"}
	if nmin > 0 {
		args = append(args, "-nmin", strconv.Itoa(nmin))
	}
	cmd := exec.Command("openssl", append(args, extra...)...)
	cmd.Dir = w.Dir
	cmd.Stdout = io.Discard
	stderr, err := cmd.StderrPipe()
	if err != nil {
		w.T.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		w.T.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	w.T.Cleanup(stop)
	// Readiness is read from the log, not probed: a connection opened and
	// closed without a request wedges the single-threaded responder.
	ready := make(chan bool, 1)
	var lines []string
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "waiting for OCSP client connections") {
				ready <- true
				signalled = true
			} else if !signalled {
				mu.Lock()
				lines = append(lines, sc.Text())
				mu.Unlock()
			}
		}
		if !signalled {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			stop()
			mu.Lock()
			defer mu.Unlock()
			return false, strings.Join(lines, "; ")
		}
	case <-time.After(10 * time.Second):
		w.T.Fatal("openssl ocsp did not start listening")
	}
	w.mu.Lock()
	w.stop = stop
	w.mu.Unlock()
	return true, ""
}

// StopResponder takes the responder down: /ocsp answers 502 Bad Gateway,
// as a load balancer in front of a dead responder would.
func (w *World) StopResponder() {
	w.Responder.Store(nil)
	w.mu.Lock()
	stop := w.stop
	w.stop = nil
	w.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// DelegatedResponder issues a responder certificate under the issuing CA
// (without id-kp-OCSPSigning when ocspSigning is false).
func (w *World) DelegatedResponder(ocspSigning bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	w.T.Helper()
	c, k, err := w.Inter.IssueResponder("Asan Imza Test OCSP", ocspSigning)
	if err != nil {
		w.T.Fatal(err)
	}
	return c, k
}

// FreePort returns a loopback TCP port free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Eventually polls cond until it holds or the deadline d passes.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, d, what, cond)
}
