package gateway

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"

	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// errEarlyReceipt asks the SMSC to redeliver a receipt that outran the
// record of its submit.
var errEarlyReceipt = errors.New("gateway: receipt before the submit was recorded")

// delivered reports whether a receipt's stat says the message reached the
// handset (or is on its way and will).
func delivered(stat string) bool {
	return stat == "DELIVRD" || stat == "ACCEPTD" || stat == "ENROUTE"
}

// HandleReceipt applies a delivery receipt to the phone's running session
// when the message id is one of its segments (SMPP 3.4 Appendix B):
// DELIVRD marks it delivered; a failed receipt ends it as PHONE_ABSENT,
// DELIVERY_ERROR or SIM_ERROR by its network error code, or by its state
// without one (receiptFailure, docs/smpp.md §8.3).
func (c *correlator) HandleReceipt(ctx context.Context, r smpp.Receipt) error {
	phone := phoneFromAddr(r.Source)
	stat := strings.ToUpper(r.Stat)
	if delivered(stat) && (c.done.pending.join(ctx, phone, r.MessageID) || c.markDelivered(ctx, phone, r.MessageID)) {
		return nil
	}
	sess, err := c.store.RunningByPhone(ctx, phone)
	if errors.Is(err, sessions.ErrNotFound) {
		c.metrics.receipts.unmatched.Inc()
		return nil
	}
	if err != nil {
		return err
	}
	if !slices.Contains(sess.MessageIDs, r.MessageID) {
		if sess.Submitted.IsZero() {
			// The receipt outran our own record of the submit: ask the
			// SMSC to redeliver it in a moment rather than lose it.
			c.metrics.receipts.early.Inc()
			return errEarlyReceipt
		}
		c.metrics.receipts.unmatched.Inc()
		return nil
	}
	return c.applyReceipt(ctx, sess, r, stat)
}

// markDelivered is the short path of a delivery receipt for a segment
// this instance submitted: the session is known without reading it, and
// the store refuses the mark for a session no longer running. It reports
// whether the receipt was handled: marked, or counted as the store path
// would count it (a session completed here or elsewhere is unmatched, a
// stamp set before is delivered); a store failure takes the store path.
func (c *correlator) markDelivered(ctx context.Context, phone, messageID string) bool {
	m, ok := c.done.msgs.take(messageID)
	if !ok || m.phone != phone {
		return false
	}
	if m.done {
		c.metrics.receipts.unmatched.Inc()
		return true
	}
	at := c.now()
	switch err := c.store.MarkDelivered(ctx, m.sessionID, at); {
	case err == nil:
	case errors.Is(err, sessions.ErrCompleted), errors.Is(err, sessions.ErrExpired), errors.Is(err, sessions.ErrNotFound):
		// No running session to mark: what the store path would count.
		c.metrics.receipts.unmatched.Inc()
		return true
	case errors.Is(err, sessions.ErrDuplicate):
		c.metrics.receipts.delivered.Inc() // another segment's receipt marked it
		return true
	default:
		return false
	}
	c.metrics.receipts.delivered.Inc()
	c.metrics.stage.submittedDelivered.Observe(at.Sub(m.submitted).Seconds())
	return true
}

// applyReceipt applies receipt r for one of running session sess's
// segments; stat is r.Stat in upper case.
func (c *correlator) applyReceipt(ctx context.Context, sess sessions.Session, r smpp.Receipt, stat string) error {
	switch stat {
	case "DELIVRD", "ACCEPTD", "ENROUTE":
		c.metrics.receipts.delivered.Inc()
		if !sess.Delivered.IsZero() {
			return nil
		}
		at := c.now()
		if err := c.store.MarkDelivered(ctx, sess.ID, at); err != nil && !errors.Is(err, sessions.ErrDuplicate) && !errors.Is(err, sessions.ErrNotFound) {
			return err
		}
		if !sess.Submitted.IsZero() {
			c.metrics.stage.submittedDelivered.Observe(at.Sub(sess.Submitted).Seconds())
		}
		return nil
	}
	res, ok := receiptFailure(r, stat)
	if !ok {
		c.metrics.receipts.unmatched.Inc()
		return nil
	}
	switch res {
	case sessions.ResultPhoneAbsent:
		c.metrics.receipts.absent.Inc()
	case sessions.ResultSIMError:
		c.metrics.receipts.simError.Inc()
	default:
		c.metrics.receipts.failed.Inc()
	}
	return c.done.complete(ctx, c.receiptLogger(sess.ID, r), sess.ID, sessions.Result{Code: res})
}

// receiptLogger is the logger of a receipt r that completes session id.
func (c *correlator) receiptLogger(id string, r smpp.Receipt) *slog.Logger {
	return withAttrs(c.log, slog.String("session_id", id), slog.String("stat", r.Stat), slog.String("err", r.Err),
		slog.String("network_error", r.NetworkError.String()))
}
