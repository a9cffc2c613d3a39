package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
)

// TestHandleMO drives every branch of the correlator: what it completes the
// session with, and whether it asks the SMSC to redeliver.
func TestHandleMO(t *testing.T) {
	u := newTestUser(t)
	hash := sha256.Sum256([]byte("document"))
	goodSig := signECDSA(t, u.keys[2], hash[:])
	otherSig := signECDSA(t, u.keys[3], hash[:])
	const sid = "00112233445566778899aabbccddeeff"
	txn := randomTxn()
	running := Session{ID: sid, Portal: "p1", Phone: u.sub.Phone, ICCID: u.sub.ICCID, Operation: OpSign, KeyRef: 2,
		Hash: hash[:], TxnID: txn, State: StateRunning, Accepted: testNow}
	reply := func(st byte, sig []byte) MO {
		return MO{Kind: MOReply, Counter: 5, TxnID: txn, Status: st, SigAlg: SigECDSAP256, Signature: sig, PINTriesLeft: 3}
	}
	tests := []struct {
		name       string
		source     string
		mo         MO
		openErr    error
		prep       func(m *memStore)
		wantResult string // "" = session still running
		wantErr    bool
		metric     string
		labels     []string
	}{
		{name: "ok signature", mo: reply(0, goodSig), wantResult: ResultOK, metric: "imzagate_sessions_completed_total", labels: []string{"result", "OK"}},
		{name: "signature of another key", mo: reply(0, otherSig), wantResult: ResultSignatureInvalid},
		{name: "algorithm mismatch", mo: func() MO { m := reply(0, goodSig); m.SigAlg = SigEd25519; return m }(), wantResult: ResultSignatureInvalid},
		{name: "user cancelled", mo: reply(1, nil), wantResult: ResultUserCancelled},
		{name: "pin blocked", mo: reply(2, nil), wantResult: ResultPINBlocked},
		{name: "card blocked", mo: reply(3, nil), wantResult: ResultCardBlocked},
		{name: "no key", mo: reply(4, nil), wantResult: ResultNoKey},
		{name: "user timeout", mo: reply(5, nil), wantResult: ResultTimeout},
		{name: "bad request", mo: reply(6, nil), wantResult: ResultSIMError},
		{name: "busy", mo: reply(8, nil), wantResult: ResultSIMError},
		{name: "error PoR", mo: MO{Kind: MOPoR, PoRStatus: 0x01}, wantResult: ResultSIMError, metric: "imzagate_ota_errors_total", labels: []string{"reason", "por_status"}},
		{name: "bad checksum", openErr: &OTAError{Reason: "checksum", Err: errors.New("cc")}, wantResult: ResultSIMError, metric: "imzagate_ota_errors_total", labels: []string{"reason", "checksum"}},
		{name: "unknown phone acknowledged", source: "994559999999", mo: reply(0, goodSig), metric: "imzagate_mo_unmatched_total", labels: []string{"reason", "unknown_phone"}},
		{name: "unknown transaction acknowledged", mo: func() MO { m := reply(0, goodSig); m.TxnID = randomTxn(); return m }(),
			metric: "imzagate_mo_unmatched_total", labels: []string{"reason", "no_session"}},
		{name: "replay of a completed session", mo: reply(0, goodSig), prep: func(m *memStore) {
			s := m.sessions[sid]
			s.State, s.Result = StateComplete, ResultUserCancelled
			m.sessions[sid] = s
			m.moCntr = 9
		}, wantResult: ResultUserCancelled, metric: "imzagate_mo_replays_total"},
		{name: "redelivery after a failed completion", mo: reply(0, goodSig), prep: func(m *memStore) { m.moCntr = 5 }, wantResult: ResultOK},
		{name: "store down on counter asks redelivery", mo: reply(0, goodSig), prep: func(m *memStore) {
			m.AcceptMOCounterFn = func(context.Context, string, uint64) error { return errStoreDown }
		}, wantErr: true},
		{name: "store down on complete asks redelivery", mo: reply(0, goodSig), prep: func(m *memStore) {
			m.CompleteFn = func(context.Context, string, Result) (Session, error) { return Session{}, errStoreDown }
		}, wantErr: true},
		{name: "store down on lookup asks redelivery", mo: reply(0, goodSig), prep: func(m *memStore) {
			m.SubscriberFn = func(context.Context, string) (Subscriber, error) { return Subscriber{}, errStoreDown }
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore(u)
			st.sessions[sid] = running
			if tt.prep != nil {
				tt.prep(st)
			}
			ota := &fakeOTA{OpenFn: func(iccid string, ud []byte) (MO, error) {
				if iccid != u.sub.ICCID {
					t.Errorf("opened with ICCID %s", iccid)
				}
				return tt.mo, tt.openErr
			}}
			s, reg := newTestServer(t, &st.fakeStore, &fakeSender{}, ota)
			src := tt.source
			if src == "" {
				src = "994501234567"
			}
			err := s.HandleMO(t.Context(), src, []byte{0x02, 0x70, 0x00})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			got := st.sessions[sid]
			if tt.wantResult == "" && got.State != StateRunning {
				t.Fatalf("session completed as %s, want running", got.Result)
			}
			if tt.wantResult != "" && (got.State != StateComplete || got.Result != tt.wantResult) {
				t.Fatalf("session %s/%s, want %s", got.State, got.Result, tt.wantResult)
			}
			if tt.wantResult == ResultOK && string(got.Signature) != string(goodSig) {
				t.Fatal("signature not stored")
			}
			if tt.metric != "" && metricValue(t, reg, tt.metric, tt.labels...) != 1 {
				t.Fatalf("%s%v did not move", tt.metric, tt.labels)
			}
		})
	}
}

