package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// ErrPermanent marks an MO or receipt the SMSC must not redeliver (the smpp
// adapter acknowledges it). Every other error asks for redelivery.
var ErrPermanent = errors.New("gateway: permanent")

// Receipt is an SMSC delivery receipt for one MT segment.
type Receipt struct {
	Source    string // the handset's number, E.164 digits without '+'
	MessageID string // normalised SMSC message id
	Stat      string // DELIVRD, EXPIRED, UNDELIV, REJECTD, ...
}

// phoneFromAddr turns an SMPP address (digits, maybe with '+') into +994….
func phoneFromAddr(addr string) string {
	return "+" + strings.TrimPrefix(addr, "+")
}

// HandleMO correlates one complete MO (concatenation already undone) from
// source (E.164 digits): open the OTA packet with the card's keys, check the
// MO counter, find the session by transaction id, verify the signature,
// complete the session. It returns nil only when the effect is stored (or
// there is nothing to store); an error asks the SMSC to redeliver.
func (s *Server) HandleMO(ctx context.Context, source string, userData []byte) error {
	phone := phoneFromAddr(source)
	log := lazyWith(s.log, s.phoneAttrs(phone))
	var sub Subscriber
	var runningID string
	var err error
	if rr, ok := s.store.(runningReader); ok {
		sub, runningID, err = rr.SubscriberAndRunning(ctx, phone)
	} else {
		sub, err = s.store.Subscriber(ctx, phone)
	}
	if errors.Is(err, ErrNotFound) {
		s.metrics.moReceivedBy.with("invalid").Inc()
		s.metrics.moUnmatchedBy.with("unknown_phone").Inc()
		return nil
	}
	if err != nil {
		return err
	}
	mo, err := s.ota.Open(sub.ICCID, userData)
	if err != nil {
		// Malformed, unauthenticated or mis-keyed: the card (or something
		// posing as it) answered, but nothing in it can be trusted, so the
		// phone's running session ends as SIM_ERROR.
		reason := "other"
		var oe *OTAError
		if errors.As(err, &oe) {
			reason = oe.Reason
		}
		s.metrics.moReceivedBy.with("invalid").Inc()
		s.metrics.otaErrorsBy.with(reason).Inc()
		log.LogAttrs(ctx, slog.LevelWarn, "MO rejected", slog.String("reason", reason))
		return s.failRunning(ctx, log, phone, ResultSIMError)
	}
	switch mo.Kind {
	case MOPoR:
		s.metrics.moReceivedBy.with("por").Inc()
		if mo.PoRStatus == 0 {
			return nil // a success PoR: the card asked for none, nothing to do
		}
		s.metrics.otaErrorsBy.with("por_status").Inc()
		log.LogAttrs(ctx, slog.LevelWarn, "error PoR", slog.Int("por_status", int(mo.PoRStatus)))
		return s.failRunning(ctx, log, phone, ResultSIMError)
	case MOReply:
		s.metrics.moReceivedBy.with("reply").Inc()
	default:
		return nil
	}
	sess, err := s.sessionOfTxn(ctx, runningID, mo.TxnID)
	if errors.Is(err, ErrNotFound) {
		s.metrics.moUnmatchedBy.with("no_session").Inc()
		return nil
	}
	if err != nil {
		return err
	}
	log = lazyWith(log, slog.String("session_id", sess.ID))
	if sess.Phone != phone || sess.ICCID != sub.ICCID {
		s.metrics.moUnmatchedBy.with("phone_mismatch").Inc()
		log.LogAttrs(ctx, slog.LevelWarn, "MO transaction belongs to another phone")
		return nil
	}
	if sess.State == StateRunning && sess.Submitted.IsZero() {
		s.awaitSubmit(ctx, sess.ID)
	}
	if rc, ok := s.store.(replyCompleter); ok && sess.State == StateRunning {
		// A reply to a running session completes it whether its counter is
		// new or already accepted (see below), so the counter and the
		// completion go to the store together.
		res := s.replyResult(ctx, log, sub, sess, mo)
		done, counterErr, err := rc.AcceptMOAndComplete(ctx, sub.ICCID, mo.Counter, sess.ID, res)
		if err := s.completed(ctx, log, sess, res, done, err); err != nil {
			return err
		}
		if counterErr != nil && !errors.Is(counterErr, ErrReplay) {
			// The completion is stored but the counter is not: ask for the
			// MO again, whose second pass stores the counter and finds the
			// session complete.
			return counterErr
		}
		return nil
	}
	if err := s.store.AcceptMOCounter(ctx, sub.ICCID, mo.Counter); err != nil {
		if !errors.Is(err, ErrReplay) {
			return err
		}
		// The counter was accepted before. If the session is still running
		// this is the SMSC redelivering the very reply whose completion did
		// not get stored (the counter write succeeded, the completion did
		// not): the packet is authentic (its checksum passed) and its
		// transaction id is unique, so apply it. Otherwise it is a replay.
		if sess.State != StateRunning {
			s.metrics.moReplays.Inc()
			log.LogAttrs(ctx, slog.LevelWarn, "MO replay rejected")
			return nil
		}
	}
	if sess.State != StateRunning {
		s.metrics.moUnmatchedBy.with("late").Inc()
		return nil
	}
	return s.completeLocal(ctx, log, sess, s.replyResult(ctx, log, sub, sess, mo))
}

