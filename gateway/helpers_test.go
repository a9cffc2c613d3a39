package gateway

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
)

// Test portals: p1 may do everything, p2 only logins.
const (
	key1 = "key-one-0123456789"
	key2 = "key-two-0123456789"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// makeCert issues a self-signed certificate for pub, valid nb..na.
func makeCert(t testing.TB, signer crypto.Signer, nb, na time.Time) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{Country: []string{"AZ"}, CommonName: "Test User", SerialNumber: "PNOAZ-1ABC234"},
		NotBefore:    nb, NotAfter: na,
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// testUser is a subscriber with an authentication, a personal, two
// business and a government certificate, all ECDSA with the keys returned.
// The registry files the authentication certificate under its holder's
// type (personal); the API calls it "authentication".
type testUser struct {
	sub  sessions.Subscriber
	keys map[byte]*ecdsa.PrivateKey
}

func newTestUser(t testing.TB) testUser {
	u := testUser{keys: map[byte]*ecdsa.PrivateKey{}}
	u.sub = sessions.Subscriber{Phone: "+994501234567", ICCID: "8999401234567890123", KeyVersion: 1, Operator: "azercell"}
	add := func(ref byte, typ, tax string, nb, na time.Time, status string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		u.keys[ref] = k
		u.sub.Certificates = append(u.sub.Certificates, sessions.Certificate{Type: typ, TaxID: tax, KeyRef: ref,
			DER: makeCert(t, k, nb, na), NotBefore: nb, NotAfter: na, Status: status})
	}
	nb, na := testNow.AddDate(-1, 0, 0), testNow.AddDate(2, 0, 0)
	add(1, sessions.CertPersonal, "", nb, na, sessions.StatusActive)
	add(2, sessions.CertPersonal, "", nb, na, sessions.StatusActive)
	add(3, sessions.CertBusiness, "1234567891", nb, testNow.AddDate(0, 0, 10), sessions.StatusActive)
	add(4, sessions.CertBusiness, "9876543211", nb, testNow.AddDate(0, 0, -1), sessions.StatusActive)
	add(5, sessions.CertGovernment, "1111111111", nb, na, sessions.StatusRevoked)
	return u
}

// newTestServer builds a Server over the fakes with portals p1 and p2.
func newTestServer(t testing.TB, st *fakeStore, snd *fakeSender, ota *fakeOTA, mod ...func(*ServerOptions)) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	opts := ServerOptions{
		Store: st, Sender: snd, OTA: ota, Registerer: reg,
		Portals: []Portal{
			{ID: "p1", DisplayName: "e-taxes", APIKeySHA256: HashAPIKey(key1), CallbackHosts: []string{"portal.example"}, CallbackSecretEnv: "P1_CB", RateLimit: 1000, Burst: 1000},
			{ID: "p2", DisplayName: "bank", APIKeySHA256: HashAPIKey(key2), Operations: []applet.Operation{applet.OpAuthenticate}, RateLimit: 1, Burst: 2},
		},
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		UserTimeout: 30 * time.Second,
		Now:         func() time.Time { return testNow },
		LookupEnv:   func(k string) (string, bool) { return "p1-callback-secret", k == "P1_CB" },
	}
	for _, m := range mod {
		m(&opts)
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(t.Context()) })
	return s, reg
}

// call runs one request against h and decodes the JSON answer.
func call(t testing.TB, h http.Handler, method, path, key, body string, hdr ...string) (*http.Response, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return resp, m
}

// serve runs a prepared request.
func serve(s *Server, req *http.Request) (*http.Response, map[string]any) {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Result(), m
}

// signECDSA signs hash as docs/applet-protocol.md §4 says: r‖s, 32 octets each.
func signECDSA(t testing.TB, k *ecdsa.PrivateKey, hash []byte) []byte {
	r, s, err := ecdsa.Sign(rand.Reader, k, hash)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// metricValue sums the samples of a counter, gauge or histogram (count)
// named name whose labels include the given pairs.
func metricValue(t testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func prometheusRegistry() *prometheus.Registry { return prometheus.NewRegistry() }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
