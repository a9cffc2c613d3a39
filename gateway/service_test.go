package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// memStore is a tiny in-memory Store built on fakeStore's Fn fields, enough
// to drive the start and correlation flows without Redis. Its fused
// operations are made of its single steps, called through the fake, so a
// test that replaces a step (CheckUserIDFn, CompleteFn, AcceptMOCounterFn,
// SubscriberFn) changes the fused operation too.
type memStore struct {
	fakeStore
	mu       sync.Mutex
	sessions map[string]sessions.Session
	idem     map[string]string
	counter  uint64
	moCntr   uint64
	user     testUser
}

func newMemStore(u testUser) *memStore {
	m := &memStore{sessions: map[string]sessions.Session{}, idem: map[string]string{}, user: u}
	m.CheckUserIDFn = func(_ context.Context, phone, userID string) (sessions.Subscriber, error) {
		if phone != u.sub.Phone || userID != "123456" {
			return sessions.Subscriber{}, sessions.ErrBadUserID
		}
		return u.sub, nil
	}
	m.SubscriberFn = func(_ context.Context, phone string) (sessions.Subscriber, error) {
		if phone != u.sub.Phone {
			return sessions.Subscriber{}, sessions.ErrNotFound
		}
		return u.sub, nil
	}
	m.CheckAndStartFn = func(ctx context.Context, phone, userID string,
		build func(sessions.Subscriber) (*sessions.Session, time.Duration, error)) (sessions.Subscriber, uint64, error) {
		sub, err := m.CheckUserID(ctx, phone, userID)
		if err != nil {
			return sessions.Subscriber{}, 0, err
		}
		sess, ttl, err := build(sub)
		if err != nil {
			return sub, 0, err
		}
		if err := m.start(sess, ttl); err != nil {
			return sub, 0, err
		}
		return sub, m.nextCounter(), nil
	}
	m.MarkSubmittedFn = func(_ context.Context, id string, ctr uint64, ids []string, at time.Time) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		s := m.sessions[id]
		s.MessageIDs, s.Submitted, s.MTCounter = ids, at, ctr
		m.sessions[id] = s
		return nil
	}
	m.MarkDeliveredFn = func(_ context.Context, id string, at time.Time) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		s, ok := m.sessions[id]
		switch {
		case !ok:
			return sessions.ErrNotFound
		case s.State == sessions.StateComplete:
			return sessions.ErrCompleted
		case !s.Delivered.IsZero():
			return sessions.ErrDuplicate
		}
		s.Delivered = at
		m.sessions[id] = s
		return nil
	}
	m.CompleteFn = func(_ context.Context, id string, r sessions.Result) (sessions.Session, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		s, ok := m.sessions[id]
		if !ok {
			return sessions.Session{}, sessions.ErrNotFound
		}
		if s.State == sessions.StateComplete {
			return sessions.Session{}, sessions.ErrDuplicate
		}
		s.State, s.Result, s.Signature, s.SigAlg, s.Completed = sessions.StateComplete, r.Code, r.Signature, r.SigAlg, testNow
		s.Container = r.Container
		m.sessions[id] = s
		return s, nil
	}
	m.GetFn = func(_ context.Context, id string) (sessions.Session, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		s, ok := m.sessions[id]
		if !ok {
			return sessions.Session{}, sessions.ErrNotFound
		}
		return s, nil
	}
	m.WaitOwnedSubscriberFn = func(ctx context.Context, id, portal string) (sessions.Session, sessions.Subscriber, error) {
		s, err := m.Get(ctx, id)
		if err == nil && s.Portal != portal {
			return sessions.Session{}, sessions.Subscriber{}, sessions.ErrNotFound
		}
		return s, sessions.Subscriber{}, err
	}
	m.ByTxnFn = func(_ context.Context, txn [8]byte) (sessions.Session, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, s := range m.sessions {
			if s.TxnID == txn {
				return s, nil
			}
		}
		return sessions.Session{}, sessions.ErrNotFound
	}
	m.RunningByPhoneFn = func(_ context.Context, phone string) (sessions.Session, error) {
		if s, ok := m.running(phone); ok {
			return s, nil
		}
		return sessions.Session{}, sessions.ErrNotFound
	}
	m.SubscriberAndRunningFn = func(ctx context.Context, phone string) (sessions.Subscriber, string, error) {
		sub, err := m.Subscriber(ctx, phone)
		if err != nil {
			return sessions.Subscriber{}, "", err
		}
		s, _ := m.running(phone)
		return sub, s.ID, nil
	}
	m.NextMTCounterFn = func(context.Context, string) (uint64, error) { return m.nextCounter(), nil }
	m.AcceptMOCounterFn = func(_ context.Context, _ string, c uint64) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if c <= m.moCntr {
			return sessions.ErrReplay
		}
		m.moCntr = c
		return nil
	}
	m.AcceptMOAndCompleteFn = func(ctx context.Context, iccid string, c uint64, id string, res sessions.Result) (sessions.Session, error, error) {
		counterErr := m.AcceptMOCounter(ctx, iccid, c)
		done, err := m.Complete(ctx, id, res)
		return done, counterErr, err
	}
	return m
}

