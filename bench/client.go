package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Error codes the generator itself reports, next to the gateway's problem
// codes and non-OK session results.
const (
	// CodeTransport is a request that got no HTTP answer.
	CodeTransport = "CLIENT_TRANSPORT"
	// CodeTimeout is a session that did not complete within SessionTimeout.
	CodeTimeout = "CLIENT_TIMEOUT"
	// CodeOverload is an open-loop start skipped because MaxInFlight
	// sessions were outstanding.
	CodeOverload = "CLIENT_OVERLOAD"
	// CodeBadResponse is an answer the generator could not read.
	CodeBadResponse = "CLIENT_BAD_RESPONSE"
)

// maxBody bounds what the generator reads of any answer.
const maxBody = 1 << 20

// apiError is a failed request with the code it is tallied under.
type apiError struct {
	code string
	err  error
}

func (e *apiError) Error() string { return e.code + ": " + e.err.Error() }

// client speaks the portal API. It builds start bodies by appending (the
// fields are validated digits and base64), so a request costs no reflection.
type client struct {
	hc       *http.Client
	base     string
	auth     string
	hashLen  int
	hashType string
	certType string
	// bufs recycles request and response buffers: at thousands of
	// sessions per second the generator shares the cores with the gateway
	// it measures, so its own garbage matters.
	bufs sync.Pool
}

// sessionStatus is the part of GET /v1/sessions/{id} the generator reads.
type sessionStatus struct {
	State  string `json:"state"`
	Result string `json:"result"`
	Stages struct {
		Accepted  time.Time `json:"accepted"`
		Submitted time.Time `json:"submitted"`
		Delivered time.Time `json:"delivered"`
		Completed time.Time `json:"completed"`
	} `json:"stages"`
}

func newClient(o *Options) *client {
	hc := o.HTTPClient
	if hc == nil {
		conns := o.Concurrency * 2
		if o.Rate > 0 {
			conns = min(o.MaxInFlight, max(256, int(o.Rate)))
		}
		tr := &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   false,
		}
		hc = &http.Client{Transport: tr}
	}
	hl := map[string]int{"SHA256": 32, "SHA384": 48, "SHA512": 64}[o.HashType]
	c := &client{hc: hc, base: o.Target, auth: "Bearer " + o.APIKey, hashLen: hl, hashType: o.HashType, certType: o.CertificateType}
	c.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	return c
}

// appendStartBody appends the JSON body of a start for u with a random hash.
func (c *client) appendStartBody(b []byte, u User, sign bool) []byte {
	var raw [64]byte
	for i := 0; i < c.hashLen; i += 8 {
		v := rand.Uint64()
		for j := range 8 {
			raw[i+j] = byte(v >> (8 * j))
		}
	}
	b = append(b, `{"phoneNumber":"`...)
	b = append(b, u.Phone...)
	b = append(b, `","userId":"`...)
	b = append(b, u.UserID...)
	b = append(b, `","hash":"`...)
	b = base64.StdEncoding.AppendEncode(b, raw[:c.hashLen])
	b = append(b, `","hashType":"`...)
	b = append(b, c.hashType...)
	b = append(b, '"')
	if sign {
		b = append(b, `,"certificate":{"type":"`...)
		b = append(b, c.certType...)
		b = append(b, `"}`...)
	}
	return append(b, '}')
}

// start opens a session and returns its id.
func (c *client) start(ctx context.Context, u User, sign bool) (string, error) {
	path := "/v1/authentications"
	if sign {
		path = "/v1/signatures"
	}
	bp := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(bp)
	body := c.appendStartBody((*bp)[:0], u, sign)
	*bp = body
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return "", &apiError{CodeTransport, err}
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", &apiError{CodeTransport, err}
	}
	rb := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(rb)
	data, err := readBody(resp.Body, rb)
	if err != nil {
		return "", &apiError{CodeTransport, err}
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", problemError(resp.StatusCode, data)
	}
	var out struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.SessionID == "" || strings.ContainsAny(out.SessionID, "/?#% ") {
		return "", &apiError{CodeBadResponse, fmt.Errorf("start answer without a usable sessionId: %.100q", data)}
	}
	return out.SessionID, nil
}

