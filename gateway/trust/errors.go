package trust

import (
	"errors"
	"fmt"
)

// Code is the stable name of a refusal. The gateway maps each code to its
// portal error once, at its edge; this package never speaks HTTP.
type Code string

// Refusal codes.
const (
	// CodeUntrusted: the certificate does not chain to a configured root.
	CodeUntrusted Code = "CERTIFICATE_UNTRUSTED"
	// CodeRevoked: the certification authority revoked the certificate
	// (or an intermediate above it), or the registry marks it revoked.
	CodeRevoked Code = "CERTIFICATE_REVOKED"
	// CodeExpired: a certificate of the path is outside its validity at
	// the time of the check (expired or not yet valid).
	CodeExpired Code = "CERTIFICATE_EXPIRED"
	// CodeKeyUsage: the key usage or extended key usage does not allow
	// the operation.
	CodeKeyUsage Code = "CERTIFICATE_KEY_USAGE"
	// CodeSubjectMismatch: the subject does not fit the slot: another
	// VÖEN, or a personal certificate where a company's is expected.
	CodeSubjectMismatch Code = "CERTIFICATE_SUBJECT_MISMATCH"
	// CodeStatusUnknown: no fresh revocation status could be had and the
	// policy is hard-fail.
	CodeStatusUnknown Code = "CERTIFICATE_STATUS_UNKNOWN"
)

// Error is a refusal of a certificate. Its text is for logs and operators,
// never for portals: they get the Code.
type Error struct {
	code   Code
	detail string
	err    error
}

// Error says what was refused and why.
func (e *Error) Error() string {
	s := "trust: " + string(e.code)
	if e.detail != "" {
		s += ": " + e.detail
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

// Code returns the refusal's stable code.
func (e *Error) Code() Code { return e.code }

// Unwrap returns the underlying cause (an x509 verification error, say).
func (e *Error) Unwrap() error { return e.err }

// Is makes every refusal match the sentinel of its code, so callers write
// errors.Is(err, trust.ErrRevoked).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.code == e.code
}

// Sentinels, one per code, for errors.Is.
var (
	ErrUntrusted       = &Error{code: CodeUntrusted}
	ErrRevoked         = &Error{code: CodeRevoked}
	ErrExpired         = &Error{code: CodeExpired}
	ErrKeyUsage        = &Error{code: CodeKeyUsage}
	ErrSubjectMismatch = &Error{code: CodeSubjectMismatch}
	ErrStatusUnknown   = &Error{code: CodeStatusUnknown}
)

// Errors that are not refusals of a certificate.
var (
	// ErrConfig: the trust configuration is unusable; New says which
	// setting and why.
	ErrConfig = errors.New("trust: invalid configuration")
	// ErrRequest: the caller's request is malformed (no certificate, an
	// unknown operation, an expected VÖEN that is not 10 digits).
	ErrRequest = errors.New("trust: invalid request")
)

// CodeOf returns the refusal code carried anywhere in err's chain.
func CodeOf(err error) (Code, bool) {
	var e interface{ Code() Code }
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return "", false
}

func refusef(code Code, cause error, format string, args ...any) *Error {
	return &Error{code: code, detail: fmt.Sprintf(format, args...), err: cause}
}

func configf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
}

func requestf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRequest}, args...)...)
}
