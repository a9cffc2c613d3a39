package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/internal/simstack"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// Cards of the end-to-end farm, one per scenario.
const (
	cardECDSA = iota
	cardEd25519
	cardMLDSA
	cardCancel
	cardPINBlock
	cardCardBlock
	cardNoAnswer
	cardUndeliv
	cardAbsent
	cardBadChecksum
	cardKeyMismatch
	cardOutstanding
	cardLockout
	cardExpired
	cardRevoked
	cardOtherPortal
	cardWrongOnce
	cardCallback
	numCards
)

const (
	expiredVOEN = "1111111111"
	revokedVOEN = "2222222222"
	bizVOEN     = "3333333333"
	govVOEN     = "4444444444"
)

// e2eProfile gives every card an ECDSA authentication key and personal
// key, an Ed25519 business key and an ML-DSA-44 government key; two cards
// also hold an expired and a revoked certificate.
func e2eProfile(i int) []simcard.SlotSpec {
	p := []simcard.SlotSpec{
		{Ref: applet.KeyRefAuth, Alg: applet.SigECDSAP256, Kind: testca.Personal},
		{Ref: 0x02, Alg: applet.SigECDSAP256, Kind: testca.Personal},
		{Ref: 0x03, Alg: applet.SigEd25519, Kind: testca.Business, Organization: "Demo MMC", VOEN: bizVOEN},
		{Ref: 0x04, Alg: applet.SigMLDSA44, Kind: testca.Government, Organization: "Agency", VOEN: govVOEN},
	}
	switch i {
	case cardExpired:
		p = append(p, simcard.SlotSpec{Ref: 0x05, Alg: applet.SigECDSAP256, Kind: testca.Business, Organization: "Old MMC", VOEN: expiredVOEN, Expired: true})
	case cardRevoked:
		p = append(p, simcard.SlotSpec{Ref: 0x05, Alg: applet.SigECDSAP256, Kind: testca.Business, Organization: "Gone MMC", VOEN: revokedVOEN, Revoked: true})
	}
	return p
}

func e2eBehaviour(i int) simcard.Behaviour {
	d := 50 * time.Millisecond
	switch i {
	case cardCancel:
		return simcard.Behaviour{Action: simcard.Cancel, Delay: d}
	case cardPINBlock:
		return simcard.Behaviour{Action: simcard.WrongPIN, Delay: d, WrongTimes: 3}
	case cardWrongOnce:
		return simcard.Behaviour{Action: simcard.WrongPIN, Delay: d, WrongTimes: 1}
	case cardNoAnswer, cardOutstanding:
		return simcard.Behaviour{Action: simcard.NoAnswer}
	}
	return simcard.Behaviour{Action: simcard.Approve, Delay: d}
}

func e2eFaults(i int) simcard.Faults {
	switch i {
	case cardBadChecksum:
		return simcard.Faults{BadChecksum: true}
	case cardKeyMismatch:
		return simcard.Faults{KeyMismatch: true}
	}
	return simcard.Faults{}
}

// env is one complete system: real redis-server, test SMSC over loopback
// SMPP, simulated SIM farm, gateway with portals p1, p2 and a slow one.
type env struct {
	gw       *gateway.Gateway
	farm     *simcard.Farm
	base     string
	admin    string
	records  []simcard.Record
	logs     *syncBuffer
	registry *prometheus.Registry
	keys     map[string]string // portal → API key
	mu       sync.Mutex
	sigs     map[string]bool // signature values seen, which must never reach the logs
	cbURL    string
	cbs      chan callbackHit
}