// poll long-polls a session once.
func (c *client) poll(ctx context.Context, id string, wait time.Duration) (sessionStatus, error) {
	var st sessionStatus
	u := c.base + "/v1/sessions/" + id + "?timeoutMs=" + strconv.FormatInt(wait.Milliseconds(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return st, &apiError{CodeTransport, err}
	}
	req.Header.Set("Authorization", c.auth)
	resp, err := c.hc.Do(req)
	if err != nil {
		return st, &apiError{CodeTransport, err}
	}
	rb := c.bufs.Get().(*[]byte)
	defer c.bufs.Put(rb)
	data, err := readBody(resp.Body, rb)
	if err != nil {
		return st, &apiError{CodeTransport, err}
	}
	if resp.StatusCode != http.StatusOK {
		return st, problemError(resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, &apiError{CodeBadResponse, fmt.Errorf("session answer: %w", err)}
	}
	return st, nil
}

// readBody reads a whole body (up to maxBody) into *buf, growing it as
// needed, and closes the body; the connection is then reusable.
func readBody(rc io.ReadCloser, buf *[]byte) ([]byte, error) {
	defer rc.Close()
	b := (*buf)[:0]
	defer func() { *buf = b[:0] }()
	for {
		if len(b) > maxBody {
			_, _ = io.Copy(io.Discard, io.LimitReader(rc, maxBody))
			return nil, errors.New("answer larger than 1 MiB")
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rc.Read(b[len(b):min(cap(b), maxBody+1)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// problemError reads an RFC 9457 problem's stable code, or names the status
// when the body is not a problem.
func problemError(status int, data []byte) error {
	var p struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(data, &p) == nil && validCode(p.Code) {
		return &apiError{p.Code, fmt.Errorf("HTTP %d", status)}
	}
	return &apiError{"HTTP_" + strconv.Itoa(status), errors.New(http.StatusText(status))}
}

// validCode keeps error tallies bounded and printable: a code is 1–40
// upper-case letters, digits and underscores.
func validCode(s string) bool {
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

// drain reads what is left of a body (bounded) so the connection is reused.
func drain(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, maxBody))
	rc.Close()
}

// ReadUsers reads subscribers as CSV lines "phone,userId" (blank lines and
// lines starting with '#' are skipped), for driving a gateway whose
// registry the generator did not provision.
func ReadUsers(r io.Reader) ([]User, error) {
	var users []User
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), 256)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || t[0] == '#' {
			continue
		}
		phone, id, ok := strings.Cut(t, ",")
		u := User{Phone: strings.TrimSpace(phone), UserID: strings.TrimSpace(id)}
		if !ok {
			return nil, fmt.Errorf("bench: users line %d: want phone,userId", line)
		}
		if err := u.check(); err != nil {
			return nil, fmt.Errorf("bench: users line %d: %w", line, err)
		}
		if len(users) >= maxUsers {
			return nil, fmt.Errorf("bench: users: more than %d", maxUsers)
		}
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: users line %d: %w", line+1, err)
	}
	if len(users) == 0 {
		return nil, errors.New("bench: users: none")
	}
	return users, nil
}

// WriteUsers writes users in the form ReadUsers reads.
func WriteUsers(w io.Writer, users []User) error {
	bw := bufio.NewWriter(w)
	for _, u := range users {
		bw.WriteString(u.Phone)
		bw.WriteByte(',')
		bw.WriteString(u.UserID)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// maxUsersJSON bounds a subscriber listing read from a gateway.
const maxUsersJSON = 64 << 20

// ParseUsersJSON reads a subscriber listing such as the demo gateway's
// GET /v1/demo/subscribers: a JSON array of objects with "phoneNumber"
// (or "phone") and "userId", either bare or under "subscribers". Entries
// without both fields are skipped, and so are scripted demo users whose
// "behaviour" is not "approve" (they cancel, mistype the PIN or never
// answer, which would measure the script rather than the gateway); a
// malformed entry is an error.
func ParseUsersJSON(data []byte) ([]User, error) {
	if len(data) > maxUsersJSON {
		return nil, errors.New("bench: subscriber listing too large")
	}
	type entry struct {
		PhoneNumber string `json:"phoneNumber"`
		Phone       string `json:"phone"`
		UserID      string `json:"userId"`
		Behaviour   string `json:"behaviour"`
	}
	var list []entry
	if err := json.Unmarshal(data, &list); err != nil {
		var wrapped struct {
			Subscribers []entry `json:"subscribers"`
		}
		if err2 := json.Unmarshal(data, &wrapped); err2 != nil {
			return nil, fmt.Errorf("bench: subscriber listing: %w", err)
		}
		list = wrapped.Subscribers
	}
	var users []User
	for i, e := range list {
		u := User{Phone: e.PhoneNumber, UserID: e.UserID}
		if u.Phone == "" {
			u.Phone = e.Phone
		}
		if u.Phone == "" || u.UserID == "" || (e.Behaviour != "" && e.Behaviour != "approve") {
			continue
		}
		if err := u.check(); err != nil {
			return nil, fmt.Errorf("bench: subscriber %d: %w", i, err)
		}
		if len(users) >= maxUsers {
			return nil, fmt.Errorf("bench: subscribers: more than %d", maxUsers)
		}
		users = append(users, u)
	}
	if len(users) == 0 {
		return nil, errors.New("bench: subscriber listing holds no phone number with a User ID")
	}
	return users, nil
}

// FetchUsers reads the subscriber listing of a demo gateway
// (GET /v1/demo/subscribers) with the portal's key.
func FetchUsers(ctx context.Context, target, apiKey string, hc *http.Client) ([]User, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(target, "/")+"/v1/demo/subscribers", nil)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: subscriber listing: %w", err)
	}
	defer drain(resp.Body)
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxUsersJSON+1))
	if err != nil {
		return nil, fmt.Errorf("bench: subscriber listing: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: subscriber listing: %w", problemError(resp.StatusCode, data))
	}
	return ParseUsersJSON(data)
}
