package bench

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePortal is an in-process portal API with scripted timing and
// failures, and counters of what it answered so tests can compare the
// generator's tallies with the truth.
type fakePortal struct {
	key           string
	startDelay    time.Duration // added to each start
	serialStarts  bool          // one start at a time (a slow server)
	submitAfter   time.Duration // accepted → submitted
	completeAfter time.Duration // accepted → completed; <0 never completes
	failEvery     int           // every n-th start answers USER_UNKNOWN
	resultFor     func(n int) string

	startMu sync.Mutex
	mu      sync.Mutex
	n       int
	seq     int
	byID    map[string]*fakeSession
	running map[string]bool
	answers map[string]int // code or result → count
	signs   int
	// violations counts starts for a phone with a running session and
	// malformed bodies: the generator must produce neither.
	violations []string
}

type fakeSession struct {
	phone    string
	accepted time.Time
	result   string
}

func newFakePortal() *fakePortal {
	return &fakePortal{key: "k-test", submitAfter: 5 * time.Millisecond, completeAfter: 20 * time.Millisecond,
		byID: map[string]*fakeSession{}, running: map[string]bool{}, answers: map[string]int{}}
}

// start serves the portal on a real loopback socket.
func (f *fakePortal) start(t testing.TB) string {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/authentications", func(w http.ResponseWriter, r *http.Request) { f.handleStart(w, r, false) })
	mux.HandleFunc("POST /v1/signatures", func(w http.ResponseWriter, r *http.Request) { f.handleStart(w, r, true) })
	mux.HandleFunc("GET /v1/sessions/{id}", f.handleGet)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeProblem(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"about:blank","title":"x","status":%d,"code":%q}`, status, code)
}

func (f *fakePortal) violate(format string, args ...any) {
	f.mu.Lock()
	f.violations = append(f.violations, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakePortal) handleStart(w http.ResponseWriter, r *http.Request, sign bool) {
	if r.Header.Get("Authorization") != "Bearer "+f.key {
		f.count("UNAUTHORIZED")
		writeProblem(w, 401, "UNAUTHORIZED")
		return
	}
	var req struct {
		PhoneNumber string `json:"phoneNumber"`
		UserID      string `json:"userId"`
		Hash        string `json:"hash"`
		HashType    string `json:"hashType"`
		Certificate *struct {
			Type string `json:"type"`
		} `json:"certificate"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		f.violate("body: %v", err)
		writeProblem(w, 400, "INVALID_REQUEST")
		return
	}
	h, err := base64.StdEncoding.DecodeString(req.Hash)
	if err != nil || len(h) != 32 || req.HashType != "SHA256" || len(req.UserID) != 6 ||
		(req.Certificate != nil) != sign || (sign && req.Certificate.Type != "personal") {
		f.violate("bad start %+v", req)
		writeProblem(w, 400, "INVALID_REQUEST")
		return
	}
	if f.serialStarts {
		f.startMu.Lock()
		defer f.startMu.Unlock()
	}
	if f.startDelay > 0 {
		time.Sleep(f.startDelay)
	}
	f.mu.Lock()
	f.n++
	n := f.n
	if sign {
		f.signs++
	}
	if f.failEvery > 0 && n%f.failEvery == 0 {
		f.answers["USER_UNKNOWN"]++
		f.mu.Unlock()
		writeProblem(w, 422, "USER_UNKNOWN")
		return
	}
	if f.running[req.PhoneNumber] {
		f.violations = append(f.violations, "second start for a running phone")
		f.answers["OUTSTANDING_TRANSACTION"]++
		f.mu.Unlock()
		writeProblem(w, 409, "OUTSTANDING_TRANSACTION")
		return
	}
	f.running[req.PhoneNumber] = true
	f.seq++
	id := "s" + strconv.Itoa(f.seq)
	res := "OK"
	if f.resultFor != nil {
		res = f.resultFor(n)
	}
	f.byID[id] = &fakeSession{phone: req.PhoneNumber, accepted: time.Now(), result: res}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	fmt.Fprintf(w, `{"sessionId":%q,"verificationCode":"1234","expiresAt":"2030-01-01T00:00:00Z"}`, id)
}

func (f *fakePortal) count(code string) {
	f.mu.Lock()
	f.answers[code]++
	f.mu.Unlock()
}

func (f *fakePortal) handleGet(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	s, ok := f.byID[r.PathValue("id")]
	f.mu.Unlock()
	if !ok {
		writeProblem(w, 404, "SESSION_NOT_FOUND")
		return
	}
	wait, err := strconv.Atoi(r.URL.Query().Get("timeoutMs"))
	if err != nil || wait < 0 || wait > 120000 {
		f.violate("timeoutMs %q", r.URL.Query().Get("timeoutMs"))
		writeProblem(w, 400, "INVALID_REQUEST")
		return
	}
	done := s.accepted.Add(f.completeAfter)
	if f.completeAfter < 0 || time.Now().Before(done) {
		d := time.Duration(wait) * time.Millisecond
		if f.completeAfter >= 0 {
			d = min(d, time.Until(done))
		}
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if f.completeAfter < 0 || time.Now().Before(done) {
		fmt.Fprint(w, `{"state":"RUNNING","stages":{"accepted":"`+s.accepted.Format(time.RFC3339Nano)+`"}}`)
		return
	}
	f.mu.Lock()
	first := f.running[s.phone]
	if first {
		delete(f.running, s.phone)
		f.answers[s.result]++
	}
	delete(f.byID, r.PathValue("id"))
	f.mu.Unlock()
	ts := func(t time.Time) string { return `"` + t.Format(time.RFC3339Nano) + `"` }
	fmt.Fprintf(w, `{"state":"COMPLETE","result":%q,"signature":{"algorithm":"ECDSA_P256","value":"AA=="},"stages":{"accepted":%s,"submitted":%s,"delivered":%s,"completed":%s}}`,
		s.result, ts(s.accepted), ts(s.accepted.Add(f.submitAfter)), ts(s.accepted.Add(f.submitAfter)), ts(done))
}

// testUsers returns n valid users with distinct phones.
func testUsers(n int) []User {
	users := make([]User, n)
	for i := range users {
		users[i] = User{Phone: fmt.Sprintf("+99450%07d", i), UserID: fmt.Sprintf("%06d", 100000+i)}
	}
	return users
}

func (f *fakePortal) snapshot() (answers map[string]int, violations []string, signs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	answers = map[string]int{}
	for k, v := range f.answers {
		answers[k] = v
	}
	return answers, append([]string(nil), f.violations...), f.signs
}

func joinViolations(v []string) string {
	if len(v) > 5 {
		v = v[:5]
	}
	return strings.Join(v, "; ")
}
