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
)

// resender sends a session's command again after the card refused it with
// "CNTR low": the card's MT counter is ahead of the store's (a Redis
// restored from an old backup, another platform that used the card's
// keys). Instead of ending this and every later session of the card as
// SIM_ERROR, the store's counter jumps ahead (sessions.ResyncStep past the
// refused value, never backwards) and the same command, sealed with the
// new counter, goes out once more within the session: the user sees one
// login (docs/applet-protocol.md §1.4).
type resender struct {
	store       Store
	ota         OTA
	sender      Sender
	done        *completer
	metrics     *metrics
	userTimeout time.Duration
	now         func() time.Time
}

// afterCounterLow handles an authenticated "CNTR low" PoR that echoed
// counter, the MT counter of running session sess, which was not resent
// before. Of several instances that receive the PoR (an SMSC redelivering
// it) one resends; a failure to store anything asks for the PoR again.
func (r *resender) afterCounterLow(ctx context.Context, log *slog.Logger, sess sessions.Session, counter uint64) error {
	next, err := r.store.ResyncMTCounter(ctx, sess.ICCID, counter)
	if err != nil {
		return err
	}
	switch err := r.store.ClaimResend(ctx, sess.ID, counter, next); {
	case errors.Is(err, sessions.ErrDuplicate):
		return nil // resent by another instance, or the session ended
	case err != nil:
		return err
	}
	r.metrics.resyncs.Inc()
	log.LogAttrs(ctx, slog.LevelWarn, "MT counter behind the card's; command sent again", slog.Uint64("mt_counter", next))
	cmd, err := commandOf(sess, r.userTimeout)
	if err != nil {
		return r.fail(ctx, log, sess.ID, sessions.ResultSIMError, err)
	}
	var ref [1]byte
	_, _ = rand.Read(ref[:])
	segs, err := r.ota.Seal(sess.ICCID, next, cmd, ref[0])
	if err != nil {
		return r.fail(ctx, log, sess.ID, sessions.ResultSIMError, err)
	}
	ids, err := r.sender.Submit(ctx, sess.Phone[1:], segs)
	if err != nil {
		return r.fail(ctx, log, sess.ID, sessions.ResultDeliveryError, err)
	}
	if err := r.store.MarkResubmitted(ctx, sess.ID, ids); err != nil {
		// The command is out; only the receipts' shortcut misses it.
		log.LogAttrs(ctx, slog.LevelWarn, "mark resubmitted", slog.String("err", err.Error()))
		return nil
	}
	r.done.msgs.put(ids, submittedMsg{sessionID: sess.ID, phone: sess.Phone, submitted: r.now()})
	return nil
}

// fail ends session id with result because the command could not be sent
// again; the PoR itself was handled.
func (r *resender) fail(ctx context.Context, log *slog.Logger, id, result string, cause error) error {
	log.LogAttrs(ctx, slog.LevelWarn, "command not sent again", slog.String("err", cause.Error()))
	return r.done.complete(context.WithoutCancel(ctx), log, id, sessions.Result{Code: result})
}

// commandOf rebuilds the command of session sess from its record: the
// same transaction id, key, hash and text as the first time.
func commandOf(sess sessions.Session, userTimeout time.Duration) (*applet.Command, error) {
	op, err := applet.ParseOperation(sess.Operation)
	if err != nil {
		return nil, err
	}
	alg, err := applet.ParseHashAlg(sess.HashAlg)
	if err != nil {
		return nil, err
	}
	if sess.DisplayText == "" {
		return nil, fmt.Errorf("session %s has no display text to send again", sess.ID)
	}
	return &applet.Command{
		TxnID: sess.TxnID, Operation: op, KeyRef: sess.KeyRef, HashAlg: alg, Hash: sess.Hash,
		VerificationCode: applet.VerificationCode(sess.Hash), DisplayText: sess.DisplayText,
		UserTimeout: byte(userTimeout / time.Second),
	}, nil
}
