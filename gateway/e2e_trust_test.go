package gateway_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/gateway/trust/trusttest"
	"github.com/imzagate/imzagate/internal/simstack"
	"github.com/imzagate/imzagate/internal/testutil"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// trustEnv is the end-to-end system of startEnv whose cards' certificates
// come from a trusttest world: root → issuing CA, a real `openssl ocsp`
// responder with a delegated responder certificate, CRLs on loopback HTTP.
type trustEnv struct {
	*env
	w *trusttest.World
}

func startTrustEnv(t *testing.T, mods ...func(*gateway.Options)) *trustEnv {
	t.Helper()
	trusttest.RequireOpenSSL(t)
	w := trusttest.New(t)
	now := time.Now()
	w.PublishCRL(now.Add(-time.Minute), now.Add(time.Hour))
	opts := []envOption{withCA(w.Inter), withGateway(func(o *gateway.Options) {
		o.Trust = trust.Options{Roots: []string{w.RootFile}, Intermediates: []string{w.InterFile},
			OCSP: trust.OCSPOptions{Timeout: 5 * time.Second},
			CRL:  trust.CRLOptions{RefreshInterval: 100 * time.Millisecond, Timeout: 5 * time.Second}}
	})}
	for _, m := range mods {
		opts = append(opts, withGateway(m))
	}
	e := startEnv(t, opts...)
	// The responder starts once the farm's certificates exist, so its
	// database (the issuing CA's index) knows them all.
	rc, rk := w.DelegatedResponder(true)
	w.StartResponder(rc, rk, 10)
	return &trustEnv{env: e, w: w}
}

// cert returns the certificate of a card's key reference.
func (te *trustEnv) cert(t *testing.T, card int, ref byte) *x509.Certificate {
	t.Helper()
	for _, c := range te.records[card].Certificates {
		if c.KeyRef == ref {
			x, err := x509.ParseCertificate(c.DER)
			if err != nil {
				t.Fatal(err)
			}
			return x
		}
	}
	t.Fatalf("card %d has no key %02x", card, ref)
	return nil
}

// reprovision replaces, in the registry only, the certificate of a card's
// key reference, with the registry's validity dates nb..na: the start is
// refused before the card is ever asked, so the card's key does not matter.
func (te *trustEnv) reprovision(t *testing.T, card int, ref byte, c *x509.Certificate, nb, na time.Time) {
	t.Helper()
	rec := te.records[card]
	sub, err := simstack.Entry(rec, "azercell")
	if err != nil {
		t.Fatal(err)
	}
	for i := range sub.Certificates {
		if sub.Certificates[i].KeyRef == ref {
			sub.Certificates[i].DER, sub.Certificates[i].NotBefore, sub.Certificates[i].NotAfter = c.Raw, nb, na
		}
	}
	if err := te.gw.Store().PutSubscriber(t.Context(), sub, rec.UserID); err != nil {
		t.Fatal(err)
	}
}

// republish serves the issuing CA's CRL as it is now, valid until next,
// and waits until the gateway has fetched it.
func (te *trustEnv) republish(t *testing.T, next time.Time) {
	t.Helper()
	te.w.PublishCRL(time.Now().Add(-time.Minute), next)
	before := te.w.CRLHits.Load()
	trusttest.Eventually(t, 10*time.Second, "the gateway fetches the new CRL", func() bool { return te.w.CRLHits.Load() >= before+2 })
}

// start posts a start and returns the status code and body.
func (te *trustEnv) start(t *testing.T, portal, path string, card int, sel map[string]any) (int, map[string]any) {
	t.Helper()
	st, m, _ := te.do(t, portal, "POST", path, te.startReq(card, "SHA256", sel))
	return st, m
}

var personal = map[string]any{"type": "personal"}