func TestHandleReceipt(t *testing.T) {
	const sid = "00112233445566778899aabbccddeeff"
	tests := []struct {
		name, stat, msgID string
		submitted         bool
		wantResult        string
		wantDelivered     bool
		wantErr           bool
	}{
		{"delivered", "DELIVRD", "m1", true, "", true, false},
		{"undeliverable", "UNDELIV", "m1", true, ResultDeliveryError, false, false},
		{"rejected", "REJECTD", "m2", true, ResultDeliveryError, false, false},
		{"expired", "EXPIRED", "m1", true, ResultPhoneAbsent, false, false},
		{"other message", "UNDELIV", "zz", true, "", false, false},
		{"failure before submit recorded", "UNDELIV", "m1", false, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore(newTestUser(t))
			sess := Session{ID: sid, Portal: "p1", Phone: "+994501234567", State: StateRunning, Accepted: testNow}
			if tt.submitted {
				sess.MessageIDs, sess.Submitted = []string{"m1", "m2"}, testNow
			}
			st.sessions[sid] = sess
			s, _ := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{})
			err := s.HandleReceipt(t.Context(), Receipt{Source: "994501234567", MessageID: tt.msgID, Stat: tt.stat})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v", err)
			}
			got := st.sessions[sid]
			if got.Result != tt.wantResult || got.Delivered.IsZero() == tt.wantDelivered {
				t.Fatalf("session %+v", got)
			}
		})
	}
}

// TestTimeoutCompletesSession lets a session run out on fake time: the
// timer completes it as TIMEOUT just before the store would expire it, once,
// with the metric.
func TestTimeoutCompletesSession(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore(newTestUser(t))
		snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { return []string{"m"}, nil }}
		var mu sync.Mutex
		var completions []Result
		done := func() []Result { mu.Lock(); defer mu.Unlock(); return append([]Result(nil), completions...) }
		complete := st.CompleteFn
		st.CompleteFn = func(ctx context.Context, id string, r Result) (Session, error) {
			s, err := complete(ctx, id, r)
			if err == nil {
				mu.Lock()
				completions = append(completions, r)
				mu.Unlock()
			}
			return s, err
		}
		s, reg := newTestServer(t, &st.fakeStore, snd, &fakeOTA{}, func(o *ServerOptions) {
			o.UserTimeout = 20 * time.Second
			o.DeliveryGrace = 10 * time.Second
			start := time.Now() // the bubble's fake clock
			o.Now = func() time.Time { return testNow.Add(time.Since(start)) }
		})
		resp, m := call(t, s.Handler(), "POST", "/v1/authentications", key1, body("+994501234567", "123456", ""))
		if resp.StatusCode != 201 {
			t.Fatalf("%d %v", resp.StatusCode, m)
		}
		time.Sleep(29 * time.Second)
		synctest.Wait()
		if c := done(); len(c) != 0 {
			t.Fatalf("completed early: %v", c)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if c := done(); len(c) != 1 || c[0].Result != ResultTimeout {
			t.Fatalf("completions %v", c)
		}
		if metricValue(t, reg, "imzagate_sessions_completed_total", "result", ResultTimeout) != 1 {
			t.Fatal("timeout not counted")
		}
	})
}