// start is Start: one running session per phone, an Idempotency-Key
// returns the earlier session with ErrDuplicate.
func (m *memStore) start(s *sessions.Session, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s.IdempotencyKey != "" {
		if prev, ok := m.idem[s.Portal+"\x00"+s.IdempotencyKey]; ok {
			*s = m.sessions[prev]
			return sessions.ErrDuplicate
		}
	}
	for _, o := range m.sessions {
		if o.Phone == s.Phone && o.State == sessions.StateRunning {
			return sessions.ErrOutstanding
		}
	}
	s.ID = randomID(16)
	s.TxnID = randomTxn()
	s.State = sessions.StateRunning
	s.Accepted = testNow
	s.ExpiresAt = testNow.Add(ttl)
	m.sessions[s.ID] = *s
	if s.IdempotencyKey != "" {
		m.idem[s.Portal+"\x00"+s.IdempotencyKey] = s.ID
	}
	return nil
}

func (m *memStore) nextCounter() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counter++
	return m.counter
}

// running is the phone's running session.
func (m *memStore) running(phone string) (sessions.Session, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.sessions {
		if s.Phone == phone && s.State == sessions.StateRunning {
			return s, true
		}
	}
	return sessions.Session{}, false
}

func (m *memStore) only(t *testing.T) sessions.Session {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(m.sessions))
	}
	for _, s := range m.sessions {
		return s
	}
	return sessions.Session{}
}

// randomID returns n random bytes, hex encoded.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func body(phone, userID, extra string) string {
	return `{"phoneNumber":"` + phone + `","userId":"` + userID + `","hash":"` + validHash + `","hashType":"SHA256"` + extra + `}`
}

