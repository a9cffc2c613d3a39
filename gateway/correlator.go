package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/ota"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// correlator matches what the SMSC delivers to sessions: the card's
// replies (MOs) and the delivery receipts of the commands. It is the
// smpp.Handler the SMPP pool calls. It returns nil only once the effect is
// stored (or there is nothing to store), so an error makes the SMSC
// redeliver and nothing is lost; a redelivered or replayed MO changes
// nothing, since Complete is idempotent and the MO counter only rises.
type correlator struct {
	store   Store
	ota     OTA
	done    *completer
	ades    *adesSigner
	metrics *metrics
	log     *slog.Logger
	logKey  []byte
	now     func() time.Time
	trust   *certChecker
	resend  *resender // seals and submits a command again after a counter resync; set once the Sender exists
}

// phoneFromAddr turns an SMPP address (digits, maybe with '+') into +994….
func phoneFromAddr(addr string) string {
	return "+" + strings.TrimPrefix(addr, "+")
}

// okDCS are the data codings an OTA MO may arrive with
// (docs/applet-protocol.md §1: SMSCs may rewrite F6 as 04 or 16).
func okDCS(dcs byte) bool { return dcs == 0x04 || dcs == 0xF6 || dcs == 0x16 }

// HandleMO correlates one complete MO (concatenation already undone):
// open the OTA packet with the card's keys, find the session by
// transaction id, verify the signature, complete the session with the MO
// counter.
func (c *correlator) HandleMO(ctx context.Context, mo smpp.MO) error {
	if !okDCS(mo.DataCoding) || len(mo.UserData) < 3 {
		// A text SMS to our service number, or something else we cannot
		// use: acknowledge it so it is not redelivered forever.
		c.metrics.moReceived.invalid.Inc()
		c.log.LogAttrs(ctx, slog.LevelInfo, "MO ignored", slog.Int("data_coding", int(mo.DataCoding)))
		return nil
	}
	phone := phoneFromAddr(mo.Source)
	log := withAttrs(c.log, phoneAttr(c.logKey, phone))
	pre, done, err := c.localReply(ctx, log, phone, mo)
	if done {
		return err
	}
	sub, runningID, err := c.store.SubscriberAndRunning(ctx, phone)
	if errors.Is(err, sessions.ErrNotFound) {
		c.metrics.moReceived.invalid.Inc()
		c.metrics.moUnmatched.unknownPhone.Inc()
		return nil
	}
	if err != nil {
		return err
	}
	if sub.State != "" {
		// Suspended, closed or moving: its card's replies complete nothing.
		c.metrics.moReceived.invalid.Inc()
		c.metrics.moUnmatched.unknownPhone.Inc()
		return nil
	}
	var opened applet.MO
	if pre != nil && pre.iccid == sub.ICCID {
		opened, err = pre.mo, pre.err
	} else {
		opened, err = c.ota.Open(sub.ICCID, mo.UserData)
	}
	if err != nil {
		// Malformed, unauthenticated, mis-keyed or one of our own MTs
		// reflected back: anyone can send such a message, so it changes
		// no session (docs/applet-protocol.md §1.3). It is acknowledged,
		// counted by reason and logged; the genuine reply still completes
		// the session.
		c.rejectMO(ctx, log, otaReason(err))
		return nil
	}
	switch opened.Kind {
	case applet.MOPoR:
		c.metrics.moReceived.por.Inc()
		return c.handlePoR(ctx, log, sub, opened)
	case applet.MOReply:
		c.metrics.moReceived.reply.Inc()
		return c.handleReply(ctx, log, sub, runningID, opened)
	}
	return nil
}

// otaReason maps an error of OTA.Open to a bounded metric label.
func otaReason(err error) string {
	switch {
	case errors.Is(err, ota.ErrChecksum):
		return "checksum"
	case errors.Is(err, ota.ErrCounter), errors.Is(err, ota.ErrCounterLow), errors.Is(err, ota.ErrCounterHigh), errors.Is(err, ota.ErrCounterBlock):
		return "counter"
	case errors.Is(err, applet.ErrEchoedMT):
		return reasonEchoedMT
	case errors.Is(err, applet.ErrWrongKeySet), errors.Is(err, ota.ErrKey), errors.Is(err, applet.ErrICCID):
		return "keys"
	case errors.Is(err, applet.ErrWrongTAR):
		return "tar"
	case errors.Is(err, applet.ErrUnsecuredPoR):
		return reasonPoRUnsecured
	}
	return "format"
}