// callbackHit is one callback the portal's server received.
type callbackHit struct {
	body []byte
	sig  string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	cfg := newEnvConfig(t, opts)
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	e := &env{logs: &syncBuffer{}, registry: prometheus.NewRegistry(), sigs: map[string]bool{}, keys: map[string]string{"p1": "key-p1", "p2": "key-p2", "slow": "key-slow"}}
	// The flaky operator's SMSC never answers a submit: its breaker opens.
	flaky := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"gw": "secret"}, Faults: smsc.Faults{DropEvery: 1}})
	e.cbs = make(chan callbackHit, 10)
	cbSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		e.cbs <- callbackHit{body: b, sig: r.Header.Get(gateway.CallbackSignatureHeader)}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cbSrv.Close)
	e.cbURL = cbSrv.URL + "/imza/callback"
	e.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	portal := func(id, name string, rate float64, burst int) simstack.Portal {
		return simstack.Portal{Portal: gateway.Portal{ID: id, DisplayName: name, RateLimit: rate, Burst: burst}, APIKey: e.keys[id]}
	}
	p1 := portal("p1", "e-taxes", 1000, 1000)
	p1.CallbackHosts, p1.CallbackSecretEnv = []string{"127.0.0.1"}, "E2E_CALLBACK_SECRET"
	st := startStack(t, simstack.Options{
		Redis: simstack.Redis{Addrs: []string{srv.Addr}},
		SIMs:  numCards, Seed: "e2e", Prefixes: []string{"99450"},
		CA: cfg.ca, KeyVersions: cfg.keyVersions, Gateway: func(o *gateway.Options) { *o = cfg.apply(*o) },
		Behaviour: e2eBehaviour, Profile: e2eProfile, Faults: e2eFaults,
		Receipts: map[int]smsc.Outcome{cardUndeliv: smsc.Undeliverable, cardAbsent: smsc.Expired},
		Operator: "azercell", SystemID: "gw", Password: "secret",
		Operators: []smpp.Operator{{Name: "flaky", Prefixes: []string{"99477"}, Breaker: smpp.BreakerConfig{Failures: 2, OpenTimeout: time.Minute},
			Binds: []smpp.BindConfig{{Addr: flaky.Addr(), SystemID: "gw", Password: "secret", RequestTimeout: 300 * time.Millisecond}}}},
		Portals: []simstack.Portal{p1, portal("p2", "bank", 1000, 1000), portal("slow", "slow", 0.001, 1)},
		Server: gateway.ServerOptions{
			UserTimeout: 10 * time.Second, DeliveryGrace: 3 * time.Second,
			Callbacks: gateway.CallbackOptions{Client: cbSrv.Client(), Backoff: 10 * time.Millisecond},
			LookupEnv: func(k string) (string, bool) { return "e2e-secret", k == "E2E_CALLBACK_SECRET" },
		},
		AdminAddr: "127.0.0.1:0", Pepper: bytes.Repeat([]byte{7}, 32),
		Logger:    slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SimLogger: testLogger(t), Registry: e.registry, ShutdownTimeout: 5 * time.Second,
	})
	e.gw, e.farm, e.records = st.Gateway(), st.Farm(), records(t, st)
	if err := e.farm.Card(cardCardBlock).SetTries(3, 3, 0); err != nil {
		t.Fatal(err)
	}
	e.base, e.admin = "http://"+e.gw.APIAddr(), "http://"+e.gw.AdminAddr()
	// The ECDSA card's registry entry under three numbers of the flaky operator.
	sub, err := st.Entry(cardECDSA)
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		sub.Phone, sub.ICCID = fmt.Sprintf("+99477000000%d", n), fmt.Sprintf("899947700000000000%d", n)
		if err := st.Store().PutSubscriber(t.Context(), sub, e.records[cardECDSA].UserID); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// startStack starts a simulated stack and shuts it down when the test ends.
func startStack(t *testing.T, opts simstack.Options) *simstack.Stack {
	t.Helper()
	st, err := simstack.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.Shutdown(ctx)
	})
	return st
}

// records are the cards of st's farm, card i at index i.
func records(t *testing.T, st *simstack.Stack) []simcard.Record {
	t.Helper()
	out := make([]simcard.Record, st.Farm().Len())
	for i := range out {
		rec, err := st.Farm().Record(i)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = rec
	}
	return out
}

// testLogger writes the simulated operator's warnings to the test output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// do sends one API request and decodes the JSON answer.
func (e *env) do(t testing.TB, portal, method, path string, body any, hdr ...string) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, e.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if k, ok := e.keys[portal]; ok {
		req.Header.Set("Authorization", "Bearer "+k)
	} else if portal != "" {
		req.Header.Set("Authorization", "Bearer "+portal)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m, resp.Header
}

func hashOf(typ, doc string) string {
	switch typ {
	case "SHA384":
		h := sha512.Sum384([]byte(doc))
		return base64.StdEncoding.EncodeToString(h[:])
	case "SHA512":
		h := sha512.Sum512([]byte(doc))
		return base64.StdEncoding.EncodeToString(h[:])
	}
	h := sha256.Sum256([]byte(doc))
	return base64.StdEncoding.EncodeToString(h[:])
}

