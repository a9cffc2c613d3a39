package compare

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeImzagate answers POST /v1/authentications like the gateway: 201 for
// a phone seen for the first time, 409 OUTSTANDING_TRANSACTION for a
// phone already used, after checking the key and the body.
type fakeImzagate struct {
	t     *testing.T
	mu    sync.Mutex
	seen  map[string]bool
	calls atomic.Int64
}

func (f *fakeImzagate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/authentications" || r.Header.Get("Authorization") != "Bearer key-1" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var body struct{ PhoneNumber, UserID, Hash, HashType string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if h, err := base64.StdEncoding.DecodeString(body.Hash); err != nil || len(h) != 32 || body.HashType != "SHA256" || body.UserID != "123456" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	dup := f.seen[body.PhoneNumber]
	f.seen[body.PhoneNumber] = true
	f.mu.Unlock()
	if dup {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		fmt.Fprint(w, `{"code":"OUTSTANDING_TRANSACTION"}`)
		return
	}
	w.WriteHeader(http.StatusCreated)
	fmt.Fprint(w, `{"sessionId":"s1"}`)
}

func testPhones(n int) []phone {
	p := make([]phone, n)
	for i := range p {
		p[i] = phone{number: fmt.Sprintf("+99450%07d", 1_000_000+i), userID: "123456"}
	}
	return p
}

// TestDriveImzagate runs the closed loop against a fake gateway: every
// request uses a fresh phone, the warm-up is not measured, and the
// latency histogram holds exactly the measured successes.
func TestDriveImzagate(t *testing.T) {
	f := &fakeImzagate{t: t, seen: map[string]bool{}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := newImzagateSender(srv.URL, "key-1", testPhones(1_000_000))
	var l loadRun
	res := l.drive(t.Context(), s, newHTTPClient(4), 4, 100*time.Millisecond, 400*time.Millisecond)
	if res.Exhausted || len(res.Errors) != 0 {
		t.Fatalf("errors %v, exhausted %v", res.Errors, res.Exhausted)
	}
	if res.OK == 0 || res.Accepted <= res.OK || res.Accepted != f.calls.Load() || int64(s.used()) != res.Accepted {
		t.Fatalf("ok %d, accepted %d, calls %d, phones used %d: the warm-up's must count as accepted only",
			res.OK, res.Accepted, f.calls.Load(), s.used())
	}
	if res.Latency.TotalCount() != res.OK || res.Latency.ValueAtQuantile(99) <= 0 {
		t.Fatalf("latency histogram has %d values for %d successes", res.Latency.TotalCount(), res.OK)
	}
}

func TestDriveCountsErrorsAndRunsOutOfPhones(t *testing.T) {
	f := &fakeImzagate{t: t, seen: map[string]bool{"+994501000001": true}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	s := newImzagateSender(srv.URL, "key-1", testPhones(5))
	var l loadRun
	res := l.drive(t.Context(), s, newHTTPClient(2), 2, 0, 5*time.Second)
	if !res.Exhausted {
		t.Fatal("five phones lasted a five-second run")
	}
	if res.OK != 4 || res.Errors["OUTSTANDING_TRANSACTION"] != 1 || s.left() != 0 {
		t.Fatalf("ok %d, errors %v, left %d", res.OK, res.Errors, s.left())
	}
	s.add(testPhones(7)[5:])
	if s.left() != 2 {
		t.Fatalf("after adding two phones, %d left", s.left())
	}
	bad := newImzagateSender(srv.URL, "wrong-key", testPhones(3))
	res = l.drive(t.Context(), bad, newHTTPClient(1), 1, 0, time.Second)
	if res.Errors["HTTP_401"] != 3 || res.OK != 0 {
		t.Fatalf("a refused key: %v", res.Errors)
	}
}

// TestKannelSenderRequests checks what sendsms receives: credentials, a
// binary text of the configured length, the OTA UDH and a fresh number.
func TestKannelSenderRequests(t *testing.T) {
	var mu sync.Mutex
	to := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		ok := r.URL.Path == "/cgi-bin/sendsms" && q.Get("username") == "u" && q.Get("password") == "p" &&
			len(q.Get("text")) == 106 && q.Get("udh") == "\x02\x70\x00" && q.Get("coding") == "1" && q.Get("dlr-mask") == "3"
		mu.Lock()
		ok = ok && !to[q.Get("to")] && strings.HasPrefix(q.Get("to"), imzagatePrefix)
		to[q.Get("to")] = true
		mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, "0: Accepted for delivery")
	}))
	defer srv.Close()
	s := newKannelSender(srv.URL+"/cgi-bin/sendsms?username=u&password=p", 106, true, "http://127.0.0.1:1/dlr?s=%d")
	var l loadRun
	res := l.drive(t.Context(), s, newHTTPClient(3), 3, 0, 300*time.Millisecond)
	if res.OK == 0 || len(res.Errors) != 0 {
		t.Fatalf("ok %d, errors %v", res.OK, res.Errors)
	}
}

