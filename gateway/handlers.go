package gateway

import (
	"context"
	"embed"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
)

//go:embed openapi.yaml
var openapiFS embed.FS

// routes registers every endpoint on the standard mux. Any other path
// answers a problem: 405 with Allow for a known path, else 404.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/authentications", s.handleAuthenticationCreate)
	mux.HandleFunc("POST /v1/signatures", s.handleSignatureCreate)
	mux.HandleFunc("GET /v1/sessions/{id}", s.handleSessionGet)
	mux.HandleFunc("DELETE /v1/sessions/{id}", s.handleSessionCancel)
	mux.HandleFunc("GET /v1/certificates", s.handleCertificateList)
	mux.HandleFunc("GET /v1/openapi.yaml", s.handleOpenAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(r.URL.Path); allow != "" {
			w.Header().Set("Allow", allow)
			s.writeError(w, r, &Error{Code: CodeMethodNotAllowed, Detail: "use " + allow})
			return
		}
		s.writeError(w, r, &Error{Code: CodeNotFound, Detail: "no such endpoint"})
	})
	return mux
}

// allowedMethods names the methods of a known API path ("" if unknown),
// so a wrong method gets 405 rather than 404.
func allowedMethods(path string) string {
	switch {
	case path == "/v1/authentications", path == "/v1/signatures":
		return "POST"
	case path == "/v1/certificates", path == "/v1/openapi.yaml":
		return "GET, HEAD"
	case strings.HasPrefix(path, "/v1/sessions/") && !strings.Contains(path[len("/v1/sessions/"):], "/") && len(path) > len("/v1/sessions/"):
		return "GET, HEAD, DELETE"
	}
	return ""
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// handleOpenAPI serves the embedded OpenAPI 3 document.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	b, _ := openapiFS.ReadFile("openapi.yaml")
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(b)
}

// authPortal authenticates the request or writes the error.
func (s *Server) authPortal(w http.ResponseWriter, r *http.Request) *Portal {
	p, err := s.portals.authenticate(r)
	if err != nil {
		s.portals.refusals.log(r.Context(), s.logger(r), r, err)
		s.writeError(w, r, err)
		return nil
	}
	return p
}

// handleAuthenticationCreate is POST /v1/authentications.
func (s *Server) handleAuthenticationCreate(w http.ResponseWriter, r *http.Request) {
	p := s.authPortal(w, r)
	if p == nil {
		return
	}
	var req authRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, loginFieldError(err))
		return
	}
	s.start(w, r, p, applet.OpAuthenticate, &req, nil, nil)
}

// handleSignatureCreate is POST /v1/signatures.
func (s *Server) handleSignatureCreate(w http.ResponseWriter, r *http.Request) {
	p := s.authPortal(w, r)
	if p == nil {
		return
	}
	var req signRequest
	if err := decodeJSONUpTo(w, r, &req, bodyLimit(s.svc.ades.maxDocuments)); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.start(w, r, p, applet.OpSign, &req.authRequest, req.Certificate, &req.formatRequest)
}

// startResponse is the 201 body of a start.
type startResponse struct {
	SessionID        string    `json:"sessionId"`
	VerificationCode string    `json:"verificationCode"`
	ExpiresAt        time.Time `json:"expiresAt"`
}