func TestStartLoginSubmitsSealedCommand(t *testing.T) {
	u := newTestUser(t)
	st := newMemStore(u)
	var gotMSISDN string
	var gotCmd *applet.Command
	var gotCounter uint64
	snd := &fakeSender{SubmitFn: func(_ context.Context, msisdn string, segs [][]byte) ([]string, error) {
		gotMSISDN = msisdn
		return []string{"m1"}, nil
	}}
	codec := &fakeOTA{SealFn: func(iccid string, c uint64, cmd *applet.Command, _ byte) ([][]byte, error) {
		gotCmd, gotCounter = cmd, c
		return [][]byte{{1}}, nil
	}}
	s, reg := newTestServer(t, &st.fakeStore, snd, codec)
	resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("0501234567", "123456", `,"displayText":"Giriş","callbackUrl":"https://portal.example/cb"`))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d %v", resp.StatusCode, m)
	}
	sess := st.only(t)
	h, _ := base64.StdEncoding.DecodeString(validHash)
	wantCode := fmt.Sprintf("%04d", uint16(h[0]>>2)<<7|uint16(h[31]&0x7F))
	if m["sessionId"] != sess.ID || m["verificationCode"] != wantCode || sess.VerificationCode != wantCode {
		t.Fatalf("answer %v, session %+v, want code %s", m, sess, wantCode)
	}
	if gotMSISDN != "994501234567" || gotCounter != 1 {
		t.Fatalf("submit to %q counter %d", gotMSISDN, gotCounter)
	}
	if gotCmd.Operation != applet.OpAuthenticate || gotCmd.KeyRef != applet.KeyRefAuth || gotCmd.DisplayText != "e-taxes: Giriş" ||
		gotCmd.TxnID != sess.TxnID || gotCmd.UserTimeout != 30 || gotCmd.HashAlg != applet.HashSHA256 ||
		gotCmd.VerificationCode != uint16(h[0]>>2)<<7|uint16(h[31]&0x7F) {
		t.Fatalf("command %+v", gotCmd)
	}
	if sess.State != sessions.StateRunning || sess.Operation != "AUTHENTICATE" || sess.HashAlg != "SHA256" || sess.KeyRef != 1 || len(sess.MessageIDs) != 1 || sess.Portal != "p1" || sess.Phone != "+994501234567" ||
		sess.CallbackURL != "https://portal.example/cb" {
		t.Fatalf("session %+v", sess)
	}
	if got := metricValue(t, reg, "imzagate_sessions_started_total", "operation", "AUTHENTICATE", "portal", "p1"); got != 1 {
		t.Fatalf("sessions started %v", got)
	}
	if resp.Header.Get("Location") != "/v1/sessions/"+sess.ID {
		t.Fatalf("Location %q", resp.Header.Get("Location"))
	}
}

