package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// Stable error codes of the portal API (docs/architecture.md §9.1). They
// never change meaning; portals branch on them.
const (
	CodeInvalidRequest       = "INVALID_REQUEST"
	CodeRequestTooLarge      = "REQUEST_TOO_LARGE"
	CodeUnauthorized         = "UNAUTHORIZED"
	CodeForbidden            = "OPERATION_NOT_ALLOWED"
	CodeUserUnknown          = "USER_UNKNOWN"
	CodeUserLocked           = "USER_LOCKED"
	CodeCertificateNotFound  = "CERTIFICATE_NOT_FOUND"
	CodeCertificateExpired   = "CERTIFICATE_EXPIRED"
	CodeCertificateRevoked   = "CERTIFICATE_REVOKED"
	CodeOutstanding          = "OUTSTANDING_TRANSACTION"
	CodeRateLimited          = "RATE_LIMITED"
	CodeOperatorUnavailable  = "OPERATOR_UNAVAILABLE"
	CodeStoreUnavailable     = "STORE_UNAVAILABLE"
	CodeShuttingDown         = "SHUTTING_DOWN"
	CodeSessionNotFound      = "SESSION_NOT_FOUND"
	CodeNotFound             = "NOT_FOUND"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	CodeInternal             = "INTERNAL"
	// Refusals of the certificate by the certification authority's word
	// (docs/trust.md); CERTIFICATE_EXPIRED and CERTIFICATE_REVOKED above
	// are given for it too. Each is also a session result when the check
	// at reply time refuses.
	CodeCertificateUntrusted       = "CERTIFICATE_UNTRUSTED"
	CodeCertificateKeyUsage        = "CERTIFICATE_KEY_USAGE"
	CodeCertificateSubjectMismatch = "CERTIFICATE_SUBJECT_MISMATCH"
	CodeCertificateStatusUnknown   = "CERTIFICATE_STATUS_UNKNOWN"
	CodeIdempotencyKeyReused       = "IDEMPOTENCY_KEY_REUSED"
	CodeUserIDBudget               = "USER_ID_BUDGET_EXCEEDED"

	// Codes added with the admin API and the subscriber lifecycle.
	CodeCertificateSuspended = "CERTIFICATE_SUSPENDED"
	CodeSubscriberSuspended  = "SUBSCRIBER_SUSPENDED"
	CodeAdminForbidden       = "ADMIN_FORBIDDEN"
	CodeAuditUnavailable     = "AUDIT_UNAVAILABLE"
	CodeSubscriberNotFound   = "SUBSCRIBER_NOT_FOUND"
	CodeSubscriberExists     = "SUBSCRIBER_EXISTS"
	CodeConflict             = "CONFLICT"
	CodeUserIDMismatch       = "USER_ID_MISMATCH"
	// CodeFormatNotSupported: CAdES or ASiC-E asked of a certificate
	// whose key cannot make it (Ed25519, ML-DSA-44: docs/ades.md).
	CodeFormatNotSupported = "FORMAT_NOT_SUPPORTED"
	// CodeTooManyDocuments: an ASiC-E request above the configured
	// number of documents.
	CodeTooManyDocuments = "TOO_MANY_DOCUMENTS"
	// CodeChainUnavailable: the gateway knows no issuer chain for the
	// certificate, so it cannot build a container.
	CodeChainUnavailable = "CERTIFICATE_CHAIN_UNAVAILABLE"
)

