package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
)

// BenchmarkStartLogin measures the HTTP path of a login start (decode,
// validate, certificate policy, store and sender fakes, JSON answer).
func BenchmarkStartLogin(b *testing.B) {
	u := newTestUser(b)
	st := newMemStore(u)
	st.StartFn = func(_ context.Context, s *Session, _ time.Duration) error {
		s.ID = "00112233445566778899aabbccddeeff"
		return nil
	}
	st.MarkSubmittedFn = func(context.Context, string, []string, time.Time) error { return nil }
	snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { return []string{"m"}, nil }}
	s, _ := newTestServer(b, &st.fakeStore, snd, &fakeOTA{})
	s.userTimeout = 1 << 62                                // no timers in the loop
	s.portals.list[0].bucket = newTokenBucket(1e12, 1<<40) // and no rate limit
	h := s.Handler()
	body := `{"phoneNumber":"+994501234567","userId":"123456","hash":"` + validHash + `","hashType":"SHA256"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/authentications", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key1)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkVerifySignature measures signature verification per algorithm.
func BenchmarkVerifySignature(b *testing.B) {
	u := newTestUser(b)
	hash := sha256.Sum256([]byte("x"))
	ecCert, _ := x509.ParseCertificate(u.sub.Certificates[1].DER)
	ecSig := signECDSA(b, u.keys[2], hash[:])
	edPriv, edDER := edKey(b)
	edCert, _ := x509.ParseCertificate(edDER)
	edSig := edSign(edPriv, hash[:])
	mlPub, mlPriv, _ := mldsa44.GenerateKey(nil)
	mlCert := mldsaCert(b, mlPub)
	mlSig := make([]byte, mldsa44.SignatureSize)
	_ = mldsa44.SignTo(mlPriv, hash[:], nil, false, mlSig)
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		alg  string
		sig  []byte
	}{{"ECDSA_P256", ecCert, SigECDSAP256, ecSig}, {"ED25519", edCert, SigEd25519, edSig}, {"ML_DSA_44", mlCert, SigMLDSA44, mlSig}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := verifySignature(c.cert, c.alg, hash[:], c.sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
