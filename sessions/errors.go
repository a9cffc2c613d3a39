package sessions

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors the gateway branches on. Errors returned by the Store wrap
// one of these (test with errors.Is); only the gateway turns them into portal
// codes.
var (
	// ErrNotFound: no such subscriber, session or transaction (or a session
	// whose retention period has passed).
	ErrNotFound = errors.New("sessions: not found")
	// ErrOutstanding: the phone already has a running session.
	ErrOutstanding = errors.New("sessions: outstanding transaction for this phone")
	// ErrLocked: too many wrong User IDs for this phone; see LockedError.
	ErrLocked = errors.New("sessions: phone locked after wrong User IDs")
	// ErrBadUserID: unknown phone or wrong User ID (deliberately one error).
	ErrBadUserID = errors.New("sessions: unknown phone or wrong User ID")
	// ErrUnavailable: Redis could not be reached or did not answer within
	// the operation's deadline. The caller should answer with a temporary
	// error (for an MO: ESME_RX_T_APPN, so the SMSC redelivers).
	ErrUnavailable = errors.New("sessions: store unavailable")
	// ErrDuplicate: the transition was already applied, or the session is
	// already complete: nothing changed.
	ErrDuplicate = errors.New("sessions: duplicate or late transition")
	// ErrExpired: the session expired (it reads as TIMEOUT) before the
	// transition arrived; nothing changed. ErrExpired also matches
	// ErrDuplicate, since for a caller both mean "already final".
	ErrExpired error = expiredError{}
	// ErrReplay: an MO counter not above the last accepted one for the card.
	ErrReplay = errors.New("sessions: MO counter replayed or out of order")
	// ErrInvalid: the input breaks a documented limit or format.
	ErrInvalid = errors.New("sessions: invalid input")
	// ErrIdempotencyMismatch: the Idempotency-Key was used within its
	// window for a request with another fingerprint; nothing changed.
	ErrIdempotencyMismatch = errors.New("sessions: idempotency key reused for another request")
	// ErrBudgetExceeded: the portal spent its budget of wrong User IDs and
	// is blocked for a while; see BudgetError.
	ErrBudgetExceeded = errors.New("sessions: portal's budget of wrong User IDs exceeded")
	// ErrNotSubscriber: a concatenated MO part from a number that is not in
	// the registry; it is not kept.
	ErrNotSubscriber = errors.New("sessions: MO part from a number that is not a subscriber")
	// ErrExists: the subscriber (or certificate) to create is already there.
	ErrExists = errors.New("sessions: already exists")
	// ErrConflict: the subscriber's state does not allow the change (a
	// suspended subscriber to suspend, a closed one to swap, a number
	// change to a number that has a subscriber), or the record kept
	// changing under a concurrent change.
	ErrConflict = errors.New("sessions: conflicting state")
	// ErrWrongPepper: the pepper does not match the one the registry was
	// provisioned with (its canary), so every User ID would look wrong.
	ErrWrongPepper = errors.New("sessions: the pepper does not match the registry's canary")
	// ErrCompleted: a stage arrived for a session already complete;
	// nothing changed. It also matches ErrDuplicate.
	ErrCompleted error = completedError{}
)

// BudgetError reports a portal blocked for spending its budget of wrong
// User IDs, and how long the block still lasts. It matches
// ErrBudgetExceeded.
type BudgetError struct {
	RetryAfter time.Duration
}

// Error says the portal is blocked and for how long, rounded to seconds.
func (e *BudgetError) Error() string {
	return fmt.Sprintf("sessions: portal's budget of wrong User IDs exceeded (retry after %s)", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrBudgetExceeded) true.
func (e *BudgetError) Is(target error) bool { return target == ErrBudgetExceeded }

type completedError struct{}

func (completedError) Error() string { return "sessions: session already complete" }

// Is makes errors.Is(ErrCompleted, ErrDuplicate) true.
func (completedError) Is(target error) bool { return target == ErrDuplicate }

type expiredError struct{}

func (expiredError) Error() string { return "sessions: session expired" }

// Is makes errors.Is(ErrExpired, ErrDuplicate) true.
func (expiredError) Is(target error) bool { return target == ErrDuplicate }

// LockedError reports a locked phone and how long the lock still lasts, for
// the portal's Retry-After header. It matches ErrLocked.
type LockedError struct {
	RetryAfter time.Duration
}

// Error says the phone is locked and for how long, rounded to seconds.
func (e *LockedError) Error() string {
	return fmt.Sprintf("sessions: phone locked after wrong User IDs (retry after %s)", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// invalidf returns an error wrapping ErrInvalid with a field-specific message.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}
