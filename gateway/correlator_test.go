package gateway

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/ota"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
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
	running := sessions.Session{ID: sid, Portal: "p1", Phone: u.sub.Phone, ICCID: u.sub.ICCID, Operation: sessions.OpSign, KeyRef: 2,
		Hash: hash[:], TxnID: txn, State: sessions.StateRunning, Accepted: testNow, Submitted: testNow, MTCounter: 77}
	por := func(st byte, counter uint64, secured bool) applet.MO {
		return applet.MO{Kind: applet.MOPoR, PoRStatus: st, Counter: counter, PoRSecured: secured}
	}
	reply := func(st byte, sig []byte) applet.MO {
		r := applet.Response{TxnID: txn, Status: applet.Status(st), PINTriesLeft: 3}
		if sig != nil {
			r.SigAlg, r.Signature = applet.SigECDSAP256, sig
		}
		return applet.MO{Kind: applet.MOReply, Counter: 5, Response: r}
	}
	withAlg := func(m applet.MO, a applet.SigAlg) applet.MO { m.Response.SigAlg = a; return m }
	withTxn := func(m applet.MO, txn [8]byte) applet.MO { m.Response.TxnID = txn; return m }
	tests := []struct {
		name       string
		source     string
		dcs        byte // 0: 0xF6
		mo         applet.MO
		openErr    error
		prep       func(m *memStore)
		wantResult string // "" = session still running
		wantErr    bool
		metric     string
		labels     []string
	}{
		{name: "ok signature", mo: reply(0, goodSig), wantResult: sessions.ResultOK, metric: "imzagate_sessions_completed_total", labels: []string{"result", "OK"}},
		{name: "signature of another key", mo: reply(0, otherSig), wantResult: sessions.ResultSignatureInvalid},
		{name: "algorithm mismatch", mo: withAlg(reply(0, goodSig), applet.SigEd25519), wantResult: sessions.ResultSignatureInvalid},
		{name: "user cancelled", mo: reply(1, nil), wantResult: sessions.ResultUserCancelled},
		{name: "pin blocked", mo: reply(2, nil), wantResult: sessions.ResultPINBlocked},
		{name: "card blocked", mo: reply(3, nil), wantResult: sessions.ResultCardBlocked},
		{name: "no key", mo: reply(4, nil), wantResult: sessions.ResultNoKey},
		{name: "user timeout", mo: reply(5, nil), wantResult: sessions.ResultTimeout},
		{name: "bad request", mo: reply(6, nil), wantResult: sessions.ResultSIMError},
		{name: "busy", mo: reply(8, nil), wantResult: sessions.ResultSIMError},
		{name: "error PoR answering the session's MT", mo: por(0x01, 77, true), wantResult: sessions.ResultSIMError, metric: "imzagate_ota_errors_total", labels: []string{"reason", "por_status"}},
		{name: "error PoR insufficient memory", mo: por(0x07, 77, true), wantResult: sessions.ResultSIMError},
		{name: "error PoR of an earlier MT changes nothing", mo: por(0x01, 76, true), metric: "imzagate_ota_errors_total", labels: []string{"reason", "por_stale"}},
		{name: "unsecured PoR changes nothing", mo: por(0x06, 0, false), metric: "imzagate_ota_errors_total", labels: []string{"reason", "por_unsecured"}},
		{name: "unsecured TAR PoR changes nothing", mo: por(0x09, 77, false), metric: "imzagate_ota_errors_total", labels: []string{"reason", "por_unsecured"}},
		{name: "more-time PoR changes nothing", mo: por(0x08, 77, true), metric: "imzagate_ota_errors_total", labels: []string{"reason", "por_info"}},
		{name: "response-by-SMS PoR changes nothing", mo: por(0x0B, 77, true), metric: "imzagate_ota_errors_total", labels: []string{"reason", "por_info"}},
		{name: "OK PoR changes nothing", mo: por(0x00, 77, true), metric: "imzagate_ota_errors_total", labels: []string{"reason", "por_info"}},
		{name: "bad checksum changes nothing", openErr: fmt.Errorf("cc: %w", ota.ErrChecksum), metric: "imzagate_ota_errors_total", labels: []string{"reason", "checksum"}},
		{name: "card keys not derivable changes nothing", openErr: applet.ErrICCID, metric: "imzagate_ota_errors_total", labels: []string{"reason", "keys"}},
		{name: "echoed MT changes nothing", openErr: applet.ErrEchoedMT, metric: "imzagate_ota_errors_total", labels: []string{"reason", "echoed_mt"}},
		{name: "counter replay of another card changes nothing", openErr: ota.ErrCounterLow, metric: "imzagate_ota_errors_total", labels: []string{"reason", "counter"}},
		{name: "unsecured PoR with a secured-only status", openErr: applet.ErrUnsecuredPoR, metric: "imzagate_ota_errors_total", labels: []string{"reason", "por_unsecured"}},
		{name: "text SMS acknowledged", dcs: 0x08, metric: "imzagate_mo_received_total", labels: []string{"kind", "invalid"}},
		{name: "unknown phone acknowledged", source: "994559999999", mo: reply(0, goodSig), metric: "imzagate_mo_unmatched_total", labels: []string{"reason", "unknown_phone"}},
		{name: "unknown transaction acknowledged", mo: withTxn(reply(0, goodSig), randomTxn()),
			metric: "imzagate_mo_unmatched_total", labels: []string{"reason", "no_session"}},
		{name: "replay of a completed session", mo: reply(0, goodSig), prep: func(m *memStore) {
			s := m.sessions[sid]
			s.State, s.Result = sessions.StateComplete, sessions.ResultUserCancelled
			m.sessions[sid] = s
			m.moCntr = 9
		}, wantResult: sessions.ResultUserCancelled, metric: "imzagate_mo_replays_total"},
		{name: "late reply to a completed session", mo: reply(0, goodSig), prep: func(m *memStore) {
			s := m.sessions[sid]
			s.State, s.Result = sessions.StateComplete, sessions.ResultTimeout
			m.sessions[sid] = s
			m.moCntr = 4
		}, wantResult: sessions.ResultTimeout, metric: "imzagate_mo_unmatched_total", labels: []string{"reason", "late"}},
		{name: "redelivery after a failed completion", mo: reply(0, goodSig), prep: func(m *memStore) { m.moCntr = 5 }, wantResult: sessions.ResultOK},
		{name: "store down on counter asks redelivery", mo: reply(0, goodSig), prep: func(m *memStore) {
			m.AcceptMOCounterFn = func(context.Context, string, uint64) error { return errStoreDown }
		}, wantResult: sessions.ResultOK, wantErr: true},
		{name: "store down on complete asks redelivery", mo: reply(0, goodSig), prep: func(m *memStore) {
			m.CompleteFn = func(context.Context, string, sessions.Result) (sessions.Session, error) {
				return sessions.Session{}, errStoreDown
			}
		}, wantErr: true},
		{name: "store down on lookup asks redelivery", mo: reply(0, goodSig), prep: func(m *memStore) {
			m.SubscriberFn = func(context.Context, string) (sessions.Subscriber, error) { return sessions.Subscriber{}, errStoreDown }
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore(u)
			st.sessions[sid] = running
			if tt.prep != nil {
				tt.prep(st)
			}
			codec := &fakeOTA{OpenFn: func(iccid string, ud []byte) (applet.MO, error) {
				if iccid != u.sub.ICCID {
					t.Errorf("opened with ICCID %s", iccid)
				}
				return tt.mo, tt.openErr
			}}
			s, reg := newTestServer(t, &st.fakeStore, &fakeSender{}, codec)
			src := tt.source
			if src == "" {
				src = "994501234567"
			}
			dcs := tt.dcs
			if dcs == 0 {
				dcs = 0xF6
			}
			err := s.corr.HandleMO(t.Context(), smpp.MO{Source: src, DataCoding: dcs, UserData: []byte{0x02, 0x70, 0x00}})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tt.wantErr)
			}
			got := st.sessions[sid]
			if tt.wantResult == "" && got.State != sessions.StateRunning {
				t.Fatalf("session completed as %s, want running", got.Result)
			}
			if tt.wantResult != "" && (got.State != sessions.StateComplete || got.Result != tt.wantResult) {
				t.Fatalf("session %s/%s, want %s", got.State, got.Result, tt.wantResult)
			}
			if tt.wantResult == sessions.ResultOK && (string(got.Signature) != string(goodSig) || got.SigAlg != "ECDSA_P256") {
				t.Fatalf("signature not stored: %s %x", got.SigAlg, got.Signature)
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
		{"undeliverable", "UNDELIV", "m1", true, sessions.ResultDeliveryError, false, false},
		{"rejected", "REJECTD", "m2", true, sessions.ResultDeliveryError, false, false},
		{"expired", "EXPIRED", "m1", true, sessions.ResultPhoneAbsent, false, false},
		{"other message", "UNDELIV", "zz", true, "", false, false},
		{"failure before submit recorded", "UNDELIV", "m1", false, "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore(newTestUser(t))
			sess := sessions.Session{ID: sid, Portal: "p1", Phone: "+994501234567", State: sessions.StateRunning, Accepted: testNow}
			if tt.submitted {
				sess.MessageIDs, sess.Submitted = []string{"m1", "m2"}, testNow
			}
			st.sessions[sid] = sess
			s, _ := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{})
			err := s.corr.HandleReceipt(t.Context(), smpp.Receipt{Source: "994501234567", MessageID: tt.msgID, Stat: tt.stat})
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
		var completions []sessions.Result
		done := func() []sessions.Result {
			mu.Lock()
			defer mu.Unlock()
			return append([]sessions.Result(nil), completions...)
		}
		complete := st.CompleteFn
		st.CompleteFn = func(ctx context.Context, id string, r sessions.Result) (sessions.Session, error) {
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
		if c := done(); len(c) != 1 || c[0].Code != sessions.ResultTimeout {
			t.Fatalf("completions %v", c)
		}
		if metricValue(t, reg, "imzagate_sessions_completed_total", "result", sessions.ResultTimeout) != 1 {
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
	st.sessions[sid] = sessions.Session{ID: sid, Portal: "p1", Phone: u.sub.Phone, State: sessions.StateRunning, CallbackURL: srv.URL + "/cb", Accepted: testNow}
	s, reg := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{}, func(o *ServerOptions) {
		o.Portals[0].CallbackHosts = []string{host}
		o.Portals[0].CallbackSecretEnv = "CB_SECRET"
		o.LookupEnv = func(k string) (string, bool) { return "s3cret", k == "CB_SECRET" }
		o.Callbacks = CallbackOptions{Backoff: time.Millisecond, Client: srv.Client()}
	})
	if err := s.done.complete(t.Context(), s.log, sid, sessions.Result{Code: sessions.ResultUserCancelled}); err != nil {
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
	m := newMetrics(reg, nil)
	o := CallbackOptions{Workers: 1, Queue: 2, Attempts: 1, Timeout: time.Minute, Client: srv.Client()}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	c := newCallbacks(o, m, discardLogger())
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