func (e *env) startReq(card int, hashType string, cert map[string]any) map[string]any {
	r := map[string]any{"phoneNumber": "+" + e.records[card].MSISDN, "userId": e.records[card].UserID,
		"hash": hashOf(hashType, fmt.Sprintf("document %d", card)), "hashType": hashType, "displayText": "Test"}
	if cert != nil {
		r["certificate"] = cert
	}
	return r
}

// finish long-polls a session to completion.
func (e *env) finish(t *testing.T, portal, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, m, _ := e.do(t, portal, "GET", "/v1/sessions/"+id+"?timeoutMs=20000", nil)
		if st != 200 {
			t.Fatalf("poll: %d %v", st, m)
		}
		if m["state"] == "COMPLETE" {
			return m
		}
	}
	t.Fatal("session never completed")
	return nil
}

// TestEndToEnd runs every final result and every start error through the
// real system: HTTP → gateway → redis-server → SMPP → test SMSC → simulated
// SIM → MO → result.
func TestEndToEnd(t *testing.T) {
	e := startEnv(t)
	t.Run("results", func(t *testing.T) {
		tests := []struct {
			name     string
			card     int
			path     string
			hashType string
			cert     map[string]any
			result   string
			alg      string
			then     string // the result of the same request repeated, if checked
		}{
			{"login ECDSA P-256", cardECDSA, "/v1/authentications", "SHA256", nil, sessions.ResultOK, applet.SigECDSAP256.String(), ""},
			{"sign business Ed25519 SHA-512", cardEd25519, "/v1/signatures", "SHA512", map[string]any{"type": "business", "taxId": bizVOEN}, sessions.ResultOK, applet.SigEd25519.String(), ""},
			{"sign government ML-DSA-44 SHA-384", cardMLDSA, "/v1/signatures", "SHA384", map[string]any{"type": "government"}, sessions.ResultOK, applet.SigMLDSA44.String(), ""},
			{"wrong PIN once then OK", cardWrongOnce, "/v1/signatures", "SHA256", map[string]any{"type": "personal"}, sessions.ResultOK, applet.SigECDSAP256.String(), ""},
			{"user cancelled", cardCancel, "/v1/authentications", "SHA256", nil, sessions.ResultUserCancelled, "", ""},
			{"wrong PIN until blocked, then blocked at once", cardPINBlock, "/v1/signatures", "SHA256", map[string]any{"type": "personal"}, sessions.ResultPINBlocked, "", sessions.ResultPINBlocked},
			{"card blocked", cardCardBlock, "/v1/authentications", "SHA256", nil, sessions.ResultCardBlocked, "", ""},
			{"timeout", cardNoAnswer, "/v1/authentications", "SHA256", nil, sessions.ResultTimeout, "", ""},
			{"delivery error", cardUndeliv, "/v1/authentications", "SHA256", nil, sessions.ResultDeliveryError, "", ""},
			{"phone absent", cardAbsent, "/v1/authentications", "SHA256", nil, sessions.ResultPhoneAbsent, "", ""},
			{"tampered checksum changes nothing: the session times out", cardBadChecksum, "/v1/authentications", "SHA256", nil, sessions.ResultTimeout, "", ""},
			{"signature invalid (key does not match certificate)", cardKeyMismatch, "/v1/authentications", "SHA256", nil, sessions.ResultSignatureInvalid, "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				st, m, _ := e.do(t, "p1", "POST", tt.path, e.startReq(tt.card, tt.hashType, tt.cert))
				if st != 201 {
					t.Fatalf("start: %d %v", st, m)
				}
				got := e.finish(t, "p1", m["sessionId"].(string))
				if got["result"] != tt.result {
					t.Fatalf("result %v, want %s (%v)", got["result"], tt.result, got)
				}
				if tt.then != "" {
					st, m, _ := e.do(t, "p1", "POST", tt.path, e.startReq(tt.card, tt.hashType, tt.cert))
					if st != 201 {
						t.Fatalf("second start: %d %v", st, m)
					}
					if again := e.finish(t, "p1", m["sessionId"].(string)); again["result"] != tt.then {
						t.Fatalf("second result %v, want %s", again["result"], tt.then)
					}
				}
				if tt.alg == "" {
					if got["signature"] != nil {
						t.Fatalf("signature on %s", tt.result)
					}
					return
				}
				sig := got["signature"].(map[string]any)
				e.mu.Lock()
				e.sigs[sig["value"].(string)] = true
				e.mu.Unlock()
				cert := got["certificate"].(map[string]any)
				if sig["algorithm"] != tt.alg || cert["pem"] == "" {
					t.Fatalf("signature %v certificate %v", sig["algorithm"], cert["type"])
				}
				stages := got["stages"].(map[string]any)
				for _, s := range []string{"accepted", "submitted", "completed"} {
					if stages[s] == nil {
						t.Fatalf("stage %s missing: %v", s, stages)
					}
				}
				if tt.path == "/v1/authentications" && len(got["certificates"].([]any)) != 4 {
					t.Fatalf("certificates after login: %v", got["certificates"])
				}
			})
		}
	})
	t.Run("callback", func(t *testing.T) {
		req := e.startReq(cardCallback, "SHA256", map[string]any{"type": "personal"})
		req["callbackUrl"] = e.cbURL
		st, m, _ := e.do(t, "p1", "POST", "/v1/signatures", req)
		if st != 201 {
			t.Fatalf("%d %v", st, m)
		}
		select {
		case hit := <-e.cbs:
			var got map[string]any
			if err := json.Unmarshal(hit.body, &got); err != nil || got["sessionId"] != m["sessionId"] || got["result"] != sessions.ResultOK {
				t.Fatalf("callback body %s: %v", hit.body, err)
			}
			ts, v1, _ := strings.Cut(strings.TrimPrefix(hit.sig, "t="), ",v1=")
			mac := hmac.New(sha256.New, []byte("e2e-secret"))
			mac.Write([]byte(ts + "."))
			mac.Write(hit.body)
			if want := hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(v1), []byte(want)) {
				t.Fatalf("callback signature %q does not verify", hit.sig)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no callback")
		}
	})
	t.Run("start errors", func(t *testing.T) {
		t.Run("outstanding transaction", func(t *testing.T) {
			t.Parallel()
			st, m, _ := e.do(t, "p1", "POST", "/v1/authentications", e.startReq(cardOutstanding, "SHA256", nil))
			if st != 201 {
				t.Fatalf("%d %v", st, m)
			}
			st, m, _ = e.do(t, "p2", "POST", "/v1/authentications", e.startReq(cardOutstanding, "SHA256", nil))
			if st != 409 || m["code"] != gateway.CodeOutstanding {
				t.Fatalf("%d %v", st, m)
			}
		})
		t.Run("idempotency key", func(t *testing.T) {
			t.Parallel()
			req := e.startReq(cardOtherPortal, "SHA256", nil)
			_, a, _ := e.do(t, "p2", "POST", "/v1/authentications", req, "Idempotency-Key", "k-1")
			st, b, _ := e.do(t, "p2", "POST", "/v1/authentications", req, "Idempotency-Key", "k-1")
			if st != 201 || a["sessionId"] != b["sessionId"] {
				t.Fatalf("%d %v %v", st, a, b)
			}
			// Another portal cannot read it.
			st, m, _ := e.do(t, "p1", "GET", "/v1/sessions/"+a["sessionId"].(string), nil)
			if st != 404 || m["code"] != gateway.CodeSessionNotFound {
				t.Fatalf("another portal's session: %d %v", st, m)
			}
			if got := e.finish(t, "p2", a["sessionId"].(string)); got["result"] != sessions.ResultOK {
				t.Fatalf("%v", got)
			}
		})
		t.Run("User ID lockout", func(t *testing.T) {
			t.Parallel()
			req := e.startReq(cardLockout, "SHA256", nil)
			req["userId"] = "000000"
			if req["userId"] == e.records[cardLockout].UserID {
				req["userId"] = "000001"
			}
			for i := range 5 {
				st, m, _ := e.do(t, "p1", "POST", "/v1/authentications", req)
				if st != 422 || m["code"] != gateway.CodeUserUnknown {
					t.Fatalf("attempt %d: %d %v", i, st, m)
				}
			}
			st, m, h := e.do(t, "p1", "POST", "/v1/authentications", e.startReq(cardLockout, "SHA256", nil))
			if st != 423 || m["code"] != gateway.CodeUserLocked || h.Get("Retry-After") == "" {
				t.Fatalf("locked: %d %v %v", st, m, h)
			}
		})
		tests := []struct {
			name, portal, path string
			req                map[string]any
			status             int
			code               string
		}{
			{"expired certificate", "p1", "/v1/signatures", e.startReq(cardExpired, "SHA256", map[string]any{"type": "business", "taxId": expiredVOEN}), 422, gateway.CodeCertificateExpired},
			{"revoked certificate", "p1", "/v1/signatures", e.startReq(cardRevoked, "SHA256", map[string]any{"type": "business", "taxId": revokedVOEN}), 422, gateway.CodeCertificateRevoked},
			{"unknown portal", "no-such-key", "/v1/authentications", e.startReq(cardECDSA, "SHA256", nil), 401, gateway.CodeUnauthorized},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st, m, _ := e.do(t, tt.portal, "POST", tt.path, tt.req)
				if st != tt.status || m["code"] != tt.code {
					t.Fatalf("%d %v, want %d %s", st, m, tt.status, tt.code)
				}
			})
		}
		t.Run("operator breaker open", func(t *testing.T) {
			// Two submits go unanswered: 503 each, never a 201 for an SMS
			// nobody accepted; the breaker opens; the third fails fast.
			for n := 1; n <= 3; n++ {
				r := e.startReq(cardECDSA, "SHA256", nil)
				r["phoneNumber"] = fmt.Sprintf("077000000%d", n)
				st, m, _ := e.do(t, "p1", "POST", "/v1/authentications", r)
				if st != 503 || m["code"] != gateway.CodeOperatorUnavailable {
					t.Fatalf("start %d: %d %v", n, st, m)
				}
			}
			if v, ok := sample(e.scrape(t), `imzagate_smpp_breaker_state{operator="flaky"}`); !ok || v != 2 {
				t.Fatalf("breaker state %v (found %v), want 2 (open)", v, ok)
			}
		})
		t.Run("rate limit", func(t *testing.T) {
			_, _, _ = e.do(t, "slow", "GET", "/v1/certificates?phoneNumber=%2B"+e.records[cardECDSA].MSISDN+"&userId="+e.records[cardECDSA].UserID, nil)
			st, m, h := e.do(t, "slow", "POST", "/v1/authentications", e.startReq(cardECDSA, "SHA256", nil))
			if st != 429 || m["code"] != gateway.CodeRateLimited || h.Get("Retry-After") == "" {
				t.Fatalf("%d %v", st, m)
			}
		})
	})
	t.Run("certificates", func(t *testing.T) {
		st, m, _ := e.do(t, "p1", "GET", "/v1/certificates?phoneNumber=0"+e.records[cardExpired].MSISDN[3:]+"&userId="+e.records[cardExpired].UserID, nil)
		if st != 200 {
			t.Fatalf("%d %v", st, m)
		}
		status := map[string]string{}
		for _, c := range m["certificates"].([]any) {
			c := c.(map[string]any)
			tax, _ := c["taxId"].(string)
			status[tax] = c["status"].(string)
		}
		if status[expiredVOEN] != gateway.CertExpired || status[bizVOEN] != sessions.StatusActive {
			t.Fatalf("statuses %v", status)
		}
	})
	t.Run("observability", func(t *testing.T) {
		defer func() {
			// Draining: not ready any more, and the stop is bounded.
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.gw.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if err := e.gw.Ready(t.Context()); err == nil || time.Since(start) > 8*time.Second {
				t.Errorf("after shutdown: ready=%v in %v", err, time.Since(start))
			}
		}()
		e.checkMetrics(t)
		e.checkLogs(t)
		// The flaky operator's breaker is still open: /readyz names it.
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 503} {
			resp, err := http.Get(e.admin + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want || path == "/readyz" && !strings.Contains(string(b), "operator flaky") {
				t.Fatalf("%s: %d %q, want %d", path, resp.StatusCode, b, want)
			}
		}
	})
}

