package webui

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/imzagate/imzagate/gateway"
)

//go:embed index.html
var page []byte

// User is one simulated user the page lists and may act for.
type User struct {
	PhoneNumber  string                    `json:"phoneNumber"`
	UserID       string                    `json:"userId"`
	Behaviour    string                    `json:"behaviour"`
	Certificates []gateway.CertificateInfo `json:"certificates"`
}

// Options configure the demo page.
type Options struct {
	// API is the portal API the page's calls are passed to, in process.
	API http.Handler
	// APIKey is the demo portal's key: added on the server side, never
	// sent to the browser.
	APIKey string
	// Users returns the simulated users (read at each request: the demo
	// provisions them after its handler is built).
	Users func() []User
}

// maxBody bounds a start request passed on (the API's own bound is the same order).
const maxBody = 64 << 10

// Handler serves the demo page at "/" and its same-origin API under
// /demo/api/: the list of test users by behaviour, and the portal API's
// starts and session reads with the demo portal's key added here, for the
// simulated users only. Every other path is 404.
func Handler(opts Options) http.Handler {
	h := &handler{opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.handlePage)
	mux.HandleFunc("GET /demo/api/users", h.handleUsers)
	mux.HandleFunc("POST /demo/api/authentications", h.handleStart)
	mux.HandleFunc("POST /demo/api/signatures", h.handleStart)
	mux.HandleFunc("GET /demo/api/sessions/{id}", h.handleSession)
	return mux
}

type handler struct{ opts Options }

// handlePage serves the page; it holds no key.
func (h *handler) handlePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	_, _ = w.Write(page)
}

// handleUsers lists the test users grouped by behaviour.
func (h *handler) handleUsers(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"groups": groupUsers(h.users(), usersPerGroup)})
}

func (h *handler) users() []User {
	if h.opts.Users == nil {
		return nil
	}
	return h.opts.Users()
}

// handleStart passes a start on to the API, for a simulated user only.
func (h *handler) handleStart(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		demoProblem(w, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", "The request is too large", "")
		return
	}
	var req struct {
		PhoneNumber string `json:"phoneNumber"`
	}
	_ = json.Unmarshal(body, &req)
	if !h.isDemoUser(req.PhoneNumber) {
		demoProblem(w, http.StatusForbidden, "DEMO_USERS_ONLY", "Only the demo's simulated users",
			"this page acts only for the simulated users it lists; a real portal uses its own API key from its server")
		return
	}
	h.forward(w, r, "/v1/"+strings.TrimPrefix(r.URL.Path, "/demo/api/"), body)
}

// handleSession passes a session read (with its long-poll) on to the API.
func (h *handler) handleSession(w http.ResponseWriter, r *http.Request) {
	h.forward(w, r, "/v1/sessions/"+r.PathValue("id"), nil)
}

// forward serves r by the API at path with the demo portal's key.
func (h *handler) forward(w http.ResponseWriter, r *http.Request, path string, body []byte) {
	req := r.Clone(r.Context())
	req.URL.Path, req.URL.RawPath, req.RequestURI = path, "", ""
	req.Header.Set("Authorization", "Bearer "+h.opts.APIKey)
	req.Header.Del("Cookie")
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	h.opts.API.ServeHTTP(w, req)
}

// isDemoUser reports whether phone, in any form the API accepts
// (+994…, 994…, 0…), is a simulated user's.
func (h *handler) isDemoUser(phone string) bool {
	p := normalizePhone(phone)
	if p == "" {
		return false
	}
	for _, u := range h.users() {
		if u.PhoneNumber == p {
			return true
		}
	}
	return false
}

// normalizePhone writes an Azerbaijani number as +994XXXXXXXXX, or "".
func normalizePhone(s string) string {
	s = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(s)
	switch {
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	case strings.HasPrefix(s, "0") && len(s) == 10:
		s = "994" + s[1:]
	}
	if len(s) != 12 || !strings.HasPrefix(s, "994") || strings.Trim(s, "0123456789") != "" {
		return ""
	}
	return "+" + s
}

// demoProblem answers in the API's problem+json form.
func demoProblem(w http.ResponseWriter, status int, code, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "code": code, "title": title, "detail": detail})
}
