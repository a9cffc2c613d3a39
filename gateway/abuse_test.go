package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/ota"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/embedded"
	"github.com/imzagate/imzagate/smpp"
)

// okSender accepts every submit.
func okSender() *fakeSender {
	return &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { return []string{"m1"}, nil }}
}

// TestCallbackURLChecks: validation and storage agree (at most 512
// printable ASCII characters), ports must be real, and an IPv6 literal on
// the allowlist matches. Every refusal is 400 on field callbackUrl.
func TestCallbackURLChecks(t *testing.T) {
	long := func(n int) string {
		return "https://portal.example/" + strings.Repeat("a", n-len("https://portal.example/"))
	}
	tests := []struct {
		name, url string
		hosts     []string
		want      int
	}{
		{"512 characters", long(512), nil, 201},
		{"513 characters", long(513), nil, 400},
		{"1024 characters", long(1024), nil, 400},
		{"non-ASCII path", "https://portal.example/çağrı", nil, 400},
		{"percent-encoded path", "https://portal.example/%C3%A7a%C4%9Fr%C4%B1", nil, 201},
		{"port 99999", "https://portal.example:99999/cb", nil, 400},
		{"port 0", "https://portal.example:0/cb", nil, 400},
		{"empty port", "https://portal.example:/cb", nil, 400},
		{"port 8443", "https://portal.example:8443/cb", nil, 201},
		{"IPv6 literal on the allowlist", "https://[::1]:8443/cb", []string{"[::1]"}, 201},
		{"IPv6 literal off the allowlist", "https://[::2]/cb", []string{"[::1]"}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore(newTestUser(t))
			s, _ := newTestServer(t, &st.fakeStore, okSender(), &fakeOTA{}, func(o *ServerOptions) {
				if tt.hosts != nil {
					o.Portals[0].CallbackHosts = tt.hosts
				}
			})
			resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", `,"callbackUrl":"`+tt.url+`"`))
			if resp.StatusCode != tt.want || tt.want == 400 && (m["code"] != CodeInvalidRequest || m["field"] != "callbackUrl") {
				t.Fatalf("%d %v, want %d", resp.StatusCode, m, tt.want)
			}
		})
	}
}

// TestDisplayTextCharacters: characters that move, hide or fake the
// "portal name: text" prefix are refused with a clear error.
func TestDisplayTextCharacters(t *testing.T) {
	for _, bad := range []string{"line\nbreak", "nul\x00", "esc\x1b[2J", "rtl\u202eoverride", "zero\u200bwidth",
		"no\u00a0break", "line\u2028sep", "para\u2029sep", "private\ue000use", "mangled\ufffd", "nonchar\ufdd0", "bom\ufeff", "tab\t"} {
		t.Run(fmt.Sprintf("%q", bad), func(t *testing.T) {
			st := newMemStore(newTestUser(t))
			s, _ := newTestServer(t, &st.fakeStore, okSender(), &fakeOTA{})
			text, _ := json.Marshal(bad)
			resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", `,"displayText":`+string(text)))
			if resp.StatusCode != 400 || m["field"] != "displayText" || !strings.Contains(m["detail"].(string), "U+") {
				t.Fatalf("%d %v", resp.StatusCode, m)
			}
		})
	}
	for _, good := range []string{"Giriş ə ğ ş", "Pay 5€", "Ödəniş 10 AZN"} {
		st := newMemStore(newTestUser(t))
		s, _ := newTestServer(t, &st.fakeStore, okSender(), &fakeOTA{})
		text, _ := json.Marshal(good)
		if resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", `,"displayText":`+string(text))); resp.StatusCode != 201 {
			t.Fatalf("%q: %d %v", good, resp.StatusCode, m)
		}
	}
	p := Portal{ID: "x", DisplayName: "bank\u202e", APIKeySHA256: HashAPIKey("k")}
	if err := p.init(nil); err == nil || !strings.Contains(err.Error(), "displayName") {
		t.Fatalf("display name with a bidi override: %v", err)
	}
}

