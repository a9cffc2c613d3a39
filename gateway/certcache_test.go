package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"testing"

	"github.com/imzagate/imzagate/applet"
)

// The cache returns what a fresh parse gives, parses each DER once, keys
// by content (a different certificate is a different entry) and stays
// within two generations however many certificates pass through it.
func TestCertCache(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der := makeCert(t, k, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))
	other := makeCert(t, k, testNow.AddDate(-1, 0, 0), testNow.AddDate(2, 0, 0))
	c := &certCache{cur: map[[32]byte]*parsedCert{}}

	tests := []struct {
		name string
		der  []byte
	}{
		{"first", der},
		{"second certificate", other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := c.get(tt.der)
			want := parseCert(tt.der)
			if p.err != nil || p.subject != want.subject || p.serial != want.serial || p.pem != want.pem || p.subject == "" {
				t.Fatalf("cached %+v; fresh parse %+v", p, want)
			}
			if blk, _ := pem.Decode([]byte(p.pem)); blk == nil || string(blk.Bytes) != string(tt.der) {
				t.Fatal("PEM does not hold the DER")
			}
			// The kept key is the certificate's: it verifies what k signed.
			h := sha256.Sum256([]byte(tt.name))
			if p.keyErr != nil || p.key.SigAlg() != applet.SigECDSAP256 || p.key.Verify(applet.SigECDSAP256, h[:], signECDSA(t, k, h[:])) != nil {
				t.Fatalf("public key %v (%v)", p.key.SigAlg(), p.keyErr)
			}
			if again := c.get(tt.der); again != p {
				t.Fatal("second get parsed again")
			}
		})
	}
	if c.get(der) == c.get(other) {
		t.Fatal("two certificates share an entry")
	}

	// Bad DER is remembered as bad (a specific error, no panic).
	if p := c.get([]byte{0x30, 0x03, 0x02, 0x01}); p.err == nil {
		t.Fatal("truncated DER parsed")
	}

	// Bounded: push three generations of distinct (unparsable) inputs.
	for i := range 3 * certCacheGen {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		c.get(b[:])
	}
	if n := len(c.cur) + len(c.prev); n > 2*certCacheGen {
		t.Fatalf("cache holds %d entries; bound %d", n, 2*certCacheGen)
	}
	// A hit in the previous generation is promoted, so it survives the
	// next turnover.
	var last [8]byte
	binary.BigEndian.PutUint64(last[:], uint64(3*certCacheGen-1))
	p := c.get(last[:])
	for i := range certCacheGen {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(1<<32+i))
		c.get(b[:])
	}
	if c.get(last[:]) != p {
		t.Fatal("recently used entry was evicted")
	}
}

// BenchmarkDescribeCertificate is the per-answer cost of describing a
// certificate once it is cached (the X.509 parse is paid once per DER).
func BenchmarkDescribeCertificate(b *testing.B) {
	u := newTestUser(b)
	c := u.sub.Certificates[0]
	b.ReportAllocs()
	for b.Loop() {
		if DescribeCertificate(c, testNow).Subject == "" {
			b.Fatal("no subject")
		}
	}
}
