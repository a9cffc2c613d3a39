package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Exit codes of `imzagate admin` (docs/admin.md §5): each kind of failure
// has its own, so scripts can branch on them.
const (
	exitOK        = 0
	exitFailure   = 1 // a local failure: a file could not be read or written
	exitUsage     = 2 // wrong arguments
	exitAuth      = 3 // 401: no or wrong credentials
	exitForbidden = 4 // 403: the principal's roles do not allow the call
	exitNotFound  = 5 // 404: no such subscriber, session or certificate
	exitConflict  = 6 // 409: the state does not allow the change, or it exists
	exitServer    = 7 // 5xx or no answer: the gateway, Redis or the audit trail is unavailable
	exitRejected  = 8 // 400, 413, 415, 422: the gateway rejected the input
	exitBroken    = 9 // the audit trail does not verify
)

// Names of the admin client's settings, in the environment or in a
// credentials file (NAME=value lines).
const (
	envAdminURL   = "IMZAGATE_ADMIN_URL"   // e.g. https://gw1.internal:9443
	envAdminToken = "IMZAGATE_ADMIN_TOKEN" // the principal's bearer token
	envAdminCert  = "IMZAGATE_ADMIN_CERT"  // client certificate file (PEM), for mutual TLS
	envAdminKey   = "IMZAGATE_ADMIN_KEY"   // its private key file (PEM)
	envAdminCA    = "IMZAGATE_ADMIN_CA"    // CA file to verify the gateway's certificate
)

// adminCreds are where and how the client connects. They come from the
// environment or a credentials file, never from flags (flags show in the
// process list and in shell history).
type adminCreds struct {
	url, token, cert, key, ca string
}

// loadCreds reads the credentials file when given, else the environment.
func loadCreds(file string, getenv func(string) string) (adminCreds, error) {
	vals := map[string]string{}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return adminCreds{}, fmt.Errorf("credentials file: %w", err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return adminCreds{}, fmt.Errorf("credentials file line %d: want NAME=value", n)
			}
			vals[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	} else {
		for _, k := range []string{envAdminURL, envAdminToken, envAdminCert, envAdminKey, envAdminCA} {
			vals[k] = getenv(k)
		}
	}
	c := adminCreds{url: vals[envAdminURL], token: vals[envAdminToken], cert: vals[envAdminCert], key: vals[envAdminKey], ca: vals[envAdminCA]}
	switch {
	case c.url == "":
		return c, fmt.Errorf("%s is not set (the admin API's URL, e.g. https://gateway:9443)", envAdminURL)
	case c.token == "" && c.cert == "":
		return c, fmt.Errorf("set %s, or %s and %s for a client certificate", envAdminToken, envAdminCert, envAdminKey)
	case (c.cert == "") != (c.key == ""):
		return c, fmt.Errorf("%s and %s go together", envAdminCert, envAdminKey)
	}
	if u, err := url.Parse(c.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("%s %q: want http(s)://host:port", envAdminURL, c.url)
	}
	return c, nil
}

// adminClient calls the admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

func newAdminClient(c adminCreds) (*adminClient, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.cert != "" {
		pair, err := tls.LoadX509KeyPair(c.cert, c.key)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	if c.ca != "" {
		b, err := os.ReadFile(c.ca)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, errors.New("CA file: no certificates")
		}
		tc.RootCAs = pool
	}
	return &adminClient{base: strings.TrimRight(c.url, "/"), token: c.token,
		http: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{TLSClientConfig: tc}}}, nil
}

// apiError is a problem+json answer, or a failure to get any answer.
type apiError struct {
	status int
	code   string
	detail string
	field  string
}

func (e *apiError) Error() string {
	switch {
	case e.status == 0:
		return e.detail
	case e.field != "":
		return fmt.Sprintf("%s (%d): %s: %s", e.code, e.status, e.field, e.detail)
	}
	return fmt.Sprintf("%s (%d): %s", e.code, e.status, e.detail)
}

// exitCode maps an error to the documented exit code.
func exitCode(err error) int {
	var ae *apiError
	if !errors.As(err, &ae) {
		return exitFailure
	}
	switch {
	case ae.status == 0 || ae.status >= 500:
		return exitServer
	case ae.status == 401:
		return exitAuth
	case ae.status == 403:
		return exitForbidden
	case ae.status == 404:
		return exitNotFound
	case ae.status == 409:
		return exitConflict
	}
	return exitRejected
}

// do sends one call; body is marshalled as JSON when not nil. A 2xx
// answer's body is returned raw.
func (c *adminClient) do(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &apiError{detail: "no answer from the admin API: " + err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, &apiError{detail: "reading the answer: " + err.Error()}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return data, nil
	}
	var p struct {
		Code, Detail, Field string
	}
	if json.Unmarshal(data, &p) != nil || p.Code == "" {
		p.Code, p.Detail = http.StatusText(resp.StatusCode), strings.TrimSpace(string(data))
	}
	return nil, &apiError{status: resp.StatusCode, code: p.Code, detail: p.Detail, field: p.Field}
}

// phonePath escapes a phone number for a path ('+' as %2B).
func phonePath(p string) string { return url.PathEscape(p) }
