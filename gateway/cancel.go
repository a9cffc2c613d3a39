package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/imzagate/imzagate/sessions"
)

// Final results the gateway adds to those of the card (docs/architecture.md
// §9.2).
const (
	// ResultCertificateRevoked: the certificate was revoked or suspended
	// in the registry after the session started; the reply is refused.
	ResultCertificateRevoked = "CERTIFICATE_REVOKED"
	// ResultCancelledByPortal: the portal ended the session
	// (DELETE /v1/sessions/{id}).
	ResultCancelledByPortal = "CANCELLED_BY_PORTAL"
	// ResultCancelledByAdmin: support ended the session through the admin
	// API.
	ResultCancelledByAdmin = "CANCELLED_BY_ADMIN"
)

// handleSessionCancel is DELETE /v1/sessions/{id}: the owning portal ends
// a running session as CANCELLED_BY_PORTAL. Another portal's id reads as
// not found, as for GET. A session already complete is answered as it
// stands (a retried DELETE is harmless); a reply arriving later is
// acknowledged to the SMSC and changes nothing (a late reply).
func (s *Server) handleSessionCancel(w http.ResponseWriter, r *http.Request) {
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
	sess, err := s.store.Get(r.Context(), id)
	if err == nil && sess.Portal != p.ID {
		err = sessions.ErrNotFound
	}
	if err == nil && sess.State == sessions.StateRunning {
		sess, err = cancelSession(r.Context(), s.logger(r), s.done, s.store, id, ResultCancelledByPortal)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, s.view.session(r.Context(), sess, nil))
}

// cancelSession completes running session id with result and returns the
// session as it then stands (completed by this call or, having lost a
// race, by a reply or the timer).
func cancelSession(ctx context.Context, log *slog.Logger, done *completer, store Store, id, result string) (sessions.Session, error) {
	res := sessions.Result{Code: result}
	got, err := store.Complete(context.WithoutCancel(ctx), id, res)
	if err := done.recordCompletion(ctx, log, id, res, got, err); err != nil {
		return sessions.Session{}, err
	}
	if err == nil {
		return got, nil
	}
	if errors.Is(err, sessions.ErrDuplicate) && got.ID != "" {
		return got, nil
	}
	return store.Get(ctx, id)
}

// subscriberMayStart refuses a start for a subscriber that is not active,
// once its User ID matched: a suspended one gets its own code (the caller
// knows the User ID, so nothing is revealed to a guesser); a closed or
// moving one answers as an unknown phone does (docs/admin.md §3).
func subscriberMayStart(sub sessions.Subscriber) error {
	switch sub.State {
	case "":
		return nil
	case sessions.SubscriberSuspended:
		return &Error{Code: CodeSubscriberSuspended, Detail: "the subscriber is suspended; the mobile operator's support can resume it"}
	}
	return sessions.ErrBadUserID
}

// refusedAtReply reports whether the certificate a reply to sess would be
// checked against has been revoked or suspended in the registry since the
// start: the registry read with the reply is current, so an administrator's
// change takes effect for running sessions too.
func refusedAtReply(sub sessions.Subscriber, sess sessions.Session, checked bool) bool {
	for _, c := range sub.Certificates {
		if c.KeyRef == sess.KeyRef {
			// With a trust checker a revocation is its to judge, so the
			// result records the status that decided it; a suspension is
			// the registry's alone.
			return c.Status == sessions.StatusSuspended || (!checked && c.Status == sessions.StatusRevoked)
		}
	}
	return false
}
