package applet

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
)

// selfSigned issues a self-signed certificate for signer's key.
func selfSigned(t testing.TB, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test User"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mldsaCert returns a certificate whose subjectPublicKeyInfo holds an
// ML-DSA-44 key (only the fields the verifier reads), with the given
// algorithm parameters and bit length (0: the key's own).
func mldsaCert(t testing.TB, pub *mldsa44.PublicKey, params asn1.RawValue, bits int) *x509.Certificate {
	t.Helper()
	raw, _ := pub.MarshalBinary()
	if bits == 0 {
		bits = 8 * len(raw)
	}
	spki, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: OIDMLDSA44(), Parameters: params}, asn1.BitString{Bytes: raw, BitLength: bits}})
	if err != nil {
		t.Fatal(err)
	}
	return &x509.Certificate{RawSubjectPublicKeyInfo: spki}
}

// rs signs hash as docs/applet-protocol.md §4 says: r ‖ s, 32 octets each.
func rs(t testing.TB, k *ecdsa.PrivateKey, hash []byte) []byte {
	r, s, err := ecdsa.Sign(rand.Reader, k, hash)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// signedSet is one certificate and a good signature over hash per algorithm.
type signedSet struct {
	hash                   []byte
	ecCert, edCert, mlCert *x509.Certificate
	ecSig, edSig, mlSig    []byte
	mlPub                  *mldsa44.PublicKey
}

func newSignedSet(t testing.TB) signedSet {
	h := sha256.Sum256([]byte("x"))
	s := signedSet{hash: h[:]}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s.ecCert, s.ecSig = selfSigned(t, ec), rs(t, ec, s.hash)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	s.edCert, s.edSig = selfSigned(t, ed), ed25519.Sign(ed, s.hash)
	mlPub, mlPriv, _ := mldsa44.GenerateKey(nil)
	s.mlPub, s.mlCert = mlPub, mldsaCert(t, mlPub, asn1.RawValue{}, 0)
	s.mlSig = make([]byte, mldsa44.SignatureSize)
	if err := mldsa44.SignTo(mlPriv, s.hash, nil, false, s.mlSig); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParsePublicKeyAndVerify(t *testing.T) {
	s := newSignedSet(t)
	flip := func(b []byte) []byte { c := append([]byte(nil), b...); c[len(c)/2] ^= 1; return c }
	tests := []struct {
		name string
		cert *x509.Certificate
		alg  SigAlg
		sig  []byte
		ok   bool
	}{
		{"ecdsa", s.ecCert, SigECDSAP256, s.ecSig, true},
		{"ecdsa flipped", s.ecCert, SigECDSAP256, flip(s.ecSig), false},
		{"ecdsa short", s.ecCert, SigECDSAP256, s.ecSig[:63], false},
		{"ed25519", s.edCert, SigEd25519, s.edSig, true},
		{"ed25519 flipped", s.edCert, SigEd25519, flip(s.edSig), false},
		{"ml-dsa-44", s.mlCert, SigMLDSA44, s.mlSig, true},
		{"ml-dsa-44 flipped", s.mlCert, SigMLDSA44, flip(s.mlSig), false},
		{"algorithm not the key's", s.edCert, SigMLDSA44, s.edSig, false},
		{"ecdsa signature claimed as ed25519", s.ecCert, SigEd25519, s.ecSig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParsePublicKey(tt.cert)
			if err != nil {
				t.Fatal(err)
			}
			err = k.Verify(tt.alg, s.hash, tt.sig)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Fatalf("Verify: %v, want ok=%v", err, tt.ok)
			}
			if err := VerifySignature(tt.cert, tt.alg, s.hash, tt.sig); (err == nil) != tt.ok {
				t.Fatalf("VerifySignature: %v, want ok=%v", err, tt.ok)
			}
		})
	}
	for cert, want := range map[*x509.Certificate]SigAlg{s.ecCert: SigECDSAP256, s.edCert: SigEd25519, s.mlCert: SigMLDSA44} {
		if k, err := ParsePublicKey(cert); err != nil || k.SigAlg() != want {
			t.Fatalf("key algorithm %v %v, want %v", k.SigAlg(), err, want)
		}
	}
	if err := (PublicKey{}).Verify(SigECDSAP256, s.hash, s.ecSig); !errors.Is(err, ErrSignature) {
		t.Fatalf("zero key verified: %v", err)
	}
}