func TestStartErrors(t *testing.T) {
	u := newTestUser(t)
	okSender := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { return []string{"m"}, nil }}
	signBody := func(cert string) string { return body("+994501234567", "123456", `,"certificate":`+cert) }
	tests := []struct {
		name       string
		path, body string
		key        string
		prep       func(m *memStore, snd *fakeSender)
		status     int
		code       string
		retryAfter string
		completed  string // result the session must be completed with, "" for no session
	}{
		{name: "wrong user id", path: "/v1/authentications", body: body("+994501234567", "654321", ""), key: key1, status: 422, code: CodeUserUnknown},
		{name: "unknown phone same answer", path: "/v1/authentications", body: body("+994559999999", "123456", ""), key: key1, status: 422, code: CodeUserUnknown},
		{name: "locked out", path: "/v1/authentications", body: body("+994501234567", "123456", ""), key: key1,
			prep: func(m *memStore, _ *fakeSender) {
				m.CheckUserIDFn = func(context.Context, string, string) (sessions.Subscriber, error) {
					return sessions.Subscriber{}, &sessions.LockedError{RetryAfter: 90 * time.Second}
				}
			}, status: 423, code: CodeUserLocked, retryAfter: "90"},
		{name: "outstanding", path: "/v1/authentications", body: body("+994501234567", "123456", ""), key: key1,
			prep: func(m *memStore, _ *fakeSender) {
				m.sessions["x"] = sessions.Session{ID: "x", Phone: "+994501234567", State: sessions.StateRunning}
			}, status: 409, code: CodeOutstanding},
		{name: "store down", path: "/v1/authentications", body: body("+994501234567", "123456", ""), key: key1,
			prep: func(m *memStore, _ *fakeSender) {
				m.CheckUserIDFn = func(context.Context, string, string) (sessions.Subscriber, error) {
					return sessions.Subscriber{}, fmt.Errorf("sessions: check user id: %w: %w", sessions.ErrUnavailable, errStoreDown)
				}
			}, status: 503, code: CodeStoreUnavailable},
		{name: "operator breaker open", path: "/v1/authentications", body: body("+994501234567", "123456", ""), key: key1,
			prep: func(_ *memStore, snd *fakeSender) {
				snd.SubmitFn = func(context.Context, string, [][]byte) ([]string, error) { return nil, smpp.ErrOperatorUnavailable }
			}, status: 503, code: CodeOperatorUnavailable, completed: sessions.ResultDeliveryError},
		{name: "no route", path: "/v1/authentications", body: body("+994501234567", "123456", ""), key: key1,
			prep: func(_ *memStore, snd *fakeSender) {
				snd.SubmitFn = func(context.Context, string, [][]byte) ([]string, error) { return nil, smpp.ErrNoRoute }
			}, status: 503, code: CodeOperatorUnavailable, completed: sessions.ResultDeliveryError},
		{name: "expired certificate", path: "/v1/signatures", body: signBody(`{"type":"business","taxId":"9876543211"}`), key: key1, status: 422, code: CodeCertificateExpired},
		{name: "revoked certificate", path: "/v1/signatures", body: signBody(`{"type":"government"}`), key: key1, status: 422, code: CodeCertificateRevoked},
		{name: "no such company", path: "/v1/signatures", body: signBody(`{"type":"business","taxId":"5555555555"}`), key: key1, status: 422, code: CodeCertificateNotFound},
		{name: "no auth certificate", path: "/v1/authentications", body: body("+994501234567", "123456", ""), key: key1,
			prep: func(m *memStore, _ *fakeSender) {
				sub := u.sub
				sub.Certificates = sub.Certificates[1:]
				m.CheckUserIDFn = func(context.Context, string, string) (sessions.Subscriber, error) { return sub, nil }
			}, status: 422, code: CodeCertificateNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore(u)
			snd := &fakeSender{SubmitFn: okSender.SubmitFn}
			if tt.prep != nil {
				tt.prep(st, snd)
			}
			s, _ := newTestServer(t, &st.fakeStore, snd, &fakeOTA{})
			resp, m := call(t, s.Handler(), "POST", tt.path, tt.key, tt.body)
			if resp.StatusCode != tt.status || m["code"] != tt.code {
				t.Fatalf("got %d %v, want %d %s", resp.StatusCode, m, tt.status, tt.code)
			}
			if ra := resp.Header.Get("Retry-After"); ra != tt.retryAfter {
				t.Fatalf("Retry-After %q, want %q", ra, tt.retryAfter)
			}
			if tt.completed != "" {
				if sess := st.only(t); sess.Result != tt.completed || sess.State != sessions.StateComplete {
					t.Fatalf("session %+v, want completed %s", sess, tt.completed)
				}
			}
		})
	}
}

func TestSignPicksCertificateByTypeAndTaxID(t *testing.T) {
	u := newTestUser(t)
	tests := []struct {
		name, cert string
		wantRef    byte
	}{
		{"personal", `{"type":"personal"}`, 2},
		{"business by VÖEN", `{"type":"business","taxId":"1234567891"}`, 3},
		{"only active business", `{"type":"business"}`, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore(u)
			var ref byte
			codec := &fakeOTA{SealFn: func(_ string, _ uint64, c *applet.Command, _ byte) ([][]byte, error) { ref = c.KeyRef; return nil, nil }}
			snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { return []string{"m"}, nil }}
			s, _ := newTestServer(t, &st.fakeStore, snd, codec)
			resp, m := call(t, s.Handler(), "POST", "/v1/signatures", key1, body("+994501234567", "123456", `,"certificate":`+tt.cert))
			if resp.StatusCode != 201 || ref != tt.wantRef || st.only(t).Operation != sessions.OpSign {
				t.Fatalf("status %d %v key ref %d, want %d", resp.StatusCode, m, ref, tt.wantRef)
			}
		})
	}
}

