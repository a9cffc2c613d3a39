package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
)

// BenchmarkStartLoginChecked is BenchmarkStartLogin with a checker in
// verify mode whose status comes from a CRL held in process: what the
// certificate checks add to a start once the CRL (or an OCSP answer) is
// held, the common case.
func BenchmarkStartLoginChecked(b *testing.B) {
	var crl []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(crl) }))
	b.Cleanup(srv.Close)
	clock := func() time.Time { return testNow }
	ca, err := testca.New(testca.Options{Name: "Bench Root", Now: clock, CRLDistributionPoint: srv.URL + "/root.crl"})
	if err != nil {
		b.Fatal(err)
	}
	if crl, err = ca.CRLValid(testNow.Add(-time.Minute), testNow.Add(time.Hour)); err != nil {
		b.Fatal(err)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf, err := ca.Issue(testca.Request{Kind: testca.Personal, Usage: testca.Auth, PublicKey: &k.PublicKey,
		Holder: testca.Holder{GivenName: "Leyla", Surname: "Məmmədova", FIN: "5ABC7DE"}})
	if err != nil {
		b.Fatal(err)
	}
	u := testUser{sub: sessions.Subscriber{Phone: "+994501234567", ICCID: "8999401234567890123", KeyVersion: 1, Operator: "azercell",
		Certificates: []sessions.Certificate{{Type: sessions.CertPersonal, KeyRef: applet.KeyRefAuth, DER: leaf.Raw,
			NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter, Status: sessions.StatusActive}}}}
	checker, err := trust.New(trust.Options{RootCertificates: []*x509.Certificate{ca.Certificate()}, OCSP: trust.OCSPOptions{Disabled: true},
		Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	s, reg := startBenchServer(b, u, func(o *ServerOptions) { o.Trust = checker })
	h := s.Handler()
	body := `{"phoneNumber":"+994501234567","userId":"123456","hash":"` + validHash + `","hashType":"SHA256"}`
	start := func() {
		req := httptest.NewRequest("POST", "/v1/authentications", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key1)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	start() // fetches the CRL and verifies the path once
	if got := metricValue(b, reg, "imzagate_certificate_refusals_total"); got != 0 {
		b.Fatalf("%v refusals", got)
	}
	st2, err := checker.Check(context.Background(), trust.Request{Chain: []*x509.Certificate{leaf}, Operation: trust.Authenticate, At: testNow})
	if err != nil || st2.State != trust.StateGood || st2.Source != trust.SourceCRL {
		b.Fatalf("status %s from %q, %v: the benchmark is not of a held CRL", st2.State, st2.Source, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		start()
	}
}
