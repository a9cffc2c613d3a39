package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/imzagate/imzagate/applet"
)

// Exit statuses of `imzagate smoke`, distinct so a pipeline can tell them
// apart.
const (
	smokeOK           = 0
	smokeUsage        = 2
	smokeUnreachable  = 3 // no HTTP answer from the gateway
	smokeRefused      = 4 // the start was answered with a problem
	smokeNotOK        = 5 // the session ended with another result than OK, or never ended
	smokeBadSignature = 6 // the signature or certificate does not verify
)

// smokeFailure is a failed step with its exit status.
type smokeFailure struct {
	code int
	msg  string
}

func (f *smokeFailure) Error() string { return f.msg }

func smokeFail(code int, format string, args ...any) error {
	return &smokeFailure{code: code, msg: fmt.Sprintf(format, args...)}
}

// smoke is one run against a gateway.
type smoke struct {
	base    *url.URL
	key     string
	phone   string
	userID  string
	cert    map[string]string // the signature's certificate selector
	timeout time.Duration
	hc      *http.Client
	out     io.Writer
}

// runSmoke is `imzagate smoke`: one login, and with --sign one signature,
// against a running gateway, each stage printed with its time and the
// signature verified against the certificate the gateway returned.
func runSmoke(args []string, stdout, stderr io.Writer) int {
	s, code := parseSmoke(args, stderr)
	if code != 0 {
		return code
	}
	s.out = stdout
	if err := s.run(); err != nil {
		var f *smokeFailure
		if errors.As(err, &f) {
			fmt.Fprintln(stderr, "imzagate smoke:", f.msg)
			return f.code
		}
		fmt.Fprintln(stderr, "imzagate smoke:", err)
		return smokeUnreachable
	}
	return smokeOK
}

// parseSmoke reads the flags. The API key comes from IMZAGATE_API_KEY or
// --api-key-file; --api-key works too but is visible to every user of the
// machine (ps), so it draws a warning.
func parseSmoke(args []string, stderr io.Writer) (*smoke, int) {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the gateway's portal API")
	keyFile := fs.String("api-key-file", "", "file holding the portal's API key (default: $IMZAGATE_API_KEY)")
	keyFlag := fs.String("api-key", "", "the API key itself (visible in ps: prefer IMZAGATE_API_KEY)")
	phone := fs.String("phone", "", "the test user's phone number, e.g. +994501000000")
	userID := fs.String("user-id", "", "the test user's 6-digit User ID")
	sign := fs.Bool("sign", false, "after the login, sign a test document (PIN2)")
	cert := fs.String("cert", "personal", "with --sign: the certificate, personal or business:VÖEN or government:VÖEN")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to wait for each session to complete")
	if err := fs.Parse(args); err != nil {
		return nil, smokeUsage
	}
	u, err := url.Parse(*base)
	if *phone == "" || *userID == "" || fs.NArg() != 0 || err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		fmt.Fprintln(stderr, "usage: IMZAGATE_API_KEY=KEY imzagate smoke --url URL --phone +994… --user-id NNNNNN [--sign]")
		return nil, smokeUsage
	}
	key := strings.TrimSpace(os.Getenv("IMZAGATE_API_KEY"))
	switch {
	case *keyFlag != "":
		fmt.Fprintln(stderr, "imzagate smoke: warning: --api-key is visible to other users in the process list; use IMZAGATE_API_KEY or --api-key-file")
		key = *keyFlag
	case *keyFile != "":
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			fmt.Fprintln(stderr, "imzagate smoke:", err)
			return nil, smokeUsage
		}
		key = strings.TrimSpace(string(b))
	}
	if key == "" {
		fmt.Fprintln(stderr, "imzagate smoke: no API key: set IMZAGATE_API_KEY (or --api-key-file FILE)")
		return nil, smokeUsage
	}
	s := &smoke{base: u, key: key, phone: *phone, userID: *userID, timeout: *timeout,
		hc: &http.Client{Timeout: 30 * time.Second}}
	if *sign {
		typ, tax, _ := strings.Cut(*cert, ":")
		s.cert = map[string]string{"type": typ}
		if tax != "" {
			s.cert["taxId"] = tax
		}
	}
	return s, 0
}

// run does the login, then the signature when asked.
func (s *smoke) run() error {
	if err := s.operation("login", "/v1/authentications", "Log in (smoke test)", nil); err != nil {
		return err
	}
	if s.cert != nil {
		if err := s.operation("sign", "/v1/signatures", "", s.cert); err != nil {
			return err
		}
	}
	what := "login verified"
	if s.cert != nil {
		what = "login and signature verified"
	}
	fmt.Fprintf(s.out, "smoke: OK (%s)\n", what)
	return nil
}

// sessionView is the part of GET /v1/sessions/{id} the smoke test reads.
type sessionView struct {
	State, Result string
	Signature     *struct{ Algorithm, Value string }
	Certificate   *struct{ Type, Subject, PEM string }
	Stages        struct{ Accepted, Submitted, Delivered, Completed *time.Time }
}