// TestCallbacks checks the signed POST, the retry after a failure, and that
// the body is the session view.
func TestCallbacks(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var sigs []string
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies, sigs = append(bodies, b), append(sigs, r.Header.Get(CallbackSignatureHeader))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	host := strings.Split(strings.TrimPrefix(srv.URL, "https://"), ":")[0]
	u := newTestUser(t)
	st := newMemStore(u)
	const sid = "00112233445566778899aabbccddeeff"
	st.sessions[sid] = Session{ID: sid, Portal: "p1", Phone: u.sub.Phone, State: StateRunning, CallbackURL: srv.URL + "/cb", Accepted: testNow}
	s, reg := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{}, func(o *ServerOptions) {
		o.Portals[0].CallbackHosts = []string{host}
		o.Portals[0].CallbackSecretEnv = "CB_SECRET"
		o.LookupEnv = func(k string) (string, bool) { return "s3cret", k == "CB_SECRET" }
		o.Callbacks = CallbackOptions{Backoff: time.Millisecond, Client: srv.Client()}
	})
	if err := s.completeLocal(t.Context(), s.log, st.sessions[sid], Result{Result: ResultUserCancelled, Completed: testNow}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(t, reg, "imzagate_callbacks_sent_total") < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || !strings.Contains(string(bodies[0]), `"result":"USER_CANCELLED"`) {
		t.Fatalf("bodies %q", bodies)
	}
	ts := strings.TrimPrefix(strings.Split(sigs[0], ",")[0], "t=")
	var when int64
	for _, c := range ts {
		when = when*10 + int64(c-'0')
	}
	if sigs[0] != signCallback([]byte("s3cret"), bodies[0], time.Unix(when, 0)) {
		t.Fatalf("signature %q does not match the body", sigs[0])
	}
	if metricValue(t, reg, "imzagate_callbacks_retried_total") != 1 {
		t.Fatal("retry not counted")
	}
}

func TestVerifySignature(t *testing.T) {
	u := newTestUser(t)
	hash := sha256.Sum256([]byte("x"))
	ecCert, _ := x509.ParseCertificate(u.sub.Certificates[1].DER)
	edPriv, edDER := edKey(t)
	edCert, _ := x509.ParseCertificate(edDER)
	mlPub, mlPriv, _ := mldsa44.GenerateKey(nil)
	mlCert := mldsaCert(t, mlPub)
	mlSig := make([]byte, mldsa44.SignatureSize)
	if err := mldsa44.SignTo(mlPriv, hash[:], nil, false, mlSig); err != nil {
		t.Fatal(err)
	}
	edSig := edSign(edPriv, hash[:])
	ecSig := signECDSA(t, u.keys[2], hash[:])
	flip := func(b []byte) []byte { c := append([]byte(nil), b...); c[len(c)/2] ^= 1; return c }
	tests := []struct {
		name string
		cert *x509.Certificate
		alg  string
		sig  []byte
		ok   bool
	}{
		{"ecdsa", ecCert, SigECDSAP256, ecSig, true},
		{"ecdsa flipped", ecCert, SigECDSAP256, flip(ecSig), false},
		{"ecdsa short", ecCert, SigECDSAP256, ecSig[:63], false},
		{"ed25519", edCert, SigEd25519, edSig, true},
		{"ed25519 flipped", edCert, SigEd25519, flip(edSig), false},
		{"ml-dsa-44", mlCert, SigMLDSA44, mlSig, true},
		{"ml-dsa-44 flipped", mlCert, SigMLDSA44, flip(mlSig), false},
		{"algorithm not the key's", edCert, SigMLDSA44, edSig, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := verifySignature(tt.cert, tt.alg, hash[:], tt.sig)
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if keyAlgorithm(mlCert) != SigMLDSA44 || keyAlgorithm(edCert) != SigEd25519 || keyAlgorithm(ecCert) != SigECDSAP256 {
		t.Fatal("keyAlgorithm")
	}
}

// TestCallbackQueueNeverBlocks: with a portal that hangs, enqueue returns
// at once, excess callbacks are dropped and counted, and close is bounded.
func TestCallbackQueueNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	reg := prometheusRegistry()
	m := newMetrics(reg)
	c := newCallbacks(CallbackOptions{Workers: 1, Queue: 2, Attempts: 1, Timeout: time.Minute, Client: srv.Client()}, m, discardLogger())
	start := time.Now()
	for range 10 {
		c.enqueue(callbackJob{url: srv.URL, body: []byte("{}"), sessionID: "s"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("enqueue blocked for %v", d)
	}
	// One in flight, two queued: at least seven dropped.
	if got := metricValue(t, reg, "imzagate_callbacks_dropped_total"); got < 7 {
		t.Fatalf("dropped %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	_ = c.close(ctx)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("close took %v", d)
	}
}