// sessionOfTxn finds the session of an MO's transaction id: the phone's
// running session when its transaction id matches (one read), otherwise
// through the transaction index.
func (s *Server) sessionOfTxn(ctx context.Context, runningID string, txn [8]byte) (Session, error) {
	if runningID != "" {
		if sess, err := s.store.Get(ctx, runningID); err == nil && sess.TxnID == txn {
			return sess, nil
		}
	}
	return s.store.ByTxn(ctx, txn)
}

// replyResult is the result a reply gives its session: the card's status,
// and for OK the signature, which must verify against the certificate.
func (s *Server) replyResult(ctx context.Context, log *slog.Logger, sub Subscriber, sess Session, mo MO) Result {
	res := Result{Result: resultForStatus(mo.Status), Completed: s.now()}
	if res.Result == ResultOK {
		res.SigAlg = mo.SigAlg
		res.Signature = mo.Signature
		if err := s.checkSignature(sub, sess, mo); err != nil {
			log.LogAttrs(ctx, slog.LevelWarn, "signature rejected", slog.String("err", err.Error()))
			res = Result{Result: ResultSignatureInvalid, Completed: res.Completed}
		}
	}
	return res
}

// checkSignature verifies the reply against the certificate of the session's key reference.
func (s *Server) checkSignature(sub Subscriber, sess Session, mo MO) error {
	for _, c := range sub.Certificates {
		if c.KeyRef != sess.KeyRef {
			continue
		}
		pc := certs.get(c.DER)
		switch {
		case pc.err != nil:
			return fmt.Errorf("certificate: %w", pc.err)
		case pc.keyErr != nil:
			return pc.keyErr
		}
		return verifyWithKey(pc.pub, mo.SigAlg, sess.Hash, mo.Signature)
	}
	return errors.New("no certificate for the key reference")
}

// failRunning completes the phone's running session with result, if any.
func (s *Server) failRunning(ctx context.Context, log *slog.Logger, phone, result string) error {
	sess, err := s.store.RunningByPhone(ctx, phone)
	if errors.Is(err, ErrNotFound) {
		s.metrics.moUnmatchedBy.with("no_session").Inc()
		return nil
	}
	if err != nil {
		return err
	}
	return s.completeLocal(ctx, lazyWith(log, slog.String("session_id", sess.ID)), sess, Result{Result: result, Completed: s.now()})
}

// HandleReceipt applies a delivery receipt to the phone's running session
// when the message id is one of its segments: DELIVRD marks it delivered,
// UNDELIV/REJECTD end it as DELIVERY_ERROR, EXPIRED as PHONE_ABSENT.
func (s *Server) HandleReceipt(ctx context.Context, r Receipt) error {
	phone := phoneFromAddr(r.Source)
	if stat := strings.ToUpper(r.Stat); stat == "DELIVRD" || stat == "ACCEPTD" || stat == "ENROUTE" {
		// This instance submitted the segment: the session is known
		// without reading it, and the mark script refuses a session that
		// is no longer running.
		// Anything but a fresh mark (a receipt already applied, a session
		// completed by another instance) takes the store path below, which
		// counts it as it always did.
		if m, ok := s.msgs.take(r.MessageID); ok && m.phone == phone {
			at := s.now()
			if err := s.store.MarkDelivered(ctx, m.sessionID, at); err == nil {
				s.metrics.receiptsBy.with("delivered").Inc()
				s.metrics.stageLatencyBy.with("submitted_delivered").Observe(at.Sub(m.submitted).Seconds())
				return nil
			}
		}
	}
	sess, err := s.store.RunningByPhone(ctx, phone)
	if errors.Is(err, ErrNotFound) {
		s.metrics.receiptsBy.with("unmatched").Inc()
		return nil
	}
	if err != nil {
		return err
	}
	if !slices.Contains(sess.MessageIDs, r.MessageID) {
		if sess.Submitted.IsZero() {
			// The receipt outran our own record of the submit: ask the
			// SMSC to redeliver it in a moment rather than lose it.
			s.metrics.receiptsBy.with("early").Inc()
			return errors.New("gateway: receipt before the submit was recorded")
		}
		s.metrics.receiptsBy.with("unmatched").Inc()
		return nil
	}
	log := lazyWith(s.log, slog.String("session_id", sess.ID), slog.String("stat", r.Stat))
	switch strings.ToUpper(r.Stat) {
	case "DELIVRD", "ACCEPTD", "ENROUTE":
		s.metrics.receiptsBy.with("delivered").Inc()
		if !sess.Delivered.IsZero() {
			return nil
		}
		at := s.now()
		if err := s.store.MarkDelivered(ctx, sess.ID, at); err != nil && !errors.Is(err, ErrDuplicate) && !errors.Is(err, ErrNotFound) {
			return err
		}
		if !sess.Submitted.IsZero() {
			s.metrics.stageLatencyBy.with("submitted_delivered").Observe(at.Sub(sess.Submitted).Seconds())
		}
		return nil
	case "EXPIRED":
		s.metrics.receiptsBy.with("absent").Inc()
		return s.completeLocal(ctx, log, sess, Result{Result: ResultPhoneAbsent, Completed: s.now()})
	case "UNDELIV", "REJECTD", "DELETED", "UNKNOWN":
		s.metrics.receiptsBy.with("failed").Inc()
		return s.completeLocal(ctx, log, sess, Result{Result: ResultDeliveryError, Completed: s.now()})
	}
	s.metrics.receiptsBy.with("unmatched").Inc()
	return nil
}