func TestIdempotencyKeyReturnsSameSession(t *testing.T) {
	st := newMemStore(newTestUser(t))
	submits := 0
	snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { submits++; return []string{"m"}, nil }}
	s, _ := newTestServer(t, &st.fakeStore, snd, &fakeOTA{})
	_, a := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", ""), "Idempotency-Key", "order-1")
	r2, b := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", ""), "Idempotency-Key", "order-1")
	if r2.StatusCode != 201 || a["sessionId"] != b["sessionId"] || submits != 1 {
		t.Fatalf("first %v second %d %v submits %d", a, r2.StatusCode, b, submits)
	}
	// The same key from another portal is another request.
	r3, c := call(t, s.Handler(), "POST", "/v1/authentications", key2, body("+994501234567", "123456", ""), "Idempotency-Key", "order-1")
	if r3.StatusCode != 409 {
		t.Fatalf("other portal: %d %v", r3.StatusCode, c)
	}
}

func TestRateLimit(t *testing.T) {
	st := newMemStore(newTestUser(t))
	s, _ := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{})
	// p2 has a burst of 2 at 1/s with a frozen clock: the third call is refused.
	for i := range 3 {
		resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key2, body("+994501234567", "654321", ""))
		want := 422
		if i == 2 {
			want = 429
		}
		if resp.StatusCode != want {
			t.Fatalf("call %d: %d %v", i, resp.StatusCode, m)
		}
		if i == 2 && (m["code"] != CodeRateLimited || resp.Header.Get("Retry-After") != "1") {
			t.Fatalf("rate limited answer %v %q", m, resp.Header.Get("Retry-After"))
		}
	}
}

func TestSessionGetOwnPortalOnly(t *testing.T) {
	u := newTestUser(t)
	st := newMemStore(u)
	h := sha256.Sum256([]byte("doc"))
	sig := signECDSA(t, u.keys[1], h[:])
	st.sessions["00112233445566778899aabbccddeeff"] = sessions.Session{ID: "00112233445566778899aabbccddeeff", Portal: "p1", Phone: u.sub.Phone,
		Operation: sessions.OpAuthenticate, KeyRef: 1, State: sessions.StateComplete, Result: sessions.ResultOK, Signature: sig,
		SigAlg: applet.SigECDSAP256.String(), Accepted: testNow, Completed: testNow.Add(time.Second)}
	s, _ := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{})
	resp, m := call(t, s.Handler(), "GET", "/v1/sessions/00112233445566778899aabbccddeeff", key2, "")
	if resp.StatusCode != 404 || m["code"] != CodeSessionNotFound {
		t.Fatalf("other portal: %d %v", resp.StatusCode, m)
	}
	resp, m = call(t, s.Handler(), "GET", "/v1/sessions/00112233445566778899aabbccddeeff?timeoutMs=0", key1, "")
	if resp.StatusCode != 200 || m["state"] != sessions.StateComplete || m["result"] != sessions.ResultOK {
		t.Fatalf("own portal: %d %v", resp.StatusCode, m)
	}
	cert, _ := m["certificate"].(map[string]any)
	certs, _ := m["certificates"].([]any)
	if cert["subject"] != "C=AZ, CN=Test User, serialNumber=PNOAZ-1ABC234" && cert["subject"] != "serialNumber=PNOAZ-1ABC234, CN=Test User, C=AZ" {
		t.Fatalf("subject %q", cert["subject"])
	}
	if cert["type"] != CertAuthentication || len(certs) != len(u.sub.Certificates) || !strings.HasPrefix(cert["pem"].(string), "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("certificates %v / %d", cert, len(certs))
	}
	sigj, _ := m["signature"].(map[string]any)
	if sigj["algorithm"] != "ECDSA_P256" || sigj["value"] != base64.StdEncoding.EncodeToString(sig) {
		t.Fatalf("signature %v", sigj)
	}
}