// checkRevocation asserts a certificate object's recorded status.
func checkRevocation(t *testing.T, cert any, status, source string, chainLen int) map[string]any {
	t.Helper()
	c, _ := cert.(map[string]any)
	r, _ := c["revocation"].(map[string]any)
	if r == nil || r["status"] != status || (source != "" && r["source"] != source) || (source == "" && r["source"] != nil) {
		t.Fatalf("revocation %v, want %s from %q", r, status, source)
	}
	if _, err := time.Parse(time.RFC3339, r["checkedAt"].(string)); err != nil {
		t.Fatalf("checkedAt %v: %v", r["checkedAt"], err)
	}
	chain, _ := c["chain"].([]any)
	if len(chain) != chainLen {
		t.Fatalf("chain of %d certificates, want %d", len(chain), chainLen)
	}
	return r
}

// pemOf is a certificate as PEM, to compare with a chain entry.
func pemOf(c *x509.Certificate) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
}

// TestEndToEndTrust runs the certificate checks through the real system
// (HTTP → gateway → redis-server → SMPP → test SMSC → simulated SIM) with
// a real CA hierarchy, `openssl ocsp` and CRLs over loopback HTTP: first
// with a fresh CRL and the responder up, then with no fresh CRL, the
// responder down, and a responder signing with the wrong key.
func TestEndToEndTrust(t *testing.T) {
	te := startTrustEnv(t, func(o *gateway.Options) {
		o.Server.Portals[1].RevocationPolicy = "hard-fail" // p2: logins too refuse without a status
	})
	w := te.w
	t.Run("good certificate: OK with status good from OCSP", func(t *testing.T) {
		st, m := te.start(t, "p1", "/v1/signatures", cardECDSA, personal)
		if st != 201 {
			t.Fatalf("start: %d %v", st, m)
		}
		got := te.finish(t, "p1", m["sessionId"].(string))
		if got["result"] != sessions.ResultOK || got["signature"] == nil {
			t.Fatalf("result %v", got["result"])
		}
		checkRevocation(t, got["certificate"], "good", "ocsp", 3)
		chain := got["certificate"].(map[string]any)["chain"].([]any)
		if chain[0] != pemOf(te.cert(t, cardECDSA, 0x02)) || chain[1] != pemOf(w.Inter.Certificate()) || chain[2] != pemOf(w.Root.Certificate()) {
			t.Fatal("chain is not leaf, issuing CA, root")
		}
		// The login's answer carries the authentication certificate's status.
		st, m = te.start(t, "p1", "/v1/authentications", cardECDSA, nil)
		if st != 201 {
			t.Fatalf("login: %d %v", st, m)
		}
		got = te.finish(t, "p1", m["sessionId"].(string))
		checkRevocation(t, got["certificate"], "good", "ocsp", 3)
		// GET /v1/certificates checks every certificate as a start would.
		st, list, _ := te.do(t, "p1", "GET", "/v1/certificates?phoneNumber=%2B"+te.records[cardECDSA].MSISDN+"&userId="+te.records[cardECDSA].UserID, nil)
		if st != 200 {
			t.Fatalf("certificates: %d %v", st, list)
		}
		for _, c := range list["certificates"].([]any) {
			checkRevocation(t, c, "good", "ocsp", 3)
			if c.(map[string]any)["refusal"] != nil {
				t.Fatalf("a good certificate named a refusal: %v", c.(map[string]any)["refusal"])
			}
		}
	})
	t.Run("revoked in the CRL: refused at start", func(t *testing.T) {
		c := te.cert(t, cardEd25519, 0x03)
		w.Inter.RevokeWithReason(c.SerialNumber, time.Now().Add(-time.Hour).Truncate(time.Second), 1)
		te.republish(t, time.Now().Add(time.Hour))
		sel := map[string]any{"type": "business", "taxId": bizVOEN}
		for i := range 2 { // the same Idempotency-Key gets the same answer
			st, m, _ := te.do(t, "p1", "POST", "/v1/signatures", te.startReq(cardEd25519, "SHA512", sel), "Idempotency-Key", "revoked-1")
			if st != 422 || m["code"] != gateway.CodeCertificateRevoked {
				t.Fatalf("attempt %d: %d %v", i, st, m)
			}
		}
	})
	t.Run("revoked while the user types the PIN: CERTIFICATE_REVOKED", func(t *testing.T) {
		te.farm.Card(cardMLDSA).SetBehaviour(simcard.Behaviour{Action: simcard.Approve, Delay: 3 * time.Second})
		st, m := te.start(t, "p1", "/v1/signatures", cardMLDSA, personal)
		if st != 201 {
			t.Fatalf("start: %d %v", st, m)
		}
		c := te.cert(t, cardMLDSA, 0x02)
		revokedAt := time.Now().Truncate(time.Second)
		w.Inter.RevokeWithReason(c.SerialNumber, revokedAt, 1)
		te.republish(t, time.Now().Add(time.Hour))
		got := te.finish(t, "p1", m["sessionId"].(string))
		if got["result"] != gateway.CodeCertificateRevoked || got["signature"] != nil {
			t.Fatalf("result %v, signature %v", got["result"], got["signature"] != nil)
		}
		r := checkRevocation(t, got["certificate"], "revoked", "crl", 3)
		if r["reason"] != "keyCompromise" || r["revokedAt"] != revokedAt.UTC().Format(time.RFC3339) {
			t.Fatalf("revocation %v", r)
		}
		if got["certificate"].(map[string]any)["status"] != sessions.StatusRevoked {
			t.Fatalf("certificate status %v", got["certificate"].(map[string]any)["status"])
		}
	})
	t.Run("revoked in the registry while the user types the PIN", func(t *testing.T) {
		te.farm.Card(cardPINBlock).SetBehaviour(simcard.Behaviour{Action: simcard.Approve, Delay: 2 * time.Second})
		st, m := te.start(t, "p1", "/v1/signatures", cardPINBlock, personal)
		if st != 201 {
			t.Fatalf("start: %d %v", st, m)
		}
		rec := te.records[cardPINBlock]
		sub, err := simstack.Entry(rec, "azercell")
		if err != nil {
			t.Fatal(err)
		}
		for i := range sub.Certificates {
			if sub.Certificates[i].KeyRef == 0x02 {
				sub.Certificates[i].Status = sessions.StatusRevoked
			}
		}
		if err := te.gw.Store().PutSubscriber(t.Context(), sub, rec.UserID); err != nil {
			t.Fatal(err)
		}
		got := te.finish(t, "p1", m["sessionId"].(string))
		if got["result"] != gateway.CodeCertificateRevoked || got["signature"] != nil {
			t.Fatalf("result %v", got["result"])
		}
		checkRevocation(t, got["certificate"], "revoked", "provisioned", 3)
	})
	t.Run("refused at start", func(t *testing.T) {
		other := trusttest.Issue(t, w.OtherInter, testca.Personal, testca.Sign, false)
		te.reprovision(t, cardOtherPortal, 0x02, other, other.NotBefore, other.NotAfter)
		loginOnly := trusttest.Issue(t, w.Inter, testca.Personal, testca.Auth, false)
		te.reprovision(t, cardLockout, 0x02, loginOnly, loginOnly.NotBefore, loginOnly.NotAfter)
		expired := trusttest.Issue(t, w.Inter, testca.Personal, testca.Sign, true)
		te.reprovision(t, cardAbsent, 0x02, expired, time.Now().AddDate(-1, 0, 0), time.Now().AddDate(1, 0, 0))
		company := trusttest.Issue(t, w.Inter, testca.Business, testca.Sign, false)
		te.reprovision(t, cardBadChecksum, 0x02, company, company.NotBefore, company.NotAfter)
		for _, tt := range []struct {
			name   string
			card   int
			sel    map[string]any
			status int
			code   string
		}{
			{"a second, unconfigured root", cardOtherPortal, personal, 422, gateway.CodeCertificateUntrusted},
			{"key usage of a login certificate for a signature", cardLockout, personal, 422, gateway.CodeCertificateKeyUsage},
			{"X.509 expired though the registry says valid", cardAbsent, personal, 422, gateway.CodeCertificateExpired},
			{"expired in the registry", cardExpired, map[string]any{"type": "business", "taxId": expiredVOEN}, 422, gateway.CodeCertificateExpired},
			{"a company's certificate in the personal slot", cardBadChecksum, personal, 422, gateway.CodeCertificateSubjectMismatch},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if st, m := te.start(t, "p1", "/v1/signatures", tt.card, tt.sel); st != tt.status || m["code"] != tt.code {
					t.Fatalf("%d %v, want %d %s", st, m, tt.status, tt.code)
				}
			})
		}
	})

	// From here on no CRL is fresh: the last one published expires in two
	// seconds and none follows.
	next := time.Now().Add(2 * time.Second)
	te.republish(t, next)
	w.CRL.Store(nil)
	time.Sleep(time.Until(next) + 200*time.Millisecond)

	t.Run("responder down", func(t *testing.T) {
		w.StopResponder()
		// SIGN is hard-fail: refused, the session never sent.
		if st, m := te.start(t, "p1", "/v1/signatures", cardKeyMismatch, personal); st != 503 || m["code"] != gateway.CodeCertificateStatusUnknown {
			t.Fatalf("hard-fail sign: %d %v", st, m)
		}
		// AUTHENTICATE is soft-fail: OK, with status unknown recorded.
		st, m := te.start(t, "p1", "/v1/authentications", cardCallback, nil)
		if st != 201 {
			t.Fatalf("soft-fail login: %d %v", st, m)
		}
		got := te.finish(t, "p1", m["sessionId"].(string))
		if got["result"] != sessions.ResultOK {
			t.Fatalf("soft-fail login result %v", got["result"])
		}
		checkRevocation(t, got["certificate"], "unknown", "", 3)
		// Portal p2 chose hard-fail for its logins.
		if st, m := te.start(t, "p2", "/v1/authentications", cardCancel, nil); st != 503 || m["code"] != gateway.CodeCertificateStatusUnknown {
			t.Fatalf("p2's hard-fail login: %d %v", st, m)
		}
	})
	t.Run("an OCSP response signed by the wrong key counts as no status", func(t *testing.T) {
		rc, rk, err := w.OtherInter.IssueResponder("Forger", true)
		if err != nil {
			t.Fatal(err)
		}
		w.StartResponder(rc, rk, 10)
		hits := w.OCSPHits.Load()
		st, m := te.start(t, "p1", "/v1/authentications", cardWrongOnce, nil)
		if st != 201 {
			t.Fatalf("soft-fail login: %d %v", st, m)
		}
		got := te.finish(t, "p1", m["sessionId"].(string))
		if got["result"] != sessions.ResultOK {
			t.Fatalf("soft-fail login result %v", got["result"])
		}
		checkRevocation(t, got["certificate"], "unknown", "", 3)
		if st, m := te.start(t, "p1", "/v1/signatures", cardWrongOnce, personal); st != 503 || m["code"] != gateway.CodeCertificateStatusUnknown {
			t.Fatalf("hard-fail sign: %d %v", st, m)
		}
		if w.OCSPHits.Load() <= hits {
			t.Fatal("the forged responder was never asked")
		}
		if v, _ := sample(te.scrape(t), `imzagate_trust_ocsp_responses_total{outcome="bad_signature"}`); v < 1 {
			t.Fatalf("bad_signature outcomes %v", v)
		}
	})
	t.Run("metrics", func(t *testing.T) {
		if logs := te.logs.String(); !strings.Contains(logs, `"msg":"certificate refused at reply","component":"gateway"`) ||
			!strings.Contains(logs, `"code":"CERTIFICATE_UNTRUSTED","err":"trust: CERTIFICATE_UNTRUSTED: no path to a configured root`) {
			t.Error("the refusals' reasons are not in the log")
		}
		text := te.scrape(t)
		for series, min := range map[string]float64{
			`imzagate_certificate_refusals_total{code="CERTIFICATE_REVOKED",stage="start"}`:        1,
			`imzagate_certificate_refusals_total{code="CERTIFICATE_REVOKED",stage="reply"}`:        2,
			`imzagate_certificate_refusals_total{code="CERTIFICATE_UNTRUSTED",stage="start"}`:      1,
			`imzagate_certificate_refusals_total{code="CERTIFICATE_STATUS_UNKNOWN",stage="start"}`: 3,
			`imzagate_sessions_completed_total{result="CERTIFICATE_REVOKED"}`:                      3,
			`imzagate_trust_mode{mode="verify"}`:                                                   1,
			`imzagate_trust_status_results_total{source="ocsp",status="good"}`:                     1,
			`imzagate_trust_status_results_total{source="crl",status="revoked"}`:                   1,
		} {
			if v, ok := sample(text, series); !ok || v < min {
				t.Errorf("%s = %v (found %v), want ≥ %v", series, v, ok, min)
			}
		}
	})
}