// handleReply applies the applet's reply mo from sub's card. A reply to a
// running session completes it, whether its counter is new or was
// accepted before (the SMSC redelivering a reply whose completion was not
// stored: the packet is authentic and its transaction id unique), with
// the counter in the same store call. A reply to a finished session only
// has its counter checked: a counter seen before is a replay.
func (c *correlator) handleReply(ctx context.Context, log *slog.Logger, sub sessions.Subscriber, runningID string, mo applet.MO) error {
	sess, err := c.sessionOfTxn(ctx, runningID, mo.Response.TxnID)
	if errors.Is(err, sessions.ErrNotFound) {
		c.metrics.moUnmatched.noSession.Inc()
		return nil
	}
	if err != nil {
		return err
	}
	log = withAttrs(log, slog.String("session_id", sess.ID))
	if sess.Phone != sub.Phone || sess.ICCID != sub.ICCID {
		c.metrics.moUnmatched.phoneMismatch.Inc()
		log.LogAttrs(ctx, slog.LevelWarn, "MO transaction belongs to another phone")
		return nil
	}
	if sess.State != sessions.StateRunning {
		if err := c.store.AcceptMOCounter(ctx, sub.ICCID, mo.Counter); errors.Is(err, sessions.ErrReplay) {
			c.metrics.moReplays.Inc()
			log.LogAttrs(ctx, slog.LevelWarn, "MO replay rejected")
			return nil
		} else if err != nil {
			return err
		}
		c.metrics.moUnmatched.late.Inc()
		return nil
	}
	if sess.Submitted.IsZero() {
		c.done.submits.wait(ctx, sess.ID)
	}
	res := c.replyResult(ctx, log, sub, sess, mo.Response)
	done, counterErr, err := c.store.AcceptMOAndComplete(ctx, sub.ICCID, mo.Counter, sess.ID, res)
	if err := c.done.recordCompletionOf(ctx, log, sess.ID, res, done, err, c.done.audit.serialOf(sub, sess)); err != nil {
		return err
	}
	if counterErr != nil && !errors.Is(counterErr, sessions.ErrReplay) {
		// The completion is stored but the counter is not: ask for the MO
		// again, whose second pass stores the counter and finds the
		// session complete.
		return counterErr
	}
	return nil
}

// sessionOfTxn finds the session of an MO's transaction id: the phone's
// running session when its transaction id matches (one read), otherwise
// through the transaction index.
func (c *correlator) sessionOfTxn(ctx context.Context, runningID string, txn [8]byte) (sessions.Session, error) {
	if runningID != "" {
		if sess, err := c.store.Get(ctx, runningID); err == nil && sess.TxnID == txn {
			return sess, nil
		}
	}
	return c.store.ByTxn(ctx, txn)
}

// resultForStatus maps an applet status (docs/applet-protocol.md §4, tag
// 90) to a final result.
func resultForStatus(st applet.Status) string {
	switch st {
	case applet.StatusOK:
		return sessions.ResultOK
	case applet.StatusUserCancelled:
		return sessions.ResultUserCancelled
	case applet.StatusPINBlocked:
		return sessions.ResultPINBlocked
	case applet.StatusCardBlocked:
		return sessions.ResultCardBlocked
	case applet.StatusNoSuchKey:
		return sessions.ResultNoKey
	case applet.StatusTimeout:
		return sessions.ResultTimeout
	default: // 06 bad request, 07 internal, 08 busy, unknown
		return sessions.ResultSIMError
	}
}

// replyResult is the result a reply gives its session: the card's status,
// and for OK the signature, which must verify against the certificate.
func (c *correlator) replyResult(ctx context.Context, log *slog.Logger, sub sessions.Subscriber, sess sessions.Session, r applet.Response) sessions.Result {
	res := sessions.Result{Code: resultForStatus(r.Status)}
	if res.Code != sessions.ResultOK {
		return res
	}
	if refusedAtReply(sub, sess, c.trust != nil && c.trust.c != nil) {
		log.LogAttrs(ctx, slog.LevelWarn, "certificate revoked or suspended since the start")
		return sessions.Result{Code: ResultCertificateRevoked}
	}
	if err := checkSignature(sub, sess, r); err != nil {
		log.LogAttrs(ctx, slog.LevelWarn, "signature rejected", slog.String("err", err.Error()))
		return sessions.Result{Code: sessions.ResultSignatureInvalid}
	}
	res = sessions.Result{Code: sessions.ResultOK, SigAlg: r.SigAlg.String(), Signature: r.Signature}
	if len(sess.AdES) > 0 {
		// The card signed the hash of the signed attributes (checked just
		// above); ades.Verify then checks the assembled container as a
		// portal's verifier will, before any portal sees it.
		container, err := c.ades.seal(sub, sess, r)
		if err != nil {
			log.LogAttrs(ctx, slog.LevelWarn, "signature container rejected", slog.String("err", err.Error()))
			return sessions.Result{Code: sessions.ResultSignatureInvalid}
		}
		res.Container = container
	}
	return c.recheck(ctx, log, sub, sess, res)
}

// checkSignature verifies the reply against the certificate of the
// session's key reference, with the key the certificate cache holds.
func checkSignature(sub sessions.Subscriber, sess sessions.Session, r applet.Response) error {
	for _, cert := range sub.Certificates {
		if cert.KeyRef != sess.KeyRef {
			continue
		}
		pc := certs.get(cert.DER)
		switch {
		case pc.err != nil:
			return fmt.Errorf("certificate: %w", pc.err)
		case pc.keyErr != nil:
			return pc.keyErr
		}
		return pc.key.Verify(r.SigAlg, sess.Hash, r.Signature)
	}
	return errors.New("no certificate for the key reference")
}