// TestParsePublicKeyRejects: keys outside the applet's algorithms, and
// ML-DSA-44 keys encoded other than RFC 9881 says, are refused when the
// certificate is read, not when a reply arrives.
func TestParsePublicKeyRejects(t *testing.T) {
	s := newSignedSet(t)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	null, _ := asn1.Marshal(asn1.NullRawValue)
	tests := []struct {
		name string
		cert *x509.Certificate
	}{
		{"ECDSA on P-384", selfSigned(t, p384)},
		{"ML-DSA-44 with parameters", mldsaCert(t, s.mlPub, asn1.RawValue{FullBytes: null}, 0)},
		{"ML-DSA-44 key one bit short", mldsaCert(t, s.mlPub, asn1.RawValue{}, 8*mldsa44.PublicKeySize-1)},
		{"no key at all", &x509.Certificate{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := ParsePublicKey(tt.cert); !errors.Is(err, ErrSignature) {
				t.Fatalf("parsed as %v: %v", k.SigAlg(), err)
			}
		})
	}
}

// TestAlgorithmNames: String gives the portal API's names and the Parse
// functions read them back, exactly (no other case, no other spelling).
func TestAlgorithmNames(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{SigECDSAP256.String(), "ECDSA_P256"}, {SigEd25519.String(), "ED25519"}, {SigMLDSA44.String(), "ML_DSA_44"},
		{HashSHA256.String(), "SHA256"}, {HashSHA384.String(), "SHA384"}, {HashSHA512.String(), "SHA512"},
		{OpAuthenticate.String(), "AUTHENTICATE"}, {OpSign.String(), "SIGN"},
	} {
		if tt.got != tt.want {
			t.Errorf("name %q, want %q", tt.got, tt.want)
		}
	}
	for _, h := range []HashAlg{HashSHA256, HashSHA384, HashSHA512} {
		if got, err := ParseHashAlg(h.String()); err != nil || got != h {
			t.Errorf("ParseHashAlg(%q) = %v, %v", h, got, err)
		}
	}
	for _, o := range []Operation{OpAuthenticate, OpSign} {
		var got Operation
		if err := got.UnmarshalText([]byte(o.String())); err != nil || got != o {
			t.Errorf("UnmarshalText(%q) = %v, %v", o, got, err)
		}
	}
	for _, bad := range []string{"", "sha256", "SHA-256", "MD5"} {
		if _, err := ParseHashAlg(bad); !errors.Is(err, ErrValue) {
			t.Errorf("ParseHashAlg(%q): %v", bad, err)
		}
	}
	for _, bad := range []string{"", "sign", "LOGIN"} {
		if _, err := ParseOperation(bad); !errors.Is(err, ErrValue) {
			t.Errorf("ParseOperation(%q): %v", bad, err)
		}
	}
}

// BenchmarkVerify measures reply verification per algorithm with the key
// parsed once, as the gateway's certificate cache holds it.
func BenchmarkVerify(b *testing.B) {
	s := newSignedSet(b)
	for _, c := range []struct {
		cert *x509.Certificate
		alg  SigAlg
		sig  []byte
	}{{s.ecCert, SigECDSAP256, s.ecSig}, {s.edCert, SigEd25519, s.edSig}, {s.mlCert, SigMLDSA44, s.mlSig}} {
		k, err := ParsePublicKey(c.cert)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.alg.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := k.Verify(c.alg, s.hash, c.sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