// TestEndToEndKeyVersions: cards personalised with MT key version 4 and MO
// key version 7, and a gateway configured the same, log in and sign; a
// gateway that expects the default MO version refuses the replies.
func TestEndToEndKeyVersions(t *testing.T) {
	v := applet.KeyVersions{MT: 4, MO: 7}
	e := startEnv(t, withKeyVersions(v))
	for _, path := range []string{"/v1/authentications", "/v1/signatures"} {
		var sel map[string]any
		if path == "/v1/signatures" {
			sel = personal
		}
		st, m, _ := e.do(t, "p1", "POST", path, e.startReq(cardECDSA, "SHA256", sel))
		if st != 201 {
			t.Fatalf("%s: %d %v", path, st, m)
		}
		if got := e.finish(t, "p1", m["sessionId"].(string)); got["result"] != sessions.ResultOK {
			t.Fatalf("%s with key versions %+v: %v", path, v, got["result"])
		}
	}
	mismatch := startEnv(t, withKeyVersions(v), withGateway(func(o *gateway.Options) { o.OTAKeyVersions.MO = 2 }))
	st, m, _ := mismatch.do(t, "p1", "POST", "/v1/authentications", mismatch.startReq(cardECDSA, "SHA256", nil))
	if st != 201 {
		t.Fatalf("start: %d %v", st, m)
	}
	// The reply does not open under the keys the gateway expects: it is
	// refused and counted, and it settles nothing (only an authenticated
	// reply may), so the session is still running.
	testutil.Eventually(t, 5*time.Second, "the reply under MO key version 7 is refused as mis-keyed", func() bool {
		return metricSum(t, mismatch.registry, "imzagate_ota_errors_total", "keys") >= 1
	})
	if st, got, _ := mismatch.do(t, "p1", "GET", "/v1/sessions/"+m["sessionId"].(string), nil); st != 200 || got["state"] != sessions.StateRunning {
		t.Fatalf("MO key version 7 against a gateway expecting 2: %d %v", st, got)
	}
}

