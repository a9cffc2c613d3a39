package gateway

import (
	"context"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// Store is the part of the session store the gateway calls, in the
// store's own types; *sessions.Store implements it. Errors wrap the
// sentinels of package sessions, which errorCode maps to portal codes.
type Store interface {
	// CheckAndStart checks the User ID (a wrong one counts towards the
	// lockout), calls build with the subscriber to lay out the session,
	// starts it (one running session per phone) and draws the card's next
	// MT counter, 0 when it could not be drawn with the start. An
	// Idempotency-Key seen before fills the built session with the earlier
	// one and returns sessions.ErrDuplicate.
	CheckAndStart(ctx context.Context, phone, userID string,
		build func(sessions.Subscriber) (*sessions.Session, time.Duration, error)) (sessions.Subscriber, uint64, error)
	// NextMTCounter draws a card's MT counter when CheckAndStart did not.
	NextMTCounter(ctx context.Context, iccid string) (uint64, error)
	// MarkSubmitted records the submit of the command sealed with OTA
	// counter mtCounter: the SMSC accepted every segment.
	MarkSubmitted(ctx context.Context, id string, mtCounter uint64, messageIDs []string, at time.Time) error
	MarkDelivered(ctx context.Context, id string, at time.Time) error
	// Complete records a final result once and publishes it.
	Complete(ctx context.Context, id string, res sessions.Result) (sessions.Session, error)
	Get(ctx context.Context, id string) (sessions.Session, error)
	// WaitOwnedSubscriber waits for a portal's session to complete (or
	// ctx to end) and, when the completion woke it, returns the
	// subscriber read with it (else the zero Subscriber).
	WaitOwnedSubscriber(ctx context.Context, id, portal string) (sessions.Session, sessions.Subscriber, error)
	// CheckUserID is the User ID check alone, for the certificate list.
	CheckUserID(ctx context.Context, phone, userID string) (sessions.Subscriber, error)
	Subscriber(ctx context.Context, phone string) (sessions.Subscriber, error)
	// SubscriberAndRunning reads an MO's subscriber and the id of the
	// phone's running session ("" when none) together.
	SubscriberAndRunning(ctx context.Context, phone string) (sessions.Subscriber, string, error)
	ByTxn(ctx context.Context, txn [8]byte) (sessions.Session, error)
	RunningByPhone(ctx context.Context, phone string) (sessions.Session, error)
	// AcceptMOAndComplete stores a reply's MO counter and completes its
	// running session together; counterErr is the counter's verdict
	// (sessions.ErrReplay when it was accepted before).
	AcceptMOAndComplete(ctx context.Context, iccid string, counter uint64, id string, res sessions.Result) (done sessions.Session, counterErr, err error)
	// AcceptMOCounter stores the MO counter of a reply to a session that
	// is no longer running, which tells a replay from a late reply.
	AcceptMOCounter(ctx context.Context, iccid string, counter uint64) error
	Ping(ctx context.Context) error

	// ResyncMTCounter moves a card's MT counter past the counter a "CNTR
	// low" PoR echoed, for the command sealed again.
	ResyncMTCounter(ctx context.Context, iccid string, echoed uint64) (uint64, error)
	// ClaimResend lets one caller, once per session, replace the running
	// session's MT counter old with next (sessions.ErrDuplicate otherwise).
	ClaimResend(ctx context.Context, id string, old, next uint64) error
	// MarkResubmitted records the message ids of the command sealed again.
	MarkResubmitted(ctx context.Context, id string, messageIDs []string) error
	// PortalBlockedUntil and SpendPortalBudget keep each portal's budget
	// of wrong User IDs, shared by all instances.
	PortalBlockedUntil(ctx context.Context, portal string) (time.Time, error)
	SpendPortalBudget(ctx context.Context, portal string, b sessions.Budget) (time.Time, error)

	// MarkSubmittedDelivered is MarkSubmitted that also records a delivery
	// receipt that arrived while the submit was being recorded.
	MarkSubmittedDelivered(ctx context.Context, id string, mtCounter uint64, messageIDs []string, at, delivered time.Time) error
	// LocalRunning returns the running session of phone this instance
	// started and the subscriber read at its start (ok false when not
	// remembered); AcceptMOAndCompleteIfUnchanged completes it with one
	// round trip, or returns sessions.ErrSubscriberChanged, changing
	// nothing, when the subscriber changed since.
	LocalRunning(phone string) (sess sessions.Session, sub sessions.Subscriber, ok bool)
	AcceptMOAndCompleteIfUnchanged(ctx context.Context, iccid string, counter uint64, id string, res sessions.Result) (done sessions.Session, counterErr, err error)
}

// Sender hands OTA segments to the user's operator; *smpp.Pool implements
// it. msisdn is E.164 digits without '+'. Errors wrap smpp's sentinels
// (ErrNoRoute, ErrOperatorUnavailable, ErrOutcomeUnknown).
type Sender interface {
	Submit(ctx context.Context, msisdn string, segments [][]byte) ([]string, error)
}

// OTA seals commands for, and opens replies from, the card with an ICCID:
// the applet's codec with that card's keys (appletOTA in production).
type OTA interface {
	Seal(iccid string, counter uint64, cmd *applet.Command, concatRef byte) ([][]byte, error)
	Open(iccid string, userData []byte) (applet.MO, error)
}

var (
	_ Store        = (*sessions.Store)(nil)
	_ Sender       = (*smpp.Pool)(nil)
	_ OTA          = (*appletOTA)(nil)
	_ smpp.Handler = (*correlator)(nil)
)
