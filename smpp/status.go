package smpp

import (
	"errors"
	"fmt"
)

// CommandStatus is the header's command_status (SMPP 3.4 §5.1.3).
type CommandStatus uint32

// Command status values that matter to an ESME (SMPP 3.4 §5.1.3).
const (
	StatusOK             CommandStatus = 0x00000000 // ESME_ROK
	StatusInvMsgLen      CommandStatus = 0x00000001 // ESME_RINVMSGLEN
	StatusInvCmdLen      CommandStatus = 0x00000002 // ESME_RINVCMDLEN
	StatusInvCmdID       CommandStatus = 0x00000003 // ESME_RINVCMDID
	StatusInvBndSts      CommandStatus = 0x00000004 // ESME_RINVBNDSTS
	StatusAlyBnd         CommandStatus = 0x00000005 // ESME_RALYBND
	StatusSysErr         CommandStatus = 0x00000008 // ESME_RSYSERR
	StatusInvSrcAdr      CommandStatus = 0x0000000A // ESME_RINVSRCADR
	StatusInvDstAdr      CommandStatus = 0x0000000B // ESME_RINVDSTADR
	StatusInvMsgID       CommandStatus = 0x0000000C // ESME_RINVMSGID
	StatusBindFail       CommandStatus = 0x0000000D // ESME_RBINDFAIL
	StatusInvPaswd       CommandStatus = 0x0000000E // ESME_RINVPASWD
	StatusInvSysID       CommandStatus = 0x0000000F // ESME_RINVSYSID
	StatusMsgQFul        CommandStatus = 0x00000014 // ESME_RMSGQFUL
	StatusInvESMClass    CommandStatus = 0x00000043 // ESME_RINVESMCLASS
	StatusSubmitFail     CommandStatus = 0x00000045 // ESME_RSUBMITFAIL
	StatusThrottled      CommandStatus = 0x00000058 // ESME_RTHROTTLED
	StatusInvSched       CommandStatus = 0x00000061 // ESME_RINVSCHED
	StatusInvExpiry      CommandStatus = 0x00000062 // ESME_RINVEXPIRY
	StatusXTAppn         CommandStatus = 0x00000064 // ESME_RX_T_APPN
	StatusXPAppn         CommandStatus = 0x00000065 // ESME_RX_P_APPN
	StatusXRAppn         CommandStatus = 0x00000066 // ESME_RX_R_APPN
	StatusInvOptParStrm  CommandStatus = 0x000000C0 // ESME_RINVOPTPARSTREAM
	StatusOptParNotAllwd CommandStatus = 0x000000C1 // ESME_ROPTPARNOTALLWD
	StatusInvParLen      CommandStatus = 0x000000C2 // ESME_RINVPARLEN
	StatusMissingOptParm CommandStatus = 0x000000C3 // ESME_RMISSINGOPTPARAM
	StatusInvOptParamVal CommandStatus = 0x000000C4 // ESME_RINVOPTPARAMVAL
	StatusDeliveryFail   CommandStatus = 0x000000FE // ESME_RDELIVERYFAILURE
	StatusUnknownErr     CommandStatus = 0x000000FF // ESME_RUNKNOWNERR
)

// String returns the spec name, used as a bounded metric label (unknown codes
// print as hex, of which there are at most 2^32 but in practice a handful).
func (s CommandStatus) String() string {
	switch s {
	case StatusOK:
		return "ESME_ROK"
	case StatusInvMsgLen:
		return "ESME_RINVMSGLEN"
	case StatusInvCmdLen:
		return "ESME_RINVCMDLEN"
	case StatusInvCmdID:
		return "ESME_RINVCMDID"
	case StatusInvBndSts:
		return "ESME_RINVBNDSTS"
	case StatusAlyBnd:
		return "ESME_RALYBND"
	case StatusSysErr:
		return "ESME_RSYSERR"
	case StatusInvSrcAdr:
		return "ESME_RINVSRCADR"
	case StatusInvDstAdr:
		return "ESME_RINVDSTADR"
	case StatusInvMsgID:
		return "ESME_RINVMSGID"
	case StatusBindFail:
		return "ESME_RBINDFAIL"
	case StatusInvPaswd:
		return "ESME_RINVPASWD"
	case StatusInvSysID:
		return "ESME_RINVSYSID"
	case StatusMsgQFul:
		return "ESME_RMSGQFUL"
	case StatusInvESMClass:
		return "ESME_RINVESMCLASS"
	case StatusSubmitFail:
		return "ESME_RSUBMITFAIL"
	case StatusThrottled:
		return "ESME_RTHROTTLED"
	case StatusInvSched:
		return "ESME_RINVSCHED"
	case StatusInvExpiry:
		return "ESME_RINVEXPIRY"
	case StatusXTAppn:
		return "ESME_RX_T_APPN"
	case StatusXPAppn:
		return "ESME_RX_P_APPN"
	case StatusXRAppn:
		return "ESME_RX_R_APPN"
	case StatusInvOptParStrm:
		return "ESME_RINVOPTPARSTREAM"
	case StatusOptParNotAllwd:
		return "ESME_ROPTPARNOTALLWD"
	case StatusInvParLen:
		return "ESME_RINVPARLEN"
	case StatusMissingOptParm:
		return "ESME_RMISSINGOPTPARAM"
	case StatusInvOptParamVal:
		return "ESME_RINVOPTPARAMVAL"
	case StatusDeliveryFail:
		return "ESME_RDELIVERYFAILURE"
	case StatusUnknownErr:
		return "ESME_RUNKNOWNERR"
	}
	if s >= 0x400 && s <= 0x4FF {
		return "vendor"
	}
	return fmt.Sprintf("0x%08x", uint32(s))
}