// scrape reads the admin listener's /metrics.
func (e *env) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(e.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(body)
}

// gatewayMetrics are the names of the gateway's own metrics.
var gatewayMetrics = []string{
	"imzagate_http_requests_total", "imzagate_http_request_duration_seconds", "imzagate_http_requests_in_flight",
	"imzagate_api_errors_total", "imzagate_sessions_started_total", "imzagate_sessions_completed_total",
	"imzagate_session_duration_seconds", "imzagate_session_stage_seconds", "imzagate_ota_errors_total",
	"imzagate_mo_replays_total", "imzagate_mo_received_total", "imzagate_mo_unmatched_total",
	"imzagate_receipts_total", "imzagate_callbacks_sent_total", "imzagate_callbacks_failed_total",
	"imzagate_callbacks_retried_total", "imzagate_callbacks_dropped_total", "imzagate_callback_duration_seconds",
	"imzagate_callback_queue_length", "imzagate_ready",
}

// checkMetrics scrapes /metrics and checks every gateway metric is exported
// and the counters moved as the runs above imply.
func (e *env) checkMetrics(t *testing.T) {
	text := e.scrape(t)
	for _, name := range gatewayMetrics {
		if !strings.Contains(text, "\n"+name) && !strings.Contains(text, "\n"+name+"_bucket") {
			t.Errorf("metric %s not exported", name)
		}
	}
	for _, name := range []string{"imzagate_smpp_", "imzagate_redis_", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(text, name) {
			t.Errorf("no %s* metric exported", name)
		}
	}
	want := map[string]float64{
		`imzagate_sessions_completed_total{result="OK"}`:                4, // three algorithms + wrong-PIN-once (+ idempotency run)
		`imzagate_sessions_completed_total{result="USER_CANCELLED"}`:    1,
		`imzagate_sessions_completed_total{result="SIGNATURE_INVALID"}`: 1,
		`imzagate_sessions_completed_total{result="DELIVERY_ERROR"}`:    3, // undeliverable + the two unanswered submits
		`imzagate_ota_errors_total{reason="checksum"}`:                  1,
		`imzagate_callbacks_sent_total`:                                 1,
		`imzagate_api_errors_total{code="OUTSTANDING_TRANSACTION"}`:     1,
		`imzagate_api_errors_total{code="USER_LOCKED"}`:                 1,
	}
	for series, min := range want {
		v, ok := sample(text, series)
		if !ok || v < min {
			t.Errorf("%s = %v (found %v), want ≥ %v", series, v, ok, min)
		}
	}
}

