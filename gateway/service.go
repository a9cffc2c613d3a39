package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// sessionService starts sessions: the session in the store, the command
// sealed for the card, the submit to the operator, the timeout timer. Once
// draining starts it takes no new session.
type sessionService struct {
	store       Store
	sender      Sender
	ota         OTA
	done        *completer
	ades        *adesSigner
	metrics     *metrics
	logKey      []byte
	now         func() time.Time
	userTimeout time.Duration // the applet's wait for the user (tag 88)
	ttl         time.Duration // the session's life: userTimeout and the delivery grace
	// draining ends when draining starts; long-polls end with it too.
	draining context.Context
	drain    context.CancelFunc
	trust    *certChecker
}

// expiryMargin is how long before the store's expiry the timer completes a
// session as TIMEOUT, so this instance, not the expiry, records the result.
const expiryMargin = 500 * time.Millisecond

// start runs the start flow after validation: the User ID check (with
// lockout), the certificate policy and the session in the store (one per
// phone), then the command sealed with a fresh counter and its submit. An
// Idempotency-Key seen before returns the earlier session, with no second
// SMS.
func (s *sessionService) start(ctx context.Context, log *slog.Logger, p *Portal, in startInput, idemKey string) (sessions.Session, error) {
	// A draining instance takes no new session: the portal gets a clear 503
	// it can retry at once (another instance, or this one's successor, takes
	// it) instead of a session whose SMS this process may never send.
	if s.draining.Err() != nil {
		return sessions.Session{}, &Error{Code: CodeShuttingDown, Detail: "this gateway instance is shutting down; retry the request", RetryAfter: time.Second}
	}
	plan := &startPlan{svc: s, portal: p.ID, in: in, idemKey: idemKey}
	if idemKey != "" {
		plan.fingerprint = requestFingerprint(in)
	}
	_, counter, err := s.store.CheckAndStart(ctx, in.Phone, in.UserID, plan.build)
	sess := plan.sess
	if err != nil {
		if errors.Is(err, sessions.ErrDuplicate) && sess.ID != "" && sess.Portal == p.ID {
			return sess, refusedAtStart(sess) // the same Idempotency-Key within its window
		}
		return sessions.Session{}, err
	}
	log = withAttrs(log, slog.String("session_id", sess.ID), slog.String("portal", p.ID), slog.String("operation", in.Operation.String()))
	s.metrics.started(in.Operation, p.ID).Inc()
	log.LogAttrs(ctx, slog.LevelInfo, "session started", phoneAttr(s.logKey, in.Phone))
	if err := s.checkStatus(ctx, log, p, plan); err != nil {
		return sessions.Session{}, err
	}
	s.done.audit.sessionStarted(ctx, sess)
	return s.submit(ctx, log, sess, in, counter)
}

// startPlan lays out a session for the store's CheckAndStart, which
// calls build with the subscriber once the User ID matched and fills sess
// in as it starts it.
type startPlan struct {
	svc         *sessionService
	portal      string
	in          startInput
	idemKey     string
	fingerprint []byte // the request's, when idemKey is set
	sess        sessions.Session
	cert        sessions.Certificate // the one picked, checked again after the start
}

// build applies the certificate policy and lays out the session.
func (sp *startPlan) build(sub sessions.Subscriber) (*sessions.Session, time.Duration, error) {
	if err := subscriberMayStart(sub); err != nil {
		return nil, 0, err
	}
	cert, err := pickCertificate(sub, sp.in, sp.svc.now())
	if err != nil {
		return nil, 0, err
	}
	if err := sp.svc.trust.validate(cert, sp.in.Operation, sp.svc.now()); err != nil {
		return nil, 0, err
	}
	sp.cert = cert
	in := &sp.in
	hash, state := in.Hash, []byte(nil)
	if in.Format != "" {
		// The card signs the hash of the signed attributes, not the
		// document's digest: the code the phone shows derives from it.
		if state, hash, err = sp.svc.ades.prepare(in, cert, sp.svc.now()); err != nil {
			return nil, 0, err
		}
	}
	sp.sess = sessions.Session{
		Portal: sp.portal, Operation: in.Operation.String(), Phone: in.Phone, ICCID: sub.ICCID,
		KeyRef: cert.KeyRef, Hash: hash, HashAlg: in.HashAlg.String(),
		VerificationCode: applet.FormatVerificationCode(applet.VerificationCode(hash)),
		CallbackURL:      in.CallbackURL, IdempotencyKey: sp.idemKey, Operator: sub.Operator,
		IdempotencyFingerprint: sp.fingerprint, DisplayText: in.DisplayText, AdES: state,
	}
	return &sp.sess, sp.svc.ttl, nil
}

