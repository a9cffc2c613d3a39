package audit

import (
	"errors"
	"fmt"
)

// Errors callers branch on (test with errors.Is).
var (
	// ErrInvalid: a record or an option breaks a documented limit.
	ErrInvalid = errors.New("audit: invalid")
	// ErrDropped: Append found the queue full for longer than
	// Options.EnqueueWait and dropped the record (it is counted, and the
	// trail records how many it dropped).
	ErrDropped = errors.New("audit: queue full, record dropped")
	// ErrClosed: the trail's Run has ended; nothing more is written.
	ErrClosed = errors.New("audit: trail closed")
	// ErrNotDurable: AppendSync could not confirm within its timeout that
	// the record is stored (and replicated, when replicas are required).
	// The record may still be written later; the caller must treat the
	// audited action as not acknowledged.
	ErrNotDurable = errors.New("audit: record not confirmed durable")
	// ErrBroken: verification found a broken link (see Break).
	ErrBroken = errors.New("audit: trail does not verify")
)

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// Break is the first broken link found in a chain (or in a file): which
// chain, which record, at which line of a file (0 online), and what is
// wrong. It matches ErrBroken.
type Break struct {
	Chain  string
	Seq    uint64
	Line   int
	Reason string
}

// Error names the place and the reason.
func (b *Break) Error() string {
	where := "file"
	if b.Chain != "" {
		where = describe(b.Chain, b.Seq)
	}
	if b.Line > 0 {
		where += fmt.Sprintf(" (line %d)", b.Line)
	}
	return "audit: " + where + ": " + b.Reason
}

// Is makes errors.Is(b, ErrBroken) true.
func (b *Break) Is(target error) bool { return target == ErrBroken }