// codeStatus maps every code to its HTTP status, in one place.
var codeStatus = map[string]int{
	CodeInvalidRequest:       http.StatusBadRequest,
	CodeRequestTooLarge:      http.StatusRequestEntityTooLarge,
	CodeUnauthorized:         http.StatusUnauthorized,
	CodeForbidden:            http.StatusForbidden,
	CodeUserUnknown:          http.StatusUnprocessableEntity,
	CodeUserLocked:           http.StatusLocked,
	CodeCertificateNotFound:  http.StatusUnprocessableEntity,
	CodeCertificateExpired:   http.StatusUnprocessableEntity,
	CodeCertificateRevoked:   http.StatusUnprocessableEntity,
	CodeOutstanding:          http.StatusConflict,
	CodeRateLimited:          http.StatusTooManyRequests,
	CodeOperatorUnavailable:  http.StatusServiceUnavailable,
	CodeStoreUnavailable:     http.StatusServiceUnavailable,
	CodeShuttingDown:         http.StatusServiceUnavailable,
	CodeSessionNotFound:      http.StatusNotFound,
	CodeNotFound:             http.StatusNotFound,
	CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	CodeInternal:             http.StatusInternalServerError,
	// The certification authority's refusals; an unknown status is temporary.
	CodeCertificateUntrusted:       http.StatusUnprocessableEntity,
	CodeCertificateKeyUsage:        http.StatusUnprocessableEntity,
	CodeCertificateSubjectMismatch: http.StatusUnprocessableEntity,
	CodeCertificateStatusUnknown:   http.StatusServiceUnavailable,
	CodeIdempotencyKeyReused:       http.StatusUnprocessableEntity,
	CodeUserIDBudget:               http.StatusTooManyRequests,
	CodeCertificateSuspended:       http.StatusUnprocessableEntity,
	CodeSubscriberSuspended:        http.StatusUnprocessableEntity,
	CodeAdminForbidden:             http.StatusForbidden,
	CodeAuditUnavailable:           http.StatusServiceUnavailable,
	CodeSubscriberNotFound:         http.StatusNotFound,
	CodeSubscriberExists:           http.StatusConflict,
	CodeConflict:                   http.StatusConflict,
	CodeUserIDMismatch:             http.StatusUnprocessableEntity,
	CodeFormatNotSupported:         http.StatusUnprocessableEntity,
	CodeTooManyDocuments:           http.StatusBadRequest,
	CodeChainUnavailable:           http.StatusUnprocessableEntity,
}

// codeTitle is the short human title of each code (RFC 9457 "title").
var codeTitle = map[string]string{
	CodeInvalidRequest:       "The request is invalid",
	CodeRequestTooLarge:      "The request body is too large",
	CodeUnauthorized:         "The portal is not authorised",
	CodeForbidden:            "The portal may not use this operation",
	CodeUserUnknown:          "Unknown user or wrong User ID",
	CodeUserLocked:           "Too many wrong User IDs; try later",
	CodeCertificateNotFound:  "No such certificate for this user",
	CodeCertificateExpired:   "The certificate has expired",
	CodeCertificateRevoked:   "The certificate is revoked",
	CodeOutstanding:          "Another transaction is running for this phone",
	CodeRateLimited:          "Too many requests",
	CodeOperatorUnavailable:  "The mobile operator is unavailable",
	CodeStoreUnavailable:     "The session store is unavailable",
	CodeShuttingDown:         "This gateway instance is shutting down",
	CodeSessionNotFound:      "No such session",
	CodeNotFound:             "Not found",
	CodeMethodNotAllowed:     "Method not allowed",
	CodeUnsupportedMediaType: "Content-Type must be application/json",
	CodeInternal:             "Internal error",
	// The certification authority's refusals.
	CodeCertificateUntrusted:       "The certificate does not chain to a trusted certification authority",
	CodeCertificateKeyUsage:        "The certificate's key usage does not allow this operation",
	CodeCertificateSubjectMismatch: "The certificate does not fit the requested type or VÖEN",
	CodeCertificateStatusUnknown:   "The certificate's revocation status cannot be had now",
	CodeIdempotencyKeyReused:       "The Idempotency-Key was used for another request",
	CodeUserIDBudget:               "Too many wrong User IDs from this portal; try later",
	CodeCertificateSuspended:       "The certificate is suspended",
	CodeSubscriberSuspended:        "The subscriber is suspended; contact the mobile operator",
	CodeAdminForbidden:             "The principal's roles do not allow this call",
	CodeAuditUnavailable:           "The audit trail could not record the call",
	CodeSubscriberNotFound:         "No such subscriber",
	CodeSubscriberExists:           "The subscriber already exists",
	CodeConflict:                   "The subscriber's state does not allow this change",
	CodeUserIDMismatch:             "The User ID does not match",
	CodeFormatNotSupported:         "The certificate's key cannot make this signature format",
	CodeTooManyDocuments:           "Too many documents for one signature",
	CodeChainUnavailable:           "No certificate chain for this certificate",
}

// Error is an error with a stable portal-facing code. Detail and Field are
// safe to show to the portal; everything else stays in the logs.
type Error struct {
	Code       string
	Detail     string
	Field      string        // the offending request field, for INVALID_REQUEST
	RetryAfter time.Duration // sent as Retry-After when non-zero
}

