package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
)

func TestRevocationPolicyResolution(t *testing.T) {
	hard, soft := trust.PolicyHardFail, trust.PolicySoftFail
	for _, tt := range []struct {
		name     string
		portal   trust.Policy
		defaults RevocationPolicy
		op       applet.Operation
		want     trust.Policy
	}{
		{"nothing set: trust decides by operation", trust.PolicyDefault, RevocationPolicy{}, applet.OpSign, trust.PolicyDefault},
		{"operation default for logins", trust.PolicyDefault, RevocationPolicy{Authenticate: hard}, applet.OpAuthenticate, hard},
		{"operation default for signatures", trust.PolicyDefault, RevocationPolicy{Authenticate: hard, Sign: soft}, applet.OpSign, soft},
		{"the portal's policy wins", soft, RevocationPolicy{Sign: hard}, applet.OpSign, soft},
	} {
		cc := &certChecker{defaults: tt.defaults}
		if got := cc.policy(&Portal{revocation: tt.portal}, tt.op); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	if got := (&certChecker{defaults: RevocationPolicy{Sign: soft}}).policy(nil, applet.OpSign); got != soft {
		t.Errorf("a portal no longer configured: %v", got)
	}
}

// caUser is a subscriber whose certificates a test CA issued: the login
// certificate, a personal and a business signing certificate, and a
// business one of another CA. None names a responder or a CRL, so every
// revocation status is unknown.
func caUser(t *testing.T) (testUser, *testca.CA) {
	t.Helper()
	clock := func() time.Time { return testNow }
	ca, err := testca.New(testca.Options{Name: "Unit Root", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	other, err := testca.New(testca.Options{Name: "Other Root", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	u := testUser{keys: map[byte]*ecdsa.PrivateKey{}}
	u.sub = sessions.Subscriber{Phone: "+994501234567", ICCID: "8999401234567890123", KeyVersion: 1, Operator: "azercell"}
	add := func(issuer *testca.CA, ref byte, kind testca.Kind, usage testca.Usage, voen string) {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		u.keys[ref] = k
		c, err := issuer.Issue(testca.Request{Kind: kind, Usage: usage, PublicKey: &k.PublicKey,
			Holder: testca.Holder{GivenName: "Leyla", Surname: "Məmmədova", FIN: "5ABC7DE", Organization: "Xəzər MMC", VOEN: voen}})
		if err != nil {
			t.Fatal(err)
		}
		u.sub.Certificates = append(u.sub.Certificates, sessions.Certificate{Type: kind.String(), TaxID: voen, KeyRef: ref,
			DER: c.Raw, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Status: sessions.StatusActive})
	}
	add(ca, applet.KeyRefAuth, testca.Personal, testca.Auth, "")
	add(ca, 0x02, testca.Personal, testca.Sign, "")
	add(ca, 0x03, testca.Business, testca.Sign, "1234567891")
	add(other, 0x04, testca.Business, testca.Sign, "2222222222")
	return u, ca
}

// recordingStore is a memStore whose Complete keeps the certificate status.
type recordingStore struct {
	*memStore
	mu       sync.Mutex
	statuses map[string]*sessions.CertificateStatus
}

func newRecordingStore(u testUser) *recordingStore {
	rs := &recordingStore{memStore: newMemStore(u), statuses: map[string]*sessions.CertificateStatus{}}
	complete := rs.CompleteFn
	rs.CompleteFn = func(ctx context.Context, id string, r sessions.Result) (sessions.Session, error) {
		rs.mu.Lock()
		rs.statuses[id] = r.CertStatus
		rs.mu.Unlock()
		return complete(ctx, id, r)
	}
	return rs
}

// TestStartWithTrust: the start flow with a checker whose CA publishes no
// status: the in-memory refusals start no session; SIGN's hard-fail
// completes the started session with the refusal and its status and
// sends nothing; a login (soft-fail) goes on; a portal's policy wins.
func TestStartWithTrust(t *testing.T) {
	u, ca := caUser(t)
	st := newRecordingStore(u)
	submits := 0
	snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { submits++; return []string{"m"}, nil }}
	checker, err := trust.New(trust.Options{RootCertificates: []*x509.Certificate{ca.Certificate()}})
	if err != nil {
		t.Fatal(err)
	}
	s, reg := newTestServer(t, &st.fakeStore, snd, &fakeOTA{SealFn: func(string, uint64, *applet.Command, byte) ([][]byte, error) { return [][]byte{{1}}, nil }},
		func(o *ServerOptions) {
			o.Trust = checker
			o.Portals = append(o.Portals, Portal{ID: "lenient", APIKeySHA256: HashAPIKey("key-lenient"), RevocationPolicy: "soft-fail", RateLimit: 100, Burst: 100})
		})
	sign := func(cert string) string { return body("0501234567", "123456", `,"certificate":`+cert) }

	resp, m := call(t, s.Handler(), "POST", "/v1/signatures", key1, sign(`{"type":"business","taxId":"2222222222"}`))
	if resp.StatusCode != http.StatusUnprocessableEntity || m["code"] != CodeCertificateUntrusted || len(st.sessions) != 0 {
		t.Fatalf("another CA's certificate: %d %v, %d sessions", resp.StatusCode, m, len(st.sessions))
	}
	for i := range 2 { // the same Idempotency-Key gets the same answer
		resp, m = call(t, s.Handler(), "POST", "/v1/signatures", key1, sign(`{"type":"personal"}`), "Idempotency-Key", "k")
		if resp.StatusCode != http.StatusServiceUnavailable || m["code"] != CodeCertificateStatusUnknown || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("hard-fail signature, attempt %d: %d %v", i, resp.StatusCode, m)
		}
	}
	sess := st.only(t)
	cs := st.statuses[sess.ID]
	if sess.State != sessions.StateComplete || sess.Result != CodeCertificateStatusUnknown || submits != 0 ||
		cs == nil || cs.Status != sessions.CertStatusUnknown || cs.Source != "" || len(cs.Chain) != 2 || !cs.CheckedAt.Equal(testNow) {
		t.Fatalf("refused session %+v, status %+v, %d submits", sess, cs, submits)
	}
	if got := metricValue(t, reg, "imzagate_certificate_refusals_total", "stage", "start", "code", CodeCertificateStatusUnknown); got != 1 {
		t.Fatalf("refusals counted %v", got)
	}
	if got := metricValue(t, reg, "imzagate_trust_mode", "mode", "verify"); got != 1 {
		t.Fatalf("mode gauge %v", got)
	}
	resp, m = call(t, s.Handler(), "POST", "/v1/signatures", "key-lenient", sign(`{"type":"business","taxId":"1234567891"}`))
	if resp.StatusCode != http.StatusCreated || submits != 1 {
		t.Fatalf("soft-fail portal: %d %v", resp.StatusCode, m)
	}
	resp, m = call(t, s.Handler(), "GET", "/v1/certificates?phoneNumber=994501234567&userId=123456", key1, "")
	if resp.StatusCode != 200 {
		t.Fatalf("certificates: %d %v", resp.StatusCode, m)
	}
	refusals := map[string]any{}
	for _, c := range m["certificates"].([]any) {
		c := c.(map[string]any)
		refusals[c["type"].(string)+"/"+str(c["taxId"])] = c["refusal"]
	}
	want := map[string]any{"authentication/": nil, "personal/": CodeCertificateStatusUnknown,
		"business/1234567891": CodeCertificateStatusUnknown, "business/2222222222": CodeCertificateUntrusted}
	for k, v := range want {
		if refusals[k] != v {
			t.Fatalf("refusals %v, want %v", refusals, want)
		}
	}
}

// TestViewRecordedStatus: what a portal reads of a status recorded with a
// result (docs/trust.md §5): the revocation object and the chain on the
// certificate used, revoked reflected in status; a refusal at reply time
// shows the certificate but no signature and no list; the certificate
// checked is shown even when the registry holds a renewed one.
func TestViewRecordedStatus(t *testing.T) {
	u, ca := caUser(t)
	v := &viewer{store: &fakeStore{}, now: func() time.Time { return testNow }}
	leaf := u.sub.Certificates[1]
	chain := [][]byte{leaf.DER, ca.Certificate().Raw}
	revokedAt := testNow.Add(-time.Hour)
	sess := sessions.Session{ID: "s", State: sessions.StateComplete, Operation: sessions.OpSign, KeyRef: 0x02,
		Result: CodeCertificateRevoked, Completed: testNow,
		CertStatus: &sessions.CertificateStatus{Status: sessions.CertStatusRevoked, Source: sessions.CertSourceCRL,
			CheckedAt: testNow, RevokedAt: revokedAt, Reason: 1, Chain: chain}}
	j := v.session(context.Background(), sess, &u.sub)
	b, _ := json.Marshal(j)
	var got map[string]any
	_ = json.Unmarshal(b, &got)
	c, _ := got["certificate"].(map[string]any)
	r, _ := c["revocation"].(map[string]any)
	if got["signature"] != nil || got["certificates"] != nil || c["status"] != "revoked" || c["renewalOpen"] != false ||
		r["status"] != "revoked" || r["source"] != "crl" || r["reason"] != "keyCompromise" ||
		r["revokedAt"] != revokedAt.Format(time.RFC3339) || r["checkedAt"] != testNow.Format(time.RFC3339) {
		t.Fatalf("refused at reply: %s", b)
	}
	if ch, _ := c["chain"].([]any); len(ch) != 2 || ch[1] != certs.get(ca.Certificate().Raw).pem || c["pem"] != ch[0] {
		t.Fatalf("chain %v", c["chain"])
	}
	// OK with a good status, the registry holding a renewed certificate.
	renewed := u.sub
	renewed.Certificates = append([]sessions.Certificate(nil), u.sub.Certificates...)
	renewed.Certificates[1].DER = u.sub.Certificates[2].DER
	sess.Result, sess.SigAlg, sess.Signature = sessions.ResultOK, "ECDSA_P256", []byte{1}
	sess.CertStatus = &sessions.CertificateStatus{Status: sessions.CertStatusGood, Source: sessions.CertSourceOCSP, CheckedAt: testNow, Chain: chain}
	j = v.session(context.Background(), sess, &renewed)
	if j.Signature == nil || j.Certificate == nil || j.Certificate.PEM != certs.get(leaf.DER).pem || j.Certificate.Status != "active" ||
		j.Certificate.Revocation.Status != "good" || j.Certificate.Revocation.RevokedAt != nil || j.Certificate.Revocation.Reason != "" {
		t.Fatalf("OK with a renewed registry entry: %+v", j.Certificate)
	}
	// A result the check did not decide has no certificate.
	sess.Result, sess.CertStatus = sessions.ResultUserCancelled, nil
	if j = v.session(context.Background(), sess, &u.sub); j.Certificate != nil {
		t.Fatal("a cancelled session shows a certificate")
	}
	if !strings.Contains(string(b), `"revocation":{"status":"revoked","source":"crl","checkedAt":`) {
		t.Fatalf("JSON shape: %s", b)
	}
}