// start validates, applies the portal's rate limit, has the session
// service start the session and answers 201.
func (s *Server) start(w http.ResponseWriter, r *http.Request, p *Portal, op applet.Operation, req *authRequest, sel *certSelector, fr *formatRequest) {
	if !p.allows(op) {
		s.writeError(w, r, &Error{Code: CodeForbidden, Detail: "this portal may not start " + op.String()})
		return
	}
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > 128 || (idemKey != "" && !plainID(strings.ReplaceAll(idemKey, ":", "-"))) {
		s.writeError(w, r, invalid("Idempotency-Key", "1–128 characters [A-Za-z0-9._:-]"))
		return
	}
	in, err := validateStart(op, req, sel, fr, s.svc.ades.maxDocuments, p)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if ok, wait := p.bucket.take(s.svc.now()); !ok {
		s.writeError(w, r, &Error{Code: CodeRateLimited, Detail: "the portal's rate limit is exceeded", RetryAfter: wait})
		return
	}
	if err := s.budget.check(r.Context(), p); err != nil {
		s.writeError(w, r, err)
		return
	}
	sess, err := s.svc.start(r.Context(), s.logger(r), p, in, idemKey)
	if err != nil {
		s.budget.failed(r.Context(), s.logger(r), p, in.Phone, err)
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/sessions/"+sess.ID)
	writeJSON(w, http.StatusCreated, startResponse{SessionID: sess.ID, VerificationCode: sess.VerificationCode, ExpiresAt: sess.ExpiresAt.UTC()})
}

// handleSessionGet is GET /v1/sessions/{id}?timeoutMs=N: the session's state,
// waiting up to N ms for completion. A portal sees only its own sessions;
// another portal's id reads as not found.
func (s *Server) handleSessionGet(w http.ResponseWriter, r *http.Request) {
	p := s.authPortal(w, r)
	if p == nil {
		return
	}
	id := r.PathValue("id")
	if !plainID(id) {
		s.writeError(w, r, &Error{Code: CodeSessionNotFound, Detail: "no such session"})
		return
	}
	r = withLogger(r, withAttrs(s.logger(r), slog.String("session_id", id)))
	wait, err := s.pollTimeout(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if wait > 0 {
		s.longPoll(w, r, p, id, wait)
		return
	}
	sess, err := s.store.Get(r.Context(), id)
	if err == nil && sess.Portal != p.ID {
		err = sessions.ErrNotFound
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	view := s.view.session(r.Context(), sess, nil)
	writeSessionJSON(w, http.StatusOK, &view)
}

// pollTimeout reads timeoutMs (0 when absent).
func (s *Server) pollTimeout(q url.Values) (time.Duration, error) {
	if !q.Has("timeoutMs") {
		return 0, nil
	}
	// Compared in milliseconds: a huge value times time.Millisecond would
	// overflow into a negative duration that passes the bound.
	ms, err := strconv.ParseInt(q.Get("timeoutMs"), 10, 64)
	if err != nil || ms < 0 || ms > s.maxPoll.Milliseconds() {
		return 0, invalid("timeoutMs", "an integer within 0–%d", s.maxPoll.Milliseconds())
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// longPoll answers GET /v1/sessions/{id} once the session completes, the
// wait runs out or the server drains. The wait's own first read (made
// after it registered for the completion notice) answers a session that
// is already complete or unknown, so no separate read comes before it.
func (s *Server) longPoll(w http.ResponseWriter, r *http.Request, p *Portal, id string, wait time.Duration) {
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	stop := context.AfterFunc(s.svc.draining, cancel)
	defer stop()
	sess, sub, err := s.store.WaitOwnedSubscriber(ctx, id, p.ID)
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil && r.Context().Err() == nil:
		// The wait ran out (or the server drains): answer with the current
		// state (a stage may have been stamped while it waited).
		if sess, err = s.store.Get(r.Context(), id); err != nil {
			s.writeError(w, r, err)
			return
		}
		sub = sessions.Subscriber{}
	default:
		s.writeError(w, r, err)
		return
	}
	if sess.Portal != p.ID {
		s.writeError(w, r, sessions.ErrNotFound)
		return
	}
	var known *sessions.Subscriber
	if sub.Phone == sess.Phone && sub.Phone != "" {
		known = &sub
	}
	view := s.view.session(r.Context(), sess, known)
	writeSessionJSON(w, http.StatusOK, &view)
}

// certificatesJSON is the body of GET /v1/certificates.
type certificatesJSON struct {
	Certificates []CertificateInfo `json:"certificates"`
}

// handleCertificateList is GET /v1/certificates?phoneNumber=…&userId=…: the
// user's certificates with status and renewal window. The User ID is
// checked (and counted for lockout) as in a start.
func (s *Server) handleCertificateList(w http.ResponseWriter, r *http.Request) {
	p := s.authPortal(w, r)
	if p == nil {
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "phoneNumber" && k != "userId" {
			s.writeError(w, r, invalid(k, "unknown query parameter"))
			return
		}
	}
	phone, err := normalizePhone(q.Get("phoneNumber"))
	if err != nil {
		s.writeError(w, r, invalid("phoneNumber", "%v", err))
		return
	}
	if !validUserID(q.Get("userId")) {
		s.writeError(w, r, invalid("userId", "the User ID is exactly 6 digits"))
		return
	}
	if ok, wait := p.bucket.take(s.svc.now()); !ok {
		s.writeError(w, r, &Error{Code: CodeRateLimited, Detail: "the portal's rate limit is exceeded", RetryAfter: wait})
		return
	}
	if err := s.budget.check(r.Context(), p); err != nil {
		s.writeError(w, r, err)
		return
	}
	sub, err := s.store.CheckUserID(r.Context(), phone, q.Get("userId"))
	if err == nil {
		err = subscriberMayStart(sub)
	}
	if err != nil {
		s.budget.failed(r.Context(), s.logger(r), p, phone, err)
		s.writeError(w, r, err)
		return
	}
	out := certificatesJSON{Certificates: []CertificateInfo{}}
	now := s.svc.now()
	for _, c := range sub.Certificates {
		out.Certificates = append(out.Certificates, DescribeCertificate(c, now))
	}
	s.trust.annotate(r.Context(), p, sub.Certificates, out.Certificates, now)
	writeJSON(w, http.StatusOK, out)
}