// submit seals the command of the started session sess, sends it and
// records the submit; counter is the MT counter drawn with the start (0:
// draw one now). A submit that certainly failed completes the session as
// DELIVERY_ERROR at once, so the phone is free again and the portal learns
// it now rather than after the timeout.
func (s *sessionService) submit(ctx context.Context, log *slog.Logger, sess sessions.Session, in startInput, counter uint64) (sessions.Session, error) {
	fail := func(err error) (sessions.Session, error) {
		s.deliveryError(ctx, log, sess.ID)
		return sessions.Session{}, err
	}
	if counter == 0 {
		var err error
		if counter, err = s.store.NextMTCounter(ctx, sess.ICCID); err != nil {
			return fail(err)
		}
	}
	defer s.done.submits.end(sess.ID, s.done.submits.begin(sess.ID))
	ps := s.done.pending.begin(in.Phone)
	stored := false
	defer func() { s.done.pending.end(ps, stored) }()
	var ref [1]byte
	_, _ = rand.Read(ref[:])
	cmd := &applet.Command{
		TxnID: sess.TxnID, Operation: in.Operation, KeyRef: sess.KeyRef, HashAlg: in.HashAlg, Hash: sess.Hash,
		VerificationCode: applet.VerificationCode(sess.Hash), DisplayText: in.DisplayText, UserTimeout: byte(s.userTimeout / time.Second),
	}
	segs, err := s.ota.Seal(sess.ICCID, counter, cmd, ref[0])
	if err != nil {
		return fail(fmt.Errorf("seal: %w", err))
	}
	ids, err := s.sender.Submit(ctx, in.Phone[1:], segs)
	switch {
	case errors.Is(err, smpp.ErrOutcomeUnknown):
		// No answer within the operator's bound: the SMS may still reach
		// the phone, but nothing says it will. The session ends now (a
		// late reply then finds it complete and changes nothing) and the
		// portal gets 503, never a 201 for a message nobody accepted.
		log.LogAttrs(ctx, slog.LevelWarn, "submit unconfirmed", slog.String("err", err.Error()))
		return fail(err)
	case errors.Is(err, smpp.ErrNoRoute), errors.Is(err, smpp.ErrOperatorUnavailable):
		return fail(err)
	case err != nil:
		// The operator refused the message: the session ends now, and the
		// portal reads DELIVERY_ERROR as its result.
		log.LogAttrs(ctx, slog.LevelWarn, "submit refused", slog.String("err", err.Error()))
		s.deliveryError(ctx, log, sess.ID)
		return sess, nil
	default:
		stored = s.recordSubmit(ctx, log, sess, in.Phone, counter, ids, s.done.pending.send(ps, ids))
	}
	s.armTimeout(log, sess)
	return sess, nil
}

// recordSubmit stores the submit of sess (its command sealed with
// counter) with the SMSC's message ids and remembers them for the
// receipts that will name them. With delivered, a receipt for one of them
// arrived meanwhile and is stored with it (pendingSubmits); it reports
// whether the record was stored.
func (s *sessionService) recordSubmit(ctx context.Context, log *slog.Logger, sess sessions.Session, phone string, counter uint64, ids []string, delivered bool) bool {
	at := s.now()
	var deliveredAt time.Time
	if delivered {
		deliveredAt = at // learnt before the submit was recorded: no later than it
	}
	err := s.store.MarkSubmittedDelivered(ctx, sess.ID, counter, ids, at, deliveredAt)
	switch {
	case err == nil:
		s.done.msgs.put(ids, submittedMsg{sessionID: sess.ID, phone: phone, submitted: at})
	case !errors.Is(err, sessions.ErrDuplicate):
		log.LogAttrs(ctx, slog.LevelWarn, "mark submitted", slog.String("err", err.Error()))
	}
	s.metrics.stage.acceptedSubmitted.Observe(at.Sub(sess.Accepted).Seconds())
	if err == nil && delivered {
		s.metrics.receipts.delivered.Inc()
		s.metrics.stage.submittedDelivered.Observe(0)
	}
	return err == nil
}

// deliveryError completes session id as DELIVERY_ERROR, even when the
// request that started it has gone.
func (s *sessionService) deliveryError(ctx context.Context, log *slog.Logger, id string) {
	_ = s.done.complete(context.WithoutCancel(ctx), log, id, sessions.Result{Code: sessions.ResultDeliveryError})
}

// armTimeout has the session completed as TIMEOUT just before it expires
// in the store. If a reply or another instance got there first, the
// completion reports a duplicate and nothing happens.
func (s *sessionService) armTimeout(log *slog.Logger, sess sessions.Session) {
	s.done.timeouts.arm(sess.ID, sess.ExpiresAt.Sub(s.now())-expiryMargin, log)
}
