package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/imzagate/imzagate/sessions"
)

// Operation is what a portal asks of the card.
type Operation string

// The two operations of applet protocol v1 §3 (tag 82).
const (
	// OpAuthenticate is a login: PIN1 and the authentication key (key reference 01).
	OpAuthenticate Operation = "AUTHENTICATE"
	// OpSign is a signature: PIN2 and a signing key (key references 02–0F).
	OpSign Operation = "SIGN"
)

// Session states, as the store keeps them.
const (
	StateRunning  = sessions.StateRunning
	StateComplete = sessions.StateComplete
)

// Final results of a session (architecture.md, "Portal-facing results").
// They are the store's codes: a session's result is stored and served as is.
const (
	ResultOK               = sessions.ResultOK
	ResultUserCancelled    = sessions.ResultUserCancelled
	ResultTimeout          = sessions.ResultTimeout
	ResultPINBlocked       = sessions.ResultPINBlocked
	ResultCardBlocked      = sessions.ResultCardBlocked
	ResultNoKey            = sessions.ResultNoKey
	ResultDeliveryError    = sessions.ResultDeliveryError
	ResultPhoneAbsent      = sessions.ResultPhoneAbsent
	ResultSIMError         = sessions.ResultSIMError
	ResultSignatureInvalid = sessions.ResultSignatureInvalid
)

// allResults lists every final result, for metric pre-registration and tests.
var allResults = []string{ResultOK, ResultUserCancelled, ResultTimeout, ResultPINBlocked,
	ResultCardBlocked, ResultNoKey, ResultDeliveryError, ResultPhoneAbsent, ResultSIMError,
	ResultSignatureInvalid}

// Certificate types (applet-protocol.md §6), plus the authentication
// certificate that sits behind key reference 01.
const (
	CertPersonal       = "personal"
	CertBusiness       = "business"
	CertGovernment     = "government"
	CertAuthentication = "authentication"
)

// Certificate statuses as the registry stores them, and as the API reports them.
const (
	CertActive  = "active"
	CertRevoked = "revoked"
	CertExpired = "expired"
)

// AuthKeyRef is the key reference of the authentication key (applet-protocol §3, tag 83).
const AuthKeyRef = 0x01

// Subscriber is one Asan İmza SIM as the registry knows it. The User ID is
// never part of it: the registry keeps only its keyed hash.
type Subscriber struct {
	Phone        string // E.164 with '+'
	ICCID        string
	Operator     string
	Certificates []Certificate
}

// Certificate is one certificate on a SIM, bound to a key reference.
type Certificate struct {
	Type      string // personal, business, government or authentication
	TaxID     string // the company's or agency's VÖEN for business and government
	KeyRef    byte
	DER       []byte
	NotBefore time.Time
	NotAfter  time.Time
	Status    string // active or revoked (expiry is computed)
}

// Session is one challenge: a login or a signature in flight or finished.
type Session struct {
	ID               string    // assigned by the store
	Portal           string    // the portal that started it; only it may read it
	Operation        Operation // AUTHENTICATE or SIGN
	Phone            string    // +994XXXXXXXXX
	ICCID            string    // the card, for its OTA keys
	KeyRef           byte      // the key (and certificate) the card must use
	Hash             []byte    // the value to sign
	HashAlg          string    // SHA256, SHA384, SHA512
	VerificationCode string    // 4 digits shown by the portal and the phone
	TxnID            [8]byte   // applet transaction id, assigned by the store
	State            string    // RUNNING or COMPLETE
	Result           string    // final result once COMPLETE
	Signature        []byte    // with result OK
	SigAlg           string    // ECDSA_P256, ED25519, ML_DSA_44
	MessageIDs       []string  // SMSC ids of the MT segments, for receipts
	Accepted         time.Time // stage times (zero until reached)
	Submitted        time.Time
	Delivered        time.Time
	Completed        time.Time
	ExpiresAt        time.Time // after it the session reads as TIMEOUT
	CallbackURL      string    // where the result is POSTed, if set
	IdempotencyKey   string    // the portal's Idempotency-Key, if set
}

// Result is the outcome written once when a session completes.
type Result struct {
	Result    string
	Signature []byte
	SigAlg    string
	Completed time.Time
}

// Store is the subset of the session store (package sessions) the gateway
// calls. Errors are the sentinels below (adapters translate).
type Store interface {
	CheckUserID(ctx context.Context, phone, userID string) (Subscriber, error)
	Subscriber(ctx context.Context, phone string) (Subscriber, error)
	// Start assigns ID, TxnID, Accepted and ExpiresAt. When s.IdempotencyKey
	// was used by the same portal within the idempotency window it fills s
	// with that earlier session and returns ErrDuplicate.
	Start(ctx context.Context, s *Session, ttl time.Duration) error
	MarkSubmitted(ctx context.Context, id string, messageIDs []string, at time.Time) error
	MarkDelivered(ctx context.Context, id string, at time.Time) error
	Complete(ctx context.Context, id string, res Result) (Session, error)
	Get(ctx context.Context, id string) (Session, error)
	ByTxn(ctx context.Context, txn [8]byte) (Session, error)
	RunningByPhone(ctx context.Context, phone string) (Session, error)
	// Wait reads the session and, while it runs, waits for its completion
	// (or expiry, or ctx). A session whose Portal is not portal reads as
	// ErrNotFound at once. When ctx ends first it returns the last state
	// read (zero if none) with ctx's error.
	Wait(ctx context.Context, id, portal string) (Session, error)
	NextMTCounter(ctx context.Context, iccid string) (uint64, error)
	AcceptMOCounter(ctx context.Context, iccid string, counter uint64) error
	Ping(ctx context.Context) error
}