// sample finds one series' value in the text exposition.
func sample(text, series string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			var v float64
			_, err := fmt.Sscan(rest, &v)
			return v, err == nil
		}
	}
	return 0, false
}

// containsToken reports whether secret occurs in text with no letter or
// digit right before or after it.
func containsToken(text, secret string) bool {
	alnum := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	for i := 0; i <= len(text)-len(secret); {
		j := strings.Index(text[i:], secret)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(secret)
		if (j == 0 || !alnum(text[j-1])) && (end == len(text) || !alnum(text[end])) {
			return true
		}
		i = j + 1
	}
	return false
}

// checkLogs asserts that no log line carries a phone number, a User ID or a
// signature in clear.
func (e *env) checkLogs(t *testing.T) {
	logs := e.logs.String()
	if !strings.Contains(logs, "session completed") {
		t.Fatal("no session logs captured")
	}
	// Look for each secret as a whole token, outside the timestamp: a
	// 6-digit User ID also occurs by chance inside the nanoseconds of a
	// "time" field or a random id, and that is not a leak.
	var scrubbed strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		delete(rec, "time")
		b, _ := json.Marshal(rec)
		scrubbed.Write(b)
		scrubbed.WriteByte('\n')
	}
	for _, r := range e.records {
		for _, secret := range []string{r.MSISDN, r.MSISDN[3:], r.UserID} {
			if containsToken(scrubbed.String(), secret) {
				t.Fatalf("logs contain %q in clear", secret)
			}
		}
	}
	started := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if rec["msg"] == "session started" {
			started++
			if rec["request_id"] == nil || rec["session_id"] == nil || rec["portal"] == nil {
				t.Fatalf("request line without request_id/session_id: %s", line)
			}
			phone, _ := rec["phone"].(map[string]any)
			if m, _ := phone["masked"].(string); !regexp.MustCompile(`^\+994\d\d\*\*\*\d{4}$`).MatchString(m) || phone["hash"] == nil {
				t.Fatalf("phone not masked and hashed: %s", line)
			}
		}
	}
	if started == 0 {
		t.Fatal("no session started lines")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.sigs) < 3 {
		t.Fatalf("only %d signatures collected", len(e.sigs))
	}
	for sig := range e.sigs {
		if strings.Contains(logs, sig) || strings.Contains(logs, sig[:24]) {
			t.Fatal("logs contain a signature")
		}
	}
}

func TestContainsToken(t *testing.T) {
	for _, tc := range []struct {
		text, secret string
		want         bool
	}{
		{`{"user_id":"195526"}`, "195526", true},
		{`phone=994501234567 x`, "994501234567", true},
		{`+994501234567`, "994501234567", true},
		{`195526`, "195526", true},
		{`{"session_id":"kv7195526mu"}`, "195526", false},
		{`elapsed 31955261`, "195526", false},
		{`a195526 and then 195526.`, "195526", true},
	} {
		if got := containsToken(tc.text, tc.secret); got != tc.want {
			t.Errorf("containsToken(%q, %q) = %v, want %v", tc.text, tc.secret, got, tc.want)
		}
	}
}