func TestCertificateList(t *testing.T) {
	u := newTestUser(t)
	st := newMemStore(u)
	s, _ := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{})
	resp, m := call(t, s.Handler(), "GET", "/v1/certificates?phoneNumber=994501234567&userId=123456", key1, "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
	list := m["certificates"].([]any)
	want := map[float64]struct {
		status  string
		renewal bool
	}{}
	_ = want
	got := map[string][2]any{}
	for _, c := range list {
		c := c.(map[string]any)
		got[c["type"].(string)+"/"+str(c["taxId"])] = [2]any{c["status"], c["renewalOpen"]}
	}
	exp := map[string][2]any{
		"authentication/":       {"active", false},
		"personal/":             {"active", false},
		"business/1234567891":   {"active", true}, // 10 days left: renewal open
		"business/9876543211":   {"expired", false},
		"government/1111111111": {"revoked", false},
	}
	for k, v := range exp {
		if got[k] != v {
			t.Fatalf("%s: got %v want %v (all %v)", k, got[k], v, got)
		}
	}
}

func str(v any) string { s, _ := v.(string); return s }

func TestLongPollAnswersOnCompletion(t *testing.T) {
	st := newMemStore(newTestUser(t))
	st.sessions["00112233445566778899aabbccddeeff"] = sessions.Session{ID: "00112233445566778899aabbccddeeff", Portal: "p1", State: sessions.StateRunning}
	released := make(chan struct{})
	st.WaitOwnedSubscriberFn = func(ctx context.Context, id, portal string) (sessions.Session, sessions.Subscriber, error) {
		if portal != "p1" {
			t.Errorf("waited as portal %q", portal)
		}
		select {
		case <-released:
			return sessions.Session{ID: id, Portal: "p1", State: sessions.StateComplete, Result: sessions.ResultUserCancelled}, sessions.Subscriber{}, nil
		case <-ctx.Done():
			return sessions.Session{}, sessions.Subscriber{}, ctx.Err()
		}
	}
	s, _ := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{})
	go close(released)
	resp, m := call(t, s.Handler(), "GET", "/v1/sessions/00112233445566778899aabbccddeeff?timeoutMs=120000", key1, "")
	if resp.StatusCode != 200 || m["result"] != sessions.ResultUserCancelled {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
	// A wait that runs out answers with the current (running) state.
	st.WaitOwnedSubscriberFn = func(ctx context.Context, id, _ string) (sessions.Session, sessions.Subscriber, error) {
		<-ctx.Done()
		return sessions.Session{}, sessions.Subscriber{}, ctx.Err()
	}
	resp, m = call(t, s.Handler(), "GET", "/v1/sessions/00112233445566778899aabbccddeeff?timeoutMs=20", key1, "")
	if resp.StatusCode != 200 || m["state"] != sessions.StateRunning || m["result"] != nil {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
}

// TestDrainAnswersLongPolls: a long-poll returns the current state as soon
// as the server drains, instead of holding up the shutdown.
func TestDrainAnswersLongPolls(t *testing.T) {
	st := newMemStore(newTestUser(t))
	st.sessions["00112233445566778899aabbccddeeff"] = sessions.Session{ID: "00112233445566778899aabbccddeeff", Portal: "p1", State: sessions.StateRunning}
	waiting := make(chan struct{})
	st.WaitOwnedSubscriberFn = func(ctx context.Context, id, _ string) (sessions.Session, sessions.Subscriber, error) {
		close(waiting)
		<-ctx.Done()
		return sessions.Session{}, sessions.Subscriber{}, ctx.Err()
	}
	s, _ := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{})
	go func() { <-waiting; s.Drain() }()
	start := time.Now()
	resp, m := call(t, s.Handler(), "GET", "/v1/sessions/00112233445566778899aabbccddeeff?timeoutMs=120000", key1, "")
	if resp.StatusCode != 200 || m["state"] != sessions.StateRunning || time.Since(start) > 10*time.Second {
		t.Fatalf("%d %v after %v", resp.StatusCode, m, time.Since(start))
	}
}

// errStoreDown is a store failure the SMSC must be told about.
var errStoreDown = errors.New("redis: connection refused")

func randomTxn() [8]byte {
	var t [8]byte
	_, _ = rand.Read(t[:])
	return t
}