// operation starts one session, waits for it and verifies its signature.
func (s *smoke) operation(name, path, text string, cert map[string]string) error {
	var hash []byte
	if cert == nil {
		challenge := make([]byte, 32)
		_, _ = rand.Read(challenge)
		h := sha256.Sum256(challenge)
		hash = h[:]
	} else {
		h := sha256.Sum256([]byte("imzagate smoke test document " + time.Now().UTC().Format(time.RFC3339Nano)))
		hash = h[:]
	}
	body := map[string]any{"phoneNumber": s.phone, "userId": s.userID, "hash": base64.StdEncoding.EncodeToString(hash), "hashType": "SHA256"}
	if text != "" {
		body["displayText"] = text
	}
	if cert != nil {
		body["certificate"] = cert
	}
	wall := time.Now()
	started, err := s.start(path, body)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "%-5s started    in %v: session %s, verification code %s\n", name, ms(time.Since(wall)), started.SessionID, started.VerificationCode)
	sess, err := s.wait(started.SessionID)
	if err != nil {
		return err
	}
	s.printStages(name, sess)
	fmt.Fprintf(s.out, "%-5s wall time  %v\n", name, ms(time.Since(wall)))
	if sess.Result != "OK" {
		return smokeFail(smokeNotOK, "%s: the session ended %s: %s", name, sess.Result, resultHint(sess.Result))
	}
	if err := verifySession(sess, hash); err != nil {
		return smokeFail(smokeBadSignature, "%s: %v", name, err)
	}
	fmt.Fprintf(s.out, "%-5s signature  %s verified against the %s certificate (%s)\n", name, sess.Signature.Algorithm, sess.Certificate.Type, sess.Certificate.Subject)
	return nil
}

// printStages prints each stage the session reached, as an offset from
// its acceptance.
func (s *smoke) printStages(name string, v *sessionView) {
	st := v.Stages
	if st.Accepted == nil {
		return
	}
	fmt.Fprintf(s.out, "%-5s accepted   %s\n", name, st.Accepted.Format("15:04:05.000"))
	for _, stage := range []struct {
		label string
		at    *time.Time
	}{{"submitted", st.Submitted}, {"delivered", st.Delivered}, {"completed", st.Completed}} {
		if stage.at == nil {
			fmt.Fprintf(s.out, "%-5s %-10s (not reached)\n", name, stage.label)
			continue
		}
		line := fmt.Sprintf("%-5s %-10s +%v", name, stage.label, ms(stage.at.Sub(*st.Accepted)))
		if stage.label == "completed" {
			line += "  result " + v.Result
		}
		fmt.Fprintln(s.out, line)
	}
}

// ms rounds a duration for people: milliseconds below a second, else
// hundredths of a second.
func ms(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// started is the 201 body of a start.
type started struct {
	SessionID, VerificationCode string
}

// problemView is the part of a problem+json answer the smoke test shows.
type problemView struct {
	Status              int
	Code, Title, Detail string
}

// start posts a start and reads its 201 answer.
func (s *smoke) start(path string, body map[string]any) (*started, error) {
	b, _ := json.Marshal(body)
	resp, err := s.do(http.MethodPost, path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		var p problemView
		_ = json.Unmarshal(data, &p)
		if p.Code == "" {
			return nil, smokeFail(smokeRefused, "POST %s: %s (not the gateway's API? %.80q)", path, resp.Status, data)
		}
		return nil, smokeFail(smokeRefused, "POST %s: %d %s: %s. %s", path, resp.StatusCode, p.Code, p.Detail, problemHint(p.Code))
	}
	var st started
	if err := json.Unmarshal(data, &st); err != nil || st.SessionID == "" {
		return nil, smokeFail(smokeRefused, "POST %s: 201 without a session id", path)
	}
	return &st, nil
}

// wait long-polls the session until it completes or the timeout passes.
func (s *smoke) wait(id string) (*sessionView, error) {
	deadline := time.Now().Add(s.timeout)
	for time.Now().Before(deadline) {
		poll := min(time.Until(deadline), 25*time.Second)
		resp, err := s.do(http.MethodGet, fmt.Sprintf("/v1/sessions/%s?timeoutMs=%d", url.PathEscape(id), poll.Milliseconds()), nil)
		if err != nil {
			return nil, err
		}
		var v sessionView
		err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return nil, smokeFail(smokeNotOK, "GET session %s: %s", id, resp.Status)
		}
		if v.State == "COMPLETE" {
			return &v, nil
		}
	}
	return nil, smokeFail(smokeNotOK, "session %s did not complete within %v", id, s.timeout)
}

// do sends one request with the API key; a transport failure is "unreachable".
func (s *smoke) do(method, path string, body io.Reader) (*http.Response, error) {
	ref, _ := url.Parse(path)
	req, err := http.NewRequestWithContext(context.Background(), method, s.base.ResolveReference(ref).String(), body)
	if err != nil {
		return nil, smokeFail(smokeUsage, "%v", err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, smokeFail(smokeUnreachable, "the gateway at %s cannot be reached: %v (is imzagate serve running, and is --url its http.addr?)", s.base, err)
	}
	return resp, nil
}

// verifySession checks the signature against the returned certificate as
// the applet protocol defines it (docs/applet-protocol.md §4).
func verifySession(v *sessionView, hash []byte) error {
	if v.Signature == nil || v.Certificate == nil {
		return errors.New("an OK session without a signature or certificate")
	}
	block, _ := pem.Decode([]byte(v.Certificate.PEM))
	if block == nil {
		return errors.New("the returned certificate is not PEM")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("the returned certificate does not parse: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(v.Signature.Value)
	if err != nil {
		return errors.New("the signature is not base64")
	}
	alg, ok := sigAlgByName(v.Signature.Algorithm)
	if !ok {
		return fmt.Errorf("unknown signature algorithm %q", v.Signature.Algorithm)
	}
	if err := applet.VerifySignature(cert, alg, hash, sig); err != nil {
		return fmt.Errorf("the signature does not verify against the returned certificate: %v", err)
	}
	return nil
}

// sigAlgByName reads the API's algorithm names.
func sigAlgByName(name string) (applet.SigAlg, bool) {
	for _, a := range []applet.SigAlg{applet.SigECDSAP256, applet.SigEd25519, applet.SigMLDSA44} {
		if a.String() == name {
			return a, true
		}
	}
	return 0, false
}