func TestProblemCode(t *testing.T) {
	for _, tt := range []struct {
		status int
		body   string
		want   string
	}{
		{409, `{"code":"OUTSTANDING_TRANSACTION"}`, "OUTSTANDING_TRANSACTION"},
		{503, `3: Queued for later delivery`, "HTTP_503"},
		{400, `{"code":"lower case"}`, "HTTP_400"},
		{400, `{"code":"` + strings.Repeat("A", 41) + `"}`, "HTTP_400"},
	} {
		if got := problemCode(tt.status, []byte(tt.body)); got != tt.want {
			t.Errorf("problemCode(%d, %s) = %s, want %s", tt.status, tt.body, got, tt.want)
		}
	}
}

// TestReportText checks the report has every figure of every pair and the
// medians, marks missing figures, and states the full-session line.
func TestReportText(t *testing.T) {
	run := func(rate, p50, p99, cpu float64) SideRun {
		return SideRun{Rate: rate, P50: p50, P99: p99, CPUPer1000: cpu, OK: 10, Submits: 10}
	}
	kan := run(2000, 20, 100, 0.5)
	kan.Backlog, kan.Settle = 1234, 1500*time.Millisecond
	imzErr := run(3000, 21, 80, 0.25)
	imzErr.Errors = map[string]int64{"HTTP_503": 2}
	rep := &Report{KannelVersion: "1.4.5", Concurrency: 64, Run: 20 * time.Second, Warmup: 2 * time.Second, Window: 100,
		Phones: 240000, PhonesUsed: 150000, KannelDLR: true, DLRCallbacks: 99,
		Pairs:    []Pair{newPair(Imzagate, imzErr, kan), newPair(Kannel, run(2800, 22, 90, 0.3), run(2100, 19, math.NaN(), 0.4))},
		Imzagate: Shape{Octets: 109, ESMClass: 0x40, ProtocolID: 0x7F, DataCoding: 0xF6, Seen: true},
		Kannel:   Shape{Octets: 109, ESMClass: 0x43, ProtocolID: 0x7F, DataCoding: 0xF6, Seen: true},
		Full:     &FullSession{Verify: 50 * time.Microsecond, CPUPerSession: 400 * time.Microsecond, Multiple: 8, Sessions: 5000, Throughput: 500, CPUHow: "child"},
		Wall:     200 * time.Second,
	}
	rep.Medians = medians(rep.Pairs)
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Kannel 1.4.5", "pair 1", "pair 2", "median", "submit_sm/s", "HTTP p50", "HTTP p99", "CPU s per", "1,000 msgs",
		"3000", "2000", "1.50×", // pair 1's rates and ratio
		"0.80×", // pair 1's p99 ratio
		"–",     // pair 2's missing Kannel p99
		"0.250", "0.500", "HTTP_503=2", "1234 accepted messages not yet at the SMSC",
		"esm_class 0x43", "DLR requested (99 called back)",
		"full session = 8.0 × one ECDSA P-256 verify (gateway CPU 0.400 ms/session, verify 50.0 µs)",
		"not met", "wall time   3m20s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