// TestOpenAPIServed checks the document is served, parses as YAML and
// documents every route the mux registers.
func TestOpenAPIServed(t *testing.T) {
	s, _ := newTestServer(t, &fakeStore{}, &fakeSender{}, &fakeOTA{})
	req := httptest.NewRequest("GET", "/v1/openapi.yaml", nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var doc struct {
		OpenAPI string         `yaml:"openapi"`
		Paths   map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != 200 {
		t.Fatalf("%d %v", rec.Code, err)
	}
	for _, p := range []string{"/v1/authentications", "/v1/signatures", "/v1/sessions/{id}", "/v1/certificates", "/v1/demo/subscribers"} {
		if doc.Paths[p] == nil {
			t.Errorf("path %s undocumented", p)
		}
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
}

// TestDrainingRefusesNewSessions: once draining starts, a start is answered
// 503 SHUTTING_DOWN with Retry-After, and nothing reaches the store or the
// operator; reads still work so in-flight sessions can be polled to the end.
func TestDrainingRefusesNewSessions(t *testing.T) {
	u := newTestUser(t)
	st := newMemStore(u)
	submits := 0
	snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) {
		submits++
		return []string{"m1"}, nil
	}}
	s, _ := newTestServer(t, &st.fakeStore, snd, &fakeOTA{})
	s.Drain()
	resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("0501234567", "123456", ""))
	if resp.StatusCode != http.StatusServiceUnavailable || m["code"] != CodeShuttingDown || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("start while draining: %d %v Retry-After=%q", resp.StatusCode, m, resp.Header.Get("Retry-After"))
	}
	if submits != 0 || len(st.sessions) != 0 {
		t.Fatalf("draining start reached the operator (%d submits) or the store (%d sessions)", submits, len(st.sessions))
	}
}

// TestStartDrawsTheCounterWhenTheStartDidNot: when CheckAndStart could not
// draw the MT counter with the start (it answers 0), the start flow draws
// one; when that fails, the session ends as DELIVERY_ERROR and the portal
// gets the store's error.
func TestStartDrawsTheCounterWhenTheStartDidNot(t *testing.T) {
	for _, tt := range []struct {
		name       string
		next       func(context.Context, string) (uint64, error)
		status     int
		wantSealed uint64 // counter the command was sealed with, 0 for none
		completed  string
	}{
		{"drawn after the start", func(context.Context, string) (uint64, error) { return 7, nil }, 201, 7, ""},
		{"store down", func(context.Context, string) (uint64, error) {
			return 0, fmt.Errorf("sessions: next mt counter: %w", sessions.ErrUnavailable)
		}, 503, 0, sessions.ResultDeliveryError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newTestUser(t)
			st := newMemStore(u)
			start := st.CheckAndStartFn
			st.CheckAndStartFn = func(ctx context.Context, phone, userID string,
				build func(sessions.Subscriber) (*sessions.Session, time.Duration, error)) (sessions.Subscriber, uint64, error) {
				sub, _, err := start(ctx, phone, userID, build)
				return sub, 0, err
			}
			var iccid string
			st.NextMTCounterFn = func(ctx context.Context, c string) (uint64, error) { iccid = c; return tt.next(ctx, c) }
			var sealed uint64
			codec := &fakeOTA{SealFn: func(_ string, c uint64, _ *applet.Command, _ byte) ([][]byte, error) { sealed = c; return nil, nil }}
			snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { return []string{"m"}, nil }}
			s, _ := newTestServer(t, &st.fakeStore, snd, codec)
			resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", ""))
			if resp.StatusCode != tt.status || sealed != tt.wantSealed || iccid != u.sub.ICCID {
				t.Fatalf("%d %v: sealed with counter %d of card %q", resp.StatusCode, m, sealed, iccid)
			}
			if sess := st.only(t); sess.Result != tt.completed {
				t.Fatalf("session %s/%s, want result %q", sess.State, sess.Result, tt.completed)
			}
		})
	}
}
