package gateway

import (
	"context"
	"errors"
	"log/slog"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// openedMO is an MO already opened with the keys of the card with iccid
// (err: why it did not open), so the ordinary path does not open it again.
type openedMO struct {
	iccid string
	mo    applet.MO
	err   error
}

// localReply is the short path of a reply to a session this instance
// started: the session and subscriber it remembers stand in for the reads,
// and the completion checks in its own script that the subscriber is
// unchanged, so the reply costs one round trip (docs/performance.md §2).
// done reports that the MO was handled; otherwise pre, when set, is the MO
// opened with the remembered card's keys, for the ordinary path.
func (c *correlator) localReply(ctx context.Context, log *slog.Logger, phone string, mo smpp.MO) (pre *openedMO, done bool, err error) {
	sess, sub, ok := c.store.LocalRunning(phone)
	if !ok || sub.State != "" || sess.Phone != sub.Phone || sess.ICCID != sub.ICCID {
		return nil, false, nil
	}
	opened, oerr := c.ota.Open(sub.ICCID, mo.UserData)
	pre = &openedMO{iccid: sub.ICCID, mo: opened, err: oerr}
	if oerr != nil || opened.Kind != applet.MOReply || opened.Response.TxnID != sess.TxnID || !c.now().Before(sess.ExpiresAt) {
		return pre, false, nil
	}
	log = withAttrs(log, slog.String("session_id", sess.ID))
	if sess.Submitted.IsZero() {
		c.done.submits.wait(ctx, sess.ID)
	}
	res := c.replyResult(ctx, log, sub, sess, opened.Response)
	fin, counterErr, err := c.store.AcceptMOAndCompleteIfUnchanged(ctx, sub.ICCID, opened.Counter, sess.ID, res)
	if errors.Is(err, sessions.ErrSubscriberChanged) {
		return pre, false, nil
	}
	c.metrics.moReceived.reply.Inc()
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		c.metrics.moUnmatched.noSession.Inc()
		return nil, true, nil
	case errors.Is(err, sessions.ErrDuplicate):
		// Completed by another instance (or expired) meanwhile: what the
		// ordinary path does with a reply to a finished session.
		if errors.Is(counterErr, sessions.ErrReplay) {
			c.metrics.moReplays.Inc()
			log.LogAttrs(ctx, slog.LevelWarn, "MO replay rejected")
			return nil, true, nil
		}
		if counterErr != nil {
			return nil, true, counterErr
		}
		c.metrics.moUnmatched.late.Inc()
		return nil, true, nil
	}
	if err := c.done.recordCompletionOf(ctx, log, sess.ID, res, fin, err, c.done.audit.serialOf(sub, sess)); err != nil {
		return nil, true, err
	}
	if counterErr != nil && !errors.Is(counterErr, sessions.ErrReplay) {
		return nil, true, counterErr // as handleReply: the second pass stores the counter
	}
	return nil, true, nil
}
