package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// authRefusal is a refused request with the reason the log gives. The
// portal's answer is the same UNAUTHORIZED whatever the reason (it
// unwraps to errUnauthorized), so a caller learns nothing from it; the
// operator's log line says what happened and what usually causes it.
type authRefusal struct {
	reason, causes string
	portal         string // the portal whose key it was, when the key matched one
}

// Error implements error.
func (e *authRefusal) Error() string { return "unauthorized: " + e.reason }

// Unwrap gives the portal-facing answer.
func (e *authRefusal) Unwrap() error { return errUnauthorized }

// The reasons a request is refused.
var (
	refusedNoHeader = &authRefusal{reason: "no Authorization header",
		causes: "the client sends no key; it must send Authorization: Bearer <key>"}
	refusedNoBearer = &authRefusal{reason: `the Authorization header does not start with "Bearer "`,
		causes: `the key is sent bare or with another scheme; send Authorization: Bearer <key>`}
	refusedUnknownKey = &authRefusal{reason: "no portal is configured with this key's SHA-256",
		causes: "a mistyped or outdated key; a key whose hash is configured on another gateway or for a portal since removed; " +
			"a hash made with echo, whose newline changes it (use printf %s)"}
)

// refusedCert is a right key without the portal's client certificate.
func refusedCert(portal string) *authRefusal {
	return &authRefusal{reason: "the portal's client certificate is missing or another", portal: portal,
		causes: "the portal connects without mutual TLS or presents another certificate than portals[].clientCertSHA256 names"}
}

// refusalLog writes the refused-key lines, at most a few a minute so that
// a flood of bad keys cannot flood the log; the next line written says how
// many were left out.
type refusalLog struct {
	bucket     *tokenBucket
	suppressed atomic.Int64
	now        func() time.Time
}

func newRefusalLog() *refusalLog {
	return &refusalLog{bucket: newTokenBucket(0.2, 5), now: time.Now} // one line per 5 s after a burst of 5
}

// log records a refusal (err from authenticate); other errors are ignored.
// No key material is written: not the key, nor its hash, nor its length.
func (l *refusalLog) log(ctx context.Context, log *slog.Logger, r *http.Request, err error) {
	var ref *authRefusal
	if l == nil || !errors.As(err, &ref) {
		return
	}
	if ok, _ := l.bucket.take(l.now()); !ok {
		l.suppressed.Add(1)
		return
	}
	portal := ref.portal
	if portal == "" {
		portal = "unknown"
	}
	remote := r.RemoteAddr
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	log.LogAttrs(ctx, slog.LevelWarn, "API key refused",
		slog.String("reason", ref.reason), slog.String("common_causes", ref.causes), slog.String("portal", portal),
		slog.String("remote", remote), slog.String("method", r.Method), slog.String("path", r.URL.Path),
		slog.Int64("suppressed_before", l.suppressed.Swap(0)))
}
