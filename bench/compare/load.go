package compare

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Codes the load generator tallies failures under, beside HTTP_<status>
// and imzagate's problem codes.
const (
	codeTransport = "CLIENT_TRANSPORT"
	codeExhausted = "CLIENT_PHONES_EXHAUSTED"
)

// maxAnswer bounds what is read of any answer.
const maxAnswer = 64 << 10

// Latency histograms hold microseconds from 1 µs to a minute.
const (
	histMax    = int64(time.Minute / time.Microsecond)
	histDigits = 3
)

// sender sends one request to a gateway. It returns "" when the gateway
// accepted the message, else the code the failure is tallied under.
type sender interface {
	send(ctx context.Context, hc *http.Client) string
}

// newHTTPClient keeps one connection per worker open across runs.
func newHTTPClient(concurrency int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency * 2,
		MaxIdleConnsPerHost: concurrency * 2,
		IdleConnTimeout:     5 * time.Minute,
	}, Timeout: 30 * time.Second}
}

// loadResult is what one run of the closed loop measured.
type loadResult struct {
	Accepted  int64            // accepted answers over the whole run, warm-up included
	OK        int64            // accepted answers to requests started in the measured window
	Errors    map[string]int64 // failures in the measured window, by code
	Latency   *hdrhistogram.Histogram
	Exhausted bool // the run ran out of phones
}

// loadRun is one closed-loop run in progress; accepted is read by the
// progress line while it runs.
type loadRun struct {
	accepted atomic.Int64
	mu       sync.Mutex
	res      loadResult
}

// drive runs concurrency workers, each sending one request after another
// until the run ends; requests started after warmup are measured.
func (l *loadRun) drive(ctx context.Context, s sender, hc *http.Client, concurrency int, warmup, run time.Duration) loadResult {
	start := time.Now()
	measure, end := start.Add(warmup), start.Add(run)
	l.res = loadResult{Errors: map[string]int64{}, Latency: hdrhistogram.New(1, histMax, histDigits)}
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.worker(ctx, s, hc, measure, end)
		}()
	}
	wg.Wait()
	l.res.Accepted = l.accepted.Load()
	return l.res
}

func (l *loadRun) worker(ctx context.Context, s sender, hc *http.Client, measure, end time.Time) {
	h := hdrhistogram.New(1, histMax, histDigits)
	var ok int64
	errs := map[string]int64{}
	exhausted := false
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(end) {
			break
		}
		code := s.send(ctx, hc)
		d := time.Since(t0)
		if code == codeExhausted {
			exhausted = true
			break
		}
		if code == "" {
			l.accepted.Add(1)
		}
		if t0.Before(measure) || ctx.Err() != nil {
			continue
		}
		if code != "" {
			errs[code]++
			continue
		}
		ok++
		_ = h.RecordValue(min(max(d.Microseconds(), 1), histMax))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.OK += ok
	l.res.Latency.Merge(h)
	for c, n := range errs {
		l.res.Errors[c] += n
	}
	l.res.Exhausted = l.res.Exhausted || exhausted
}

// imzagateSender starts one AUTHENTICATE per request, each for a phone
// never used before: the phones are shared by every run.
type imzagateSender struct {
	url    string // POST target
	auth   string // Authorization header
	phones []phone
	next   atomic.Int64
}

func newImzagateSender(apiURL, apiKey string, phones []phone) *imzagateSender {
	return &imzagateSender{url: apiURL + "/v1/authentications", auth: "Bearer " + apiKey, phones: phones}
}

// left is the number of phones not used yet.
func (s *imzagateSender) left() int { return max(0, len(s.phones)-int(s.next.Load())) }

// used is the number of phones used.
func (s *imzagateSender) used() int { return min(len(s.phones), int(s.next.Load())) }

// add appends newly provisioned phones; no run may be going on.
func (s *imzagateSender) add(p []phone) { s.phones = append(s.phones, p...) }

func (s *imzagateSender) send(ctx context.Context, hc *http.Client) string {
	var i int64
	for { // taking no index past the end keeps the count right for add
		i = s.next.Load()
		if i >= int64(len(s.phones)) {
			return codeExhausted
		}
		if s.next.CompareAndSwap(i, i+1) {
			break
		}
	}
	p := s.phones[i]
	var hash [32]byte
	for j := 0; j < len(hash); j += 8 {
		v := rand.Uint64()
		for k := range 8 {
			hash[j+k] = byte(v >> (8 * k))
		}
	}
	b := make([]byte, 0, 160)
	b = append(b, `{"phoneNumber":"`...)
	b = append(b, p.number...)
	b = append(b, `","userId":"`...)
	b = append(b, p.userID...)
	b = append(b, `","hash":"`...)
	b = base64.StdEncoding.AppendEncode(b, hash[:])
	b = append(b, `","hashType":"SHA256"}`...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(b))
	if err != nil {
		return codeTransport
	}
	req.Header.Set("Authorization", s.auth)
	req.Header.Set("Content-Type", "application/json")
	return answer(hc, req, http.StatusCreated)
}

// kannelSender sends one binary SMS per request through sendsms.
type kannelSender struct {
	base   string   // sendsms URL with credentials and the fixed parameters
	bodies []string // percent-encoded binary texts, used in turn
	next   atomic.Int64
}

// kannelBodies is the number of distinct binary texts Kannel is sent.
const kannelBodies = 256

func newKannelSender(sendsmsURL string, body int, dlr bool, dlrURL string) *kannelSender {
	s := &kannelSender{base: sendsmsURL + sendsmsQuery(dlr, dlrURL)}
	for range kannelBodies {
		b := make([]byte, body)
		for i := range b {
			b[i] = byte(rand.Uint32())
		}
		s.bodies = append(s.bodies, pctEncode(b))
	}
	return s
}

func (s *kannelSender) send(ctx context.Context, hc *http.Client) string {
	i := s.next.Add(1) - 1
	// The same numbering as imzagate's phones: +99450 and 7 digits.
	to := imzagatePrefix + strconv.FormatInt(1_000_000+i%9_000_000, 10)
	u := s.base + "&text=" + s.bodies[i%kannelBodies] + "&to=" + to
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return codeTransport
	}
	return answer(hc, req, http.StatusAccepted)
}

// answer sends req and reads the whole answer: "" for the status that
// means accepted, else the problem's code or HTTP_<status>.
func answer(hc *http.Client, req *http.Request, want int) string {
	resp, err := hc.Do(req)
	if err != nil {
		return codeTransport
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if err != nil {
		return codeTransport
	}
	if resp.StatusCode == want {
		return ""
	}
	return problemCode(resp.StatusCode, body)
}

// problemCode is an RFC 9457 problem's stable code when the body is one
// with a sane code, else HTTP_<status>.
func problemCode(status int, body []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(body, &p) == nil && saneCode(p.Code) {
		return p.Code
	}
	return "HTTP_" + strconv.Itoa(status)
}

// saneCode keeps the tallies bounded and printable: 1–40 of A–Z, 0–9, _.
func saneCode(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// errPhonesExhausted is returned when imzagate's phones ran out mid-run.
var errPhonesExhausted = errors.New("compare: imzagate ran out of provisioned phones; raise --phones")