// rtHook counts a gateway's calls to the shared OCSP cache (keys "o:…",
// one command and so one round trip each).
type rtHook struct {
	ocsp atomic.Int64
}

func (h *rtHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *rtHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(cmd)
		return next(ctx, cmd)
	}
}

func (h *rtHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.count(c)
		}
		return next(ctx, cmds)
	}
}

func (h *rtHook) count(cmd redis.Cmder) {
	if args := cmd.Args(); len(args) > 1 {
		if k, _ := args[1].(string); strings.HasPrefix(k, "o:") {
			h.ocsp.Add(1)
		}
	}
}

// TestTrustRoundTrips: the status of a certificate costs no Redis round
// trip when this instance holds the OCSP answer, and exactly one (the
// shared cache's GET) on another instance that does not yet: two gateways
// on one redis-server, the responder asked once for all. The checker's
// only Redis calls are the cache's (keys o:…, one command each), so they
// are what is counted: the whole start's round trips also take in the
// delivery receipts the instance handles meanwhile, and are only logged.
func TestTrustRoundTrips(t *testing.T) {
	redistest.RequireBinaries(t)
	trusttest.RequireOpenSSL(t)
	w := trusttest.New(t)
	srv := redistest.Start(t)
	to := trust.Options{Roots: []string{w.RootFile}, Intermediates: []string{w.InterFile}, CRL: trust.CRLOptions{Disabled: true}}
	st := startStack(t, multiInstance(simstack.Options{
		Redis: simstack.Redis{Addrs: []string{srv.Addr}},
		SIMs:  1, Seed: "round trips", Prefixes: []string{"99450"}, CA: w.Inter,
		Behaviour: func(int) simcard.Behaviour {
			return simcard.Behaviour{Action: simcard.Approve, Delay: 20 * time.Millisecond}
		},
		Pepper: bytes.Repeat([]byte{5}, 32), ShutdownTimeout: 5 * time.Second,
		Server:    gateway.ServerOptions{UserTimeout: 10 * time.Second, DeliveryGrace: 20 * time.Second},
		Gateway:   func(o *gateway.Options) { o.Trust = to },
		SimLogger: testLogger(t),
	}))
	ha, hb := &rtHook{}, &rtHook{}
	a, _ := startInstance(t, st, "a", ha)
	b, regB := startInstance(t, st, "b", hb)
	records := records(t, st)
	rc, rk := w.DelegatedResponder(true)
	w.StartResponder(rc, rk, 10)
	ea := &env{base: "http://" + a.APIAddr(), keys: map[string]string{"p1": "key-p1"}, records: records}
	eb := &env{base: "http://" + b.APIAddr(), keys: map[string]string{"p1": "key-p1"}, records: records}

	// session runs one signature on e and returns the OCSP cache calls of
	// the whole session (start and reply, on whichever instance the SMSC
	// hands the reply to).
	session := func(e *env) int64 {
		t.Helper()
		before := ha.ocsp.Load() + hb.ocsp.Load()
		st, m, _ := e.do(t, "p1", "POST", "/v1/signatures", e.startReq(0, "SHA256", personal))
		if st != 201 {
			t.Fatalf("start: %d %v", st, m)
		}
		got := e.finish(t, "p1", m["sessionId"].(string))
		if got["result"] != sessions.ResultOK {
			t.Fatalf("result %v", got["result"])
		}
		checkRevocation(t, got["certificate"], "good", "ocsp", 3)
		// Either instance answers with the status recorded at completion.
		for _, other := range []*env{ea, eb} {
			if _, again, _ := other.do(t, "p1", "GET", "/v1/sessions/"+m["sessionId"].(string), nil); !reflect.DeepEqual(again["certificate"], got["certificate"]) {
				t.Fatal("the instances answer with different certificate statuses")
			}
		}
		return ha.ocsp.Load() + hb.ocsp.Load() - before
	}
	// The first session asks the responder: a GET that misses and the
	// SET of the answer, and a GET that hits if the reply reaches b.
	if calls := session(ea); calls < 2 || calls > 3 {
		t.Fatalf("first session: %d OCSP cache calls, want the miss, the SET and maybe b's hit", calls)
	}
	// b's first start reads the shared cache once, unless b already did
	// for a reply; from then on both instances hold the answer.
	for i, e := range []*env{eb, ea, eb, ea} {
		switch calls := session(e); {
		case i == 0 && calls > 1:
			t.Fatalf("b's first session: %d OCSP cache calls, want at most 1", calls)
		case i > 0 && calls != 0:
			t.Fatalf("session %d with the answer held on both instances: %d OCSP cache calls", i+2, calls)
		}
	}
	if total := ha.ocsp.Load() + hb.ocsp.Load(); total != 3 || w.OCSPHits.Load() != 1 {
		t.Fatalf("%d OCSP cache calls in all (want a's miss and SET, b's hit), responder asked %d times", total, w.OCSPHits.Load())
	}
	if got := metricValueOf(t, regB, "imzagate_trust_ocsp_cache_lookups_total", "layer", "redis", "result", "hit"); got != 1 {
		t.Fatalf("b's Redis hits %v, want 1", got)
	}
}