// TestPollTimeoutBounds: a timeoutMs beyond the bound is 400, even one
// whose duration would overflow.
func TestPollTimeoutBounds(t *testing.T) {
	st := newMemStore(newTestUser(t))
	s, _ := newTestServer(t, &st.fakeStore, okSender(), &fakeOTA{})
	for _, v := range []string{"9223372036854775807", "9223372036854776", "120001", "-1", "1e3", "+1x"} {
		resp, m := call(t, s.Handler(), "GET", "/v1/sessions/00112233445566778899aabbccddeeff?timeoutMs="+v, key1, "")
		if resp.StatusCode != 400 || m["field"] != "timeoutMs" {
			t.Fatalf("timeoutMs=%s: %d %v", v, resp.StatusCode, m)
		}
	}
}

// TestUncleanPathsAreProblems: the mux would redirect these with HTML;
// the API answers problem+json.
func TestUncleanPathsAreProblems(t *testing.T) {
	s, _ := newTestServer(t, &fakeStore{}, &fakeSender{}, &fakeOTA{})
	for _, p := range []string{"/v1//sessions", "/v1/./x", "//v1/sessions/abc", "/v1/sessions/../certificates", "/v1/sessions/abc/", "/v1/"} {
		for _, method := range []string{"GET", "POST"} {
			req := httptest.NewRequest(method, "http://gw"+p, nil)
			req.Header.Set("Authorization", "Bearer "+key1)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s %s: %d %s %q", method, p, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			}
		}
	}
}

