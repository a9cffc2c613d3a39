package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet"
)

// TestPortalClientCertificate checks a portal bound to a client
// certificate: its key alone is not enough over plain HTTP or with another
// certificate.
func TestPortalClientCertificate(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der := makeCert(t, k, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))
	other := makeCert(t, k, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 1))
	fp := sha256.Sum256(der)
	p := Portal{ID: "mtls", APIKeySHA256: HashAPIKey("k"), ClientCertSHA256: hex.EncodeToString(fp[:])}
	if err := p.init(nil); err != nil {
		t.Fatal(err)
	}
	ps := portals{list: []*Portal{&p}}
	cert := func(d []byte) *tls.ConnectionState {
		c, _ := x509.ParseCertificate(d)
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}}
	}
	tests := []struct {
		name string
		key  string
		tls  *tls.ConnectionState
		ok   bool
	}{
		{"key and certificate", "k", cert(der), true},
		{"key without TLS", "k", nil, false},
		{"key with another certificate", "k", cert(other), false},
		{"certificate with a wrong key", "x", cert(der), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/certificates", nil)
			r.Header.Set("Authorization", "Bearer "+tt.key)
			r.TLS = tt.tls
			got, err := ps.authenticate(r)
			if (err == nil) != tt.ok || (tt.ok && got != &p) {
				t.Fatalf("portal %v err %v", got, err)
			}
		})
	}
}

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(2, 3)
	now := testNow
	for i := range 3 {
		if ok, _ := b.take(now); !ok {
			t.Fatalf("burst token %d refused", i)
		}
	}
	ok, wait := b.take(now)
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("empty bucket: ok=%v wait=%v", ok, wait)
	}
	if ok, _ := b.take(now.Add(500 * time.Millisecond)); !ok {
		t.Fatal("refill refused")
	}
}

func TestPortalConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		p    Portal
	}{
		{"empty id", Portal{APIKeySHA256: HashAPIKey("k")}},
		{"id with space", Portal{ID: "a b", APIKeySHA256: HashAPIKey("k")}},
		{"key not hex", Portal{ID: "a", APIKeySHA256: "zz"}},
		{"key hash short", Portal{ID: "a", APIKeySHA256: "abcd"}},
		{"unknown operation", Portal{ID: "a", APIKeySHA256: HashAPIKey("k"), Operations: []applet.Operation{0x07}}},
		{"negative rate", Portal{ID: "a", APIKeySHA256: HashAPIKey("k"), RateLimit: -1}},
		{"missing callback secret", Portal{ID: "a", APIKeySHA256: HashAPIKey("k"), CallbackSecretEnv: "NOPE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.init(func(string) (string, bool) { return "", false }); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