// Error formats the code, field and detail (for logs; portals get problem+json).
func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", e.Code, e.Field, e.Detail)
	}
	return e.Code + ": " + e.Detail
}

// invalid returns an INVALID_REQUEST error for field.
func invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidRequest, Field: field, Detail: fmt.Sprintf(format, args...)}
}

// errorCode gives the portal-facing code of any error: an *Error keeps its
// own; the sentinels of packages sessions and smpp map to theirs; anything
// else is INTERNAL. It is the only place that knows the mapping.
func errorCode(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var le *sessions.LockedError
	switch {
	case errors.As(err, &le):
		return &Error{Code: CodeUserLocked, Detail: "too many wrong User IDs", RetryAfter: le.RetryAfter}
	case errors.Is(err, sessions.ErrLocked):
		return &Error{Code: CodeUserLocked, Detail: "too many wrong User IDs"}
	case errors.Is(err, sessions.ErrBadUserID):
		return &Error{Code: CodeUserUnknown, Detail: "unknown phone number or wrong User ID"}
	case errors.Is(err, sessions.ErrOutstanding):
		return &Error{Code: CodeOutstanding, Detail: "a transaction is already running for this phone number"}
	case errors.Is(err, sessions.ErrNotFound):
		return &Error{Code: CodeSessionNotFound, Detail: "no such session"}
	case errors.Is(err, sessions.ErrUnavailable):
		return &Error{Code: CodeStoreUnavailable, Detail: "the session store is unavailable; retry"}
	case errors.Is(err, smpp.ErrNoRoute), errors.Is(err, smpp.ErrOperatorUnavailable):
		return &Error{Code: CodeOperatorUnavailable, Detail: "the user's mobile operator cannot be reached now; retry later"}
	case errors.Is(err, sessions.ErrExists):
		return &Error{Code: CodeSubscriberExists, Detail: "the phone number already has a subscriber"}
	case errors.Is(err, sessions.ErrConflict):
		return &Error{Code: CodeConflict, Detail: conflictDetail(err)}
	case errors.Is(err, audit.ErrNotDurable), errors.Is(err, audit.ErrClosed), errors.Is(err, audit.ErrDropped):
		return &Error{Code: CodeAuditUnavailable, Detail: "the audit trail did not confirm the record; nothing was answered as done", RetryAfter: time.Second}
	case errors.Is(err, sessions.ErrInvalid):
		return &Error{Code: CodeInvalidRequest, Detail: strings.TrimPrefix(err.Error(), "sessions: invalid input: ")}
	}
	return errorCodeMore(err)
}

// errorCodeMore maps the sentinels added after the first release.
func errorCodeMore(err error) *Error {
	var be *sessions.BudgetError
	switch {
	case errors.Is(err, smpp.ErrOutcomeUnknown):
		return &Error{Code: CodeOperatorUnavailable, Detail: "the user's mobile operator did not confirm the message in time; retry later"}
	case errors.Is(err, sessions.ErrIdempotencyMismatch):
		return &Error{Code: CodeIdempotencyKeyReused, Field: "Idempotency-Key", Detail: "this key was used within its window for another request; use a new key"}
	case errors.As(err, &be):
		return &Error{Code: CodeUserIDBudget, Detail: "this portal sent too many wrong User IDs; starts and lookups are refused for a while", RetryAfter: be.RetryAfter}
	}
	return &Error{Code: CodeInternal, Detail: "internal error"}
}

// problem is an RFC 9457 problem details object with our extension members.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Code      string `json:"code"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"requestId,omitempty"`
}

// writeError is the one place errors become HTTP answers: it maps the code to
// a status, counts it, logs internal errors (only those), and never shows
// internal text to the portal.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := errorCode(err)
	status, ok := codeStatus[e.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	s.metrics.apiErrors.WithLabelValues(e.Code).Inc()
	if status >= 500 {
		s.logger(r).LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("code", e.Code), slog.String("err", err.Error()))
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if e.Code == CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="imzagate"`)
	}
	p := problem{
		Type:      "https://imzagate.az/problems/" + e.Code,
		Title:     codeTitle[e.Code],
		Status:    status,
		Detail:    e.Detail,
		Instance:  r.URL.Path,
		Code:      e.Code,
		Field:     e.Field,
		RequestID: requestID(r.Context()),
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}