// TestOpenAPISessionIDPattern: the documented pattern matches the ids the
// session store hands out.
func TestOpenAPISessionIDPattern(t *testing.T) {
	b, _ := openapiFS.ReadFile("openapi.yaml")
	var doc struct {
		Paths map[string]struct {
			Get struct {
				Parameters []struct {
					Name   string `yaml:"name"`
					Schema struct {
						Pattern string `yaml:"pattern"`
					} `yaml:"schema"`
				} `yaml:"parameters"`
			} `yaml:"get"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	pattern := ""
	for _, p := range doc.Paths["/v1/sessions/{id}"].Get.Parameters {
		if p.Name == "id" {
			pattern = p.Schema.Pattern
		}
	}
	re := regexp.MustCompile(pattern)
	srv, err := embedded.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	st, err := sessions.New(srv.Client(), sessions.Options{Pepper: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 20 {
		sess := &sessions.Session{Portal: "p1", Operation: sessions.OpAuthenticate, Phone: fmt.Sprintf("+99450%07d", i),
			ICCID: "8999401234567890123", KeyRef: 1, Hash: make([]byte, 32), HashAlg: "SHA256"}
		if err := st.Start(t.Context(), sess, time.Minute); err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(sess.ID) {
			t.Fatalf("id %s does not match the OpenAPI pattern %s", sess.ID, pattern)
		}
	}
	if re.MatchString("00112233445566778899aabbccddeeff") || re.MatchString(strings.Repeat("w", 36)) {
		t.Fatal("the pattern accepts what no session id is")
	}
}

// TestSessionIDLoggedOnce: no log line carries session_id twice.
func TestSessionIDLoggedOnce(t *testing.T) {
	u := newTestUser(t)
	st := newMemStore(u)
	var buf syncBuf
	snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) {
		return nil, &smpp.StatusError{Status: smpp.StatusInvDstAdr}
	}}
	s, _ := newTestServer(t, &st.fakeStore, snd, &fakeOTA{}, func(o *ServerOptions) {
		o.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	})
	resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", ""))
	if resp.StatusCode != 201 {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
	// A receipt completes a session through the correlator too.
	sid := "00112233445566778899aabbccddeef1"
	st.sessions[sid] = sessions.Session{ID: sid, Portal: "p1", Phone: u.sub.Phone, State: sessions.StateRunning,
		MessageIDs: []string{"m9"}, Submitted: testNow, Accepted: testNow}
	if err := s.corr.HandleReceipt(t.Context(), smpp.Receipt{Source: "994501234567", MessageID: "m9", Stat: "UNDELIV"}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	completed := 0
	for _, line := range lines {
		if n := strings.Count(line, `"session_id"`); n > 1 {
			t.Fatalf("session_id %d times: %s", n, line)
		}
		if strings.Contains(line, `"session completed"`) {
			completed++
			if !strings.Contains(line, `"session_id"`) {
				t.Fatalf("completion without session_id: %s", line)
			}
		}
	}
	if completed != 2 {
		t.Fatalf("%d completion lines, want 2:\n%s", completed, buf.String())
	}
}

// syncBuf is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestUnansweredSubmitIs503: a submit without an answer is no success:
// 503 OPERATOR_UNAVAILABLE, the session ends as DELIVERY_ERROR and is
// never stamped submitted.
func TestUnansweredSubmitIs503(t *testing.T) {
	st := newMemStore(newTestUser(t))
	snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) {
		return nil, fmt.Errorf("%w: no response in 5s", smpp.ErrOutcomeUnknown)
	}}
	s, _ := newTestServer(t, &st.fakeStore, snd, &fakeOTA{})
	resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", ""))
	if resp.StatusCode != 503 || m["code"] != CodeOperatorUnavailable {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
	if len(st.sessions) != 1 {
		t.Fatalf("%d sessions", len(st.sessions))
	}
	for _, sess := range st.sessions {
		if sess.State != sessions.StateComplete || sess.Result != sessions.ResultDeliveryError || !sess.Submitted.IsZero() {
			t.Fatalf("session %s/%s submitted %v", sess.State, sess.Result, sess.Submitted)
		}
	}
}

// TestUserIDBudget: once the store says the portal spent its budget of
// wrong User IDs, its starts and lookups get 429 USER_ID_BUDGET_EXCEEDED
// with Retry-After; another portal is unaffected; the failures are logged
// with the portal and the request id.
func TestUserIDBudget(t *testing.T) {
	st := newMemStore(newTestUser(t))
	var mu sync.Mutex
	failures := map[string]int{}
	blocked := map[string]time.Time{}
	st.SpendPortalBudgetFn = func(_ context.Context, portal string, b sessions.Budget) (time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		if b.Failures != 3 && portal == "p1" {
			t.Errorf("budget %+v", b)
		}
		failures[portal]++
		if failures[portal] >= b.Failures {
			blocked[portal] = testNow.Add(10 * time.Minute)
			return blocked[portal], nil
		}
		return time.Time{}, nil
	}
	st.PortalBlockedUntilFn = func(_ context.Context, portal string) (time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		return blocked[portal], nil
	}
	var logs syncBuf
	s, reg := newTestServer(t, &st.fakeStore, okSender(), &fakeOTA{}, func(o *ServerOptions) {
		o.Portals[0].UserIDBudget = sessions.Budget{Failures: 3, Window: time.Minute, Block: 10 * time.Minute}
		o.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	h := s.Handler()
	for i := range 3 {
		resp, m := call(t, h, "POST", "/v1/authentications", key1, body(fmt.Sprintf("+99450123456%d", i), "123456", ""), "X-Request-Id", fmt.Sprintf("req-%d", i))
		if resp.StatusCode != 422 || m["code"] != CodeUserUnknown {
			t.Fatalf("guess %d: %d %v", i, resp.StatusCode, m)
		}
	}
	resp, m := call(t, h, "POST", "/v1/authentications", key1, body("+994501234567", "123456", ""))
	if resp.StatusCode != 429 || m["code"] != CodeUserIDBudget || resp.Header.Get("Retry-After") != "600" {
		t.Fatalf("start while blocked: %d %v %q", resp.StatusCode, m, resp.Header.Get("Retry-After"))
	}
	resp, m = call(t, h, "GET", "/v1/certificates?phoneNumber=%2B994501234567&userId=123456", key1, "")
	if resp.StatusCode != 429 || m["code"] != CodeUserIDBudget {
		t.Fatalf("lookup while blocked: %d %v", resp.StatusCode, m)
	}
	if resp, m := call(t, h, "POST", "/v1/authentications", key2, body("+994501234567", "123456", "")); resp.StatusCode != 201 {
		t.Fatalf("another portal: %d %v", resp.StatusCode, m)
	}
	if v := metricValue(t, reg, "imzagate_user_id_failures_total", "portal", "p1"); v != 3 {
		t.Fatalf("failures counted %v", v)
	}
	if v := metricValue(t, reg, "imzagate_user_id_budget_blocks_total", "portal", "p1"); v != 1 {
		t.Fatalf("blocks counted %v", v)
	}
	if v := metricValue(t, reg, "imzagate_user_id_budget_refused_total", "portal", "p1"); v != 2 {
		t.Fatalf("refusals counted %v", v)
	}
	wrong := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		_ = json.Unmarshal([]byte(line), &rec)
		if rec["msg"] == "wrong User ID" {
			wrong++
			if rec["portal"] != "p1" || !strings.HasPrefix(fmt.Sprint(rec["request_id"]), "req-") || strings.Contains(line, "99450123456") {
				t.Fatalf("failure line %s", line)
			}
		}
	}
	if wrong != 3 {
		t.Fatalf("%d failure lines, want 3", wrong)
	}
}

// TestRequestFingerprint: every field that changes the command or where
// its result goes changes the fingerprint; the User ID does not.
func TestRequestFingerprint(t *testing.T) {
	base := startInput{Operation: applet.OpSign, Phone: "+994501234567", UserID: "123456", Hash: make([]byte, 32),
		HashAlg: applet.HashSHA256, DisplayText: "e-taxes: x", CallbackURL: "https://p/cb", CertType: "business", TaxID: "1234567891"}
	fp := requestFingerprint(base)
	same := base
	same.UserID = "654321"
	if !bytes.Equal(requestFingerprint(same), fp) {
		t.Fatal("the User ID changes the fingerprint")
	}
	for name, mod := range map[string]func(*startInput){
		"operation": func(in *startInput) { in.Operation = applet.OpAuthenticate },
		"phone":     func(in *startInput) { in.Phone = "+994501234568" },
		"hash":      func(in *startInput) { in.Hash = append(make([]byte, 31), 1) },
		"hash type": func(in *startInput) { in.HashAlg = applet.HashSHA384 },
		"text":      func(in *startInput) { in.DisplayText = "e-taxes: y" },
		"callback":  func(in *startInput) { in.CallbackURL = "" },
		"cert type": func(in *startInput) { in.CertType = "government" },
		"tax id":    func(in *startInput) { in.TaxID = "1234567892" },
		"boundary":  func(in *startInput) { in.DisplayText, in.CallbackURL = "e-taxes: xhttps://p/c", "b" },
	} {
		in := base
		mod(&in)
		if bytes.Equal(requestFingerprint(in), fp) {
			t.Errorf("%s does not change the fingerprint", name)
		}
	}
}

// TestIdempotencyMismatchIs422: the store's verdict reaches the portal as
// 422 IDEMPOTENCY_KEY_REUSED.
func TestIdempotencyMismatchIs422(t *testing.T) {
	st := newMemStore(newTestUser(t))
	var fps [][]byte
	start := st.CheckAndStartFn
	st.CheckAndStartFn = func(ctx context.Context, phone, userID string, build func(sessions.Subscriber) (*sessions.Session, time.Duration, error)) (sessions.Subscriber, uint64, error) {
		return start(ctx, phone, userID, func(sub sessions.Subscriber) (*sessions.Session, time.Duration, error) {
			s, ttl, err := build(sub)
			if err == nil {
				fps = append(fps, s.IdempotencyFingerprint)
			}
			if len(fps) == 2 {
				return s, ttl, sessions.ErrIdempotencyMismatch
			}
			return s, ttl, err
		})
	}
	s, _ := newTestServer(t, &st.fakeStore, okSender(), &fakeOTA{})
	resp, _ := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", ""), "Idempotency-Key", "k1")
	if resp.StatusCode != 201 {
		t.Fatal(resp.StatusCode)
	}
	resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", `,"displayText":"other"`), "Idempotency-Key", "k1")
	if resp.StatusCode != 422 || m["code"] != CodeIdempotencyKeyReused {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
	if len(fps) != 2 || len(fps[0]) != 32 || bytes.Equal(fps[0], fps[1]) {
		t.Fatalf("fingerprints %x", fps)
	}
}

// TestReceiptFailureTable: what each failed receipt means for its session.
func TestReceiptFailureTable(t *testing.T) {
	gsm := func(code uint16) smpp.NetworkError { return smpp.NetworkError{Type: smpp.NetGSM, Code: code} }
	tests := []struct {
		name, stat, err string
		ne              smpp.NetworkError
		want            string
	}{
		{"absent subscriber", "UNDELIV", "", gsm(27), sessions.ResultPhoneAbsent},
		{"absent subscriber SM", "UNDELIV", "", gsm(6), sessions.ResultPhoneAbsent},
		{"unidentified subscriber", "UNDELIV", "", gsm(5), sessions.ResultPhoneAbsent},
		{"busy for MT SMS", "UNDELIV", "", gsm(31), sessions.ResultPhoneAbsent},
		{"unknown subscriber", "UNDELIV", "", gsm(1), sessions.ResultDeliveryError},
		{"teleservice not provisioned", "UNDELIV", "", gsm(11), sessions.ResultDeliveryError},
		{"call barred", "UNDELIV", "", gsm(13), sessions.ResultDeliveryError},
		{"system failure", "UNDELIV", "", gsm(34), sessions.ResultDeliveryError},
		{"SM delivery failure (SIM full, data download error)", "UNDELIV", "", gsm(32), sessions.ResultSIMError},
		{"expired after absent subscriber", "EXPIRED", "", gsm(27), sessions.ResultPhoneAbsent},
		{"expired, unknown subscriber", "EXPIRED", "", gsm(1), sessions.ResultDeliveryError},
		{"expired without a code", "EXPIRED", "", smpp.NetworkError{}, sessions.ResultPhoneAbsent},
		{"undeliverable without a code", "UNDELIV", "", smpp.NetworkError{}, sessions.ResultDeliveryError},
		{"rejected without a code", "REJECTD", "", smpp.NetworkError{}, sessions.ResultDeliveryError},
		{"GSM code the table does not know", "UNDELIV", "", gsm(999), sessions.ResultDeliveryError},
		{"ANSI-41 code is not a MAP error", "EXPIRED", "", smpp.NetworkError{Type: smpp.NetANSI41, Code: 27}, sessions.ResultPhoneAbsent},
		{"err: field alone", "UNDELIV", "027", smpp.NetworkError{}, sessions.ResultPhoneAbsent},
		{"err: field 000", "EXPIRED", "000", smpp.NetworkError{}, sessions.ResultPhoneAbsent},
		{"err: field not a number", "UNDELIV", "x27", smpp.NetworkError{}, sessions.ResultDeliveryError},
		{"the TLV wins over err:", "UNDELIV", "027", gsm(32), sessions.ResultSIMError},
	}
	for _, tt := range tests {
		got, ok := receiptFailure(smpp.Receipt{Stat: tt.stat, Err: tt.err, NetworkError: tt.ne}, tt.stat)
		if !ok || got != tt.want {
			t.Errorf("%s: %s %v, want %s", tt.name, got, ok, tt.want)
		}
	}
	if _, ok := receiptFailure(smpp.Receipt{Stat: "DELIVRD", NetworkError: gsm(27)}, "DELIVRD"); ok {
		t.Error("a delivered receipt read as a failure")
	}
}

// TestResendAfterCounterLow: an authenticated "CNTR low" PoR answering the
// session's MT moves the card's counter ahead and sends the same command
// again once, with the new counter; a second "CNTR low" ends the session.
func TestResendAfterCounterLow(t *testing.T) {
	u := newTestUser(t)
	st := newMemStore(u)
	const sid = "00112233445566778899aabbccddeeff"
	hash := make([]byte, 32)
	st.sessions[sid] = sessions.Session{ID: sid, Portal: "p1", Phone: u.sub.Phone, ICCID: u.sub.ICCID, Operation: sessions.OpAuthenticate,
		KeyRef: 1, Hash: hash, HashAlg: "SHA256", TxnID: [8]byte{9}, DisplayText: "e-taxes: Giriş", State: sessions.StateRunning,
		Accepted: testNow, Submitted: testNow, MTCounter: 500}
	st.ResyncMTCounterFn = func(_ context.Context, iccid string, echoed uint64) (uint64, error) {
		if iccid != u.sub.ICCID || echoed != 500 {
			t.Errorf("resync %s %d", iccid, echoed)
		}
		return 500 + sessions.ResyncStep, nil
	}
	st.ClaimResendFn = func(_ context.Context, id string, old, next uint64) error {
		st.mu.Lock()
		defer st.mu.Unlock()
		s := st.sessions[id]
		if s.Resent || s.MTCounter != old {
			return sessions.ErrDuplicate
		}
		s.MTCounter, s.Resent = next, true
		st.sessions[id] = s
		return nil
	}
	var resubmitted []string
	st.MarkResubmittedFn = func(_ context.Context, id string, ids []string) error { resubmitted = ids; return nil }
	var sealed []uint64
	var sealedCmd *applet.Command
	codec := &fakeOTA{
		SealFn: func(_ string, counter uint64, cmd *applet.Command, _ byte) ([][]byte, error) {
			sealed, sealedCmd = append(sealed, counter), cmd
			return [][]byte{{2, 0x70, 0}}, nil
		},
	}
	snd := &fakeSender{SubmitFn: func(_ context.Context, msisdn string, _ [][]byte) ([]string, error) { return []string{"r1"}, nil }}
	s, reg := newTestServer(t, &st.fakeStore, snd, codec)
	lowPoR := func(counter uint64) error {
		codec.OpenFn = func(string, []byte) (applet.MO, error) {
			return applet.MO{Kind: applet.MOPoR, PoRStatus: byte(ota.StatusCounterLow), Counter: counter, PoRSecured: true}, nil
		}
		return s.corr.HandleMO(t.Context(), smpp.MO{Source: "994501234567", DataCoding: 0xF6, UserData: []byte{2, 0x71, 0}})
	}
	if err := lowPoR(500); err != nil {
		t.Fatal(err)
	}
	got := st.sessions[sid]
	if got.State != sessions.StateRunning || got.MTCounter != 500+sessions.ResyncStep || len(sealed) != 1 || sealed[0] != got.MTCounter {
		t.Fatalf("after the resync: %s counter %d sealed %v", got.State, got.MTCounter, sealed)
	}
	if sealedCmd.TxnID != got.TxnID || sealedCmd.DisplayText != got.DisplayText || sealedCmd.Operation != applet.OpAuthenticate || len(resubmitted) != 1 {
		t.Fatalf("the command sent again differs: %+v, ids %v", sealedCmd, resubmitted)
	}
	if v := metricValue(t, reg, "imzagate_mt_counter_resyncs_total"); v != 1 {
		t.Fatalf("resyncs counted %v", v)
	}
	// A redelivery of the first PoR echoes the old counter: stale.
	if err := lowPoR(500); err != nil || st.sessions[sid].State != sessions.StateRunning || len(sealed) != 1 {
		t.Fatalf("stale PoR: %v %s sealed %v", err, st.sessions[sid].State, sealed)
	}
	// The card is further ahead still: the session ends, the user is told.
	if err := lowPoR(500 + sessions.ResyncStep); err != nil {
		t.Fatal(err)
	}
	if got := st.sessions[sid]; got.State != sessions.StateComplete || got.Result != sessions.ResultSIMError || len(sealed) != 1 {
		t.Fatalf("second CNTR low: %s/%s sealed %v", got.State, got.Result, sealed)
	}
}