// checkStarter is a Store that does CheckUserID, Start and NextMTCounter
// in fewer round trips (SessionsStore does). build returns the session to
// start for the subscriber whose User ID matched, or the error to answer;
// counter is 0 when it was not drawn with the start (the caller then calls
// NextMTCounter). Errors are those of CheckUserID, build and Start.
type checkStarter interface {
	CheckAndStart(ctx context.Context, phone, userID string,
		build func(Subscriber) (*Session, time.Duration, error)) (sub Subscriber, counter uint64, err error)
}

// runningReader is a Store that reads a phone's subscriber and the id of
// its running session ("" when none) in one round trip (SessionsStore
// does).
type runningReader interface {
	SubscriberAndRunning(ctx context.Context, phone string) (Subscriber, string, error)
}

// subscriberWaiter is a Store whose long-poll wait, when woken by the
// completion, reads the subscriber with the completed session in one
// round trip (SessionsStore does); sub.Phone is "" when it did not.
type subscriberWaiter interface {
	WaitWithSubscriber(ctx context.Context, id, portal string) (sess Session, sub Subscriber, err error)
}

// replyCompleter is a Store that does AcceptMOCounter and Complete for a
// running session in one round trip (SessionsStore does). counterErr is
// AcceptMOCounter's verdict; the session and err are Complete's.
type replyCompleter interface {
	AcceptMOAndComplete(ctx context.Context, iccid string, counter uint64, id string, res Result) (done Session, counterErr, err error)
}

// Sender hands OTA segments to the user's operator (package smpp).
// msisdn is E.164 digits without '+'.
type Sender interface {
	Submit(ctx context.Context, msisdn string, segments [][]byte) ([]string, error)
}

// Store and sender errors the gateway branches on.
var (
	ErrNotFound            = errors.New("gateway: not found")
	ErrOutstanding         = errors.New("gateway: outstanding transaction")
	ErrLocked              = errors.New("gateway: user locked out")
	ErrBadUserID           = errors.New("gateway: unknown user or wrong User ID")
	ErrUnavailable         = errors.New("gateway: store unavailable")
	ErrDuplicate           = errors.New("gateway: already completed")
	ErrReplay              = errors.New("gateway: MO counter replay")
	ErrNoRoute             = errors.New("gateway: no operator for number")
	ErrOperatorUnavailable = errors.New("gateway: operator unavailable")
	ErrOutcomeUnknown      = errors.New("gateway: submit outcome unknown")
)

// LockedError is ErrLocked with the time left until the lockout ends.
type LockedError struct{ RetryAfter time.Duration }

// Error implements error.
func (e *LockedError) Error() string { return "gateway: user locked out" }

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// Command is what the gateway asks the applet (applet-protocol §3).
type Command struct {
	TxnID            [8]byte
	Operation        Operation
	KeyRef           byte
	HashAlg          string // SHA256, SHA384, SHA512
	Hash             []byte
	VerificationCode uint16
	DisplayText      string
	UserTimeout      byte
}

// MOKind tells an applet reply from a proof of receipt.
type MOKind int

// MO kinds.
const (
	MOReply MOKind = iota + 1
	MOPoR
)

// MO is an opened mobile-originated OTA packet.
type MO struct {
	Kind         MOKind
	Counter      uint64
	TxnID        [8]byte
	Status       byte   // applet-protocol §4 status, for MOReply
	SigAlg       string // ECDSA_P256, ED25519, ML_DSA_44
	Signature    []byte
	PINTriesLeft int
	PoRStatus    byte // for MOPoR
}

// OTAError is a failure to open an MO, with a bounded reason for metrics
// (checksum, counter, keys, format, tar, other).
type OTAError struct {
	Reason string
	Err    error
}

// Error implements error.
func (e *OTAError) Error() string { return "gateway: ota " + e.Reason + ": " + e.Err.Error() }

// Unwrap returns the codec's error.
func (e *OTAError) Unwrap() error { return e.Err }

// OTA seals commands for, and opens replies from, a card identified by its
// ICCID (package applet, with the card keys derived from master keys).
type OTA interface {
	Seal(iccid string, counter uint64, cmd *Command, concatRef byte) ([][]byte, error)
	Open(iccid string, userData []byte) (MO, error)
	ValidateDisplayText(s string) error
}

// Applet status codes (applet-protocol §4, tag 90).
const (
	statusOK        = 0x00
	statusCancelled = 0x01
	statusPINBlock  = 0x02
	statusCardBlock = 0x03
	statusNoKey     = 0x04
	statusTimeout   = 0x05
)

// resultForStatus maps an applet status to a final result.
func resultForStatus(st byte) string {
	switch st {
	case statusOK:
		return ResultOK
	case statusCancelled:
		return ResultUserCancelled
	case statusPINBlock:
		return ResultPINBlocked
	case statusCardBlock:
		return ResultCardBlocked
	case statusNoKey:
		return ResultNoKey
	case statusTimeout:
		return ResultTimeout
	default: // 06 bad request, 07 internal, 08 busy, unknown
		return ResultSIMError
	}
}