// StatusClass says what to do about a non-OK command_status. SMPP 3.4 §5.1.3
// only lists the codes; the classes are this package's policy, tabled in the
// repository's docs/smpp.md.
type StatusClass int

// Status classes.
const (
	// ClassOK: the request succeeded.
	ClassOK StatusClass = iota
	// ClassRetry: temporary; retry with back-off a bounded number of times.
	ClassRetry
	// ClassPermanent: do not retry; the message is rejected.
	ClassPermanent
	// ClassRebind: the session is in the wrong state; rebind, then retry.
	ClassRebind
	// ClassUnknown: no answer (timeout or link loss); the outcome is unknown.
	ClassUnknown
)

// String names the class for logs and metric labels.
func (c StatusClass) String() string {
	switch c {
	case ClassOK:
		return "ok"
	case ClassRetry:
		return "retry"
	case ClassPermanent:
		return "permanent"
	case ClassRebind:
		return "rebind"
	case ClassUnknown:
		return "unknown"
	}
	return "invalid"
}

// Class classifies a status (the table in docs/smpp.md). Vendor codes
// (0x400–0x4FF) are permanent unless overridden per operator
// (BindConfig.RetryStatuses). 0x05 and 0x0D–0x0F only occur at bind time and
// are handled by the reconnect loop; in a submit response they are permanent.
func (s CommandStatus) Class() StatusClass {
	switch s {
	case StatusOK:
		return ClassOK
	case StatusSysErr, StatusMsgQFul, StatusThrottled, StatusXTAppn, StatusSubmitFail,
		StatusDeliveryFail, StatusUnknownErr:
		return ClassRetry
	case StatusInvBndSts:
		return ClassRebind
	}
	return ClassPermanent
}

// Throttling reports whether the status asks the whole bind to slow down
// (ESME_RTHROTTLED, ESME_RMSGQFUL).
func (s CommandStatus) Throttling() bool { return s == StatusThrottled || s == StatusMsgQFul }

// Sentinel errors callers branch on.
var (
	// ErrClosed: the session is closed, or the client's or pool's Run is
	// stopping or has returned (a pool's also before Run): nothing was sent.
	ErrClosed = errors.New("smpp: closed")
	// ErrNotBound: the session is not bound in a state allowing the request.
	ErrNotBound = errors.New("smpp: not bound")
	// ErrOutcomeUnknown: the request was written (or may have been) but no
	// response came: the link dropped or the response deadline passed. The
	// SMSC may or may not have accepted it.
	ErrOutcomeUnknown = errors.New("smpp: outcome unknown")
	// ErrNoRoute: no operator prefix matches the MSISDN.
	ErrNoRoute = errors.New("smpp: no route for number")
	// ErrOperatorUnavailable: the operator's breaker is open or none of its
	// binds is bound; the submit failed fast without touching the network.
	ErrOperatorUnavailable = errors.New("smpp: operator unavailable")
	// ErrPermanent: wrap it in a Handler error to tell the pool the message
	// must not be redelivered.
	ErrPermanent = errors.New("smpp: permanent failure")
	// ErrBindRejected: the SMSC rejected our credentials (0x0D/0x0E/0x0F).
	// Client.Run and Pool.Run stop and return it wrapped: retrying would not
	// help and may lock the account.
	ErrBindRejected = errors.New("smpp: bind rejected")

	// Status sentinels: errors.Is(err, ErrThrottled) is true for a
	// *StatusError with that status.
	ErrThrottled = &StatusError{Status: StatusThrottled}
	ErrMsgQFull  = &StatusError{Status: StatusMsgQFul}
)

// StatusError is a response with a non-zero command_status.
type StatusError struct {
	Command CommandID
	Status  CommandStatus
}

// Error names the command and status.
func (e *StatusError) Error() string {
	if e.Command == 0 {
		return "smpp: " + e.Status.String()
	}
	return fmt.Sprintf("smpp: %s: %s", e.Command, e.Status)
}

// Is matches another *StatusError with the same status, so the status
// sentinels work with errors.Is whatever the command.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Status == e.Status
}

// Class returns the status class.
func (e *StatusError) Class() StatusClass { return e.Status.Class() }
