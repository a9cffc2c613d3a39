package gateway

import (
	"context"
	"errors"
	"log/slog"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/ota"
	"github.com/imzagate/imzagate/sessions"
)

// Reasons of imzagate_ota_errors_total beyond the OTA layer's own: MOs
// that opened, or that were our own, but may not change a session.
const (
	reasonEchoedMT     = "echoed_mt"     // one of our MTs came back (reflected or replayed)
	reasonPoRUnsecured = "por_unsecured" // a PoR without a checksum: anyone can send one
	reasonPoRStale     = "por_stale"     // a PoR echoing another counter than the session's MT
	reasonPoRInfo      = "por_info"      // a PoR that reports no failure (00, 08, 0B, 0C)
)

// rejectMO acknowledges an MO that may not change any session: it is
// counted by reason and logged without its content.
func (c *correlator) rejectMO(ctx context.Context, log *slog.Logger, reason string) {
	c.metrics.moReceived.invalid.Inc()
	c.metrics.otaError(reason).Inc()
	log.LogAttrs(ctx, slog.LevelWarn, "MO rejected", slog.String("reason", reason))
}

// porInformational reports the PoR statuses that say the command was not
// refused: OK (never asked for), "more time needed" (a later PoR or the
// reply follows) and "response data sent by SMS-SUBMIT or USSD" (the reply
// comes by itself), ota.md §8.
func porInformational(st ota.Status) bool {
	switch st {
	case ota.StatusOK, ota.StatusMoreTime, ota.StatusResponseBySubmit, ota.StatusResponseByUSSD:
		return true
	}
	return false
}

// handlePoR applies a proof of receipt from sub's card. A PoR carries no
// transaction id; it answers the phone's running session only when it is
// secured with the card's MT keys and echoes the counter of that
// session's MT (an earlier command's delayed PoR, or a replayed one,
// echoes another). Then "CNTR low" resynchronises the counter and sends
// the command again (once per session); any other refusal ends the session
// as SIM_ERROR. Everything else is counted and changes nothing.
func (c *correlator) handlePoR(ctx context.Context, log *slog.Logger, sub sessions.Subscriber, mo applet.MO) error {
	st := ota.Status(mo.PoRStatus)
	log = withAttrs(log, slog.String("por_status", st.String()))
	switch {
	case !mo.PoRSecured:
		c.rejectMO(ctx, log, reasonPoRUnsecured)
		return nil
	case porInformational(st):
		c.metrics.otaError(reasonPoRInfo).Inc()
		return nil
	}
	sess, err := c.porSession(ctx, sub, mo.Counter)
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		c.metrics.moUnmatched.noSession.Inc()
		return nil
	case err != nil:
		return err
	case sess.ID == "":
		c.rejectMO(ctx, log, reasonPoRStale)
		return nil
	}
	log = withAttrs(log, slog.String("session_id", sess.ID))
	c.metrics.otaError("por_status").Inc()
	if st == ota.StatusCounterLow && c.resend != nil && !sess.Resent {
		return c.resend.afterCounterLow(ctx, log, sess, mo.Counter)
	}
	log.LogAttrs(ctx, slog.LevelWarn, "command refused by the card")
	return c.done.complete(ctx, log, sess.ID, sessions.Result{Code: sessions.ResultSIMError})
}

// porSession returns the running session of sub's phone whose MT carried
// counter, the zero Session when the phone's running session carries
// another (the PoR is stale), or ErrNotFound when none runs. A PoR may
// outrun this instance's record of the submit; it then waits for it once.
func (c *correlator) porSession(ctx context.Context, sub sessions.Subscriber, counter uint64) (sessions.Session, error) {
	sess, err := c.store.RunningByPhone(ctx, sub.Phone)
	if err != nil {
		return sessions.Session{}, err
	}
	if sess.MTCounter == 0 && sess.Submitted.IsZero() {
		c.done.submits.wait(ctx, sess.ID)
		if sess, err = c.store.RunningByPhone(ctx, sub.Phone); err != nil {
			return sessions.Session{}, err
		}
	}
	if sess.ICCID != sub.ICCID || sess.MTCounter != counter {
		return sessions.Session{}, nil
	}
	return sess, nil
}
