package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Codec errors. Field errors wrap one of these, so callers can test with
// errors.Is while the message names the PDU and field.
var (
	ErrShortPDU   = errors.New("short buffer")
	ErrOverflow   = errors.New("overflow")
	ErrNoNUL      = errors.New("missing NUL terminator")
	ErrTooLong    = errors.New("value too long")
	ErrTrailing   = errors.New("trailing octets")
	ErrBadLength  = errors.New("length mismatch")
	ErrBothBodies = errors.New("short_message and message_payload both set")
	ErrBadValue   = errors.New("invalid value")
)

// FieldError names the PDU and the field that failed to decode or encode,
// e.g. "smpp: submit_sm.source_addr: overflow".
type FieldError struct {
	Command CommandID
	Field   string
	Err     error
}

// Error formats as "smpp: <command>.<field>: <cause>".
func (e *FieldError) Error() string {
	return fmt.Sprintf("smpp: %s.%s: %v", e.Command, e.Field, e.Err)
}

// Unwrap returns the cause (ErrOverflow, ErrTooLong, ...).
func (e *FieldError) Unwrap() error { return e.Err }

// FrameError reports a command_length outside [16, MaxPDULen]. The stream can
// not be resynchronised after it: answer generic_nack(ESME_RINVCMDLEN) and
// close (SMPP 3.4 §4.3).
type FrameError struct {
	Length uint32
}

// Error reports the rejected command_length.
func (e *FrameError) Error() string {
	return fmt.Sprintf("smpp: command_length %d outside [%d, %d]", e.Length, HeaderLen, MaxPDULen)
}

// UnknownCommandError reports a well-framed PDU with a command_id we do not
// know. Its body has been skipped; answer generic_nack(ESME_RINVCMDID) with
// Header.Seq and keep the session.
type UnknownCommandError struct {
	Header Header
}

// Error reports the unknown command_id.
func (e *UnknownCommandError) Error() string {
	return fmt.Sprintf("smpp: unknown command_id 0x%08x", uint32(e.Header.ID))
}

// DecodeError reports a well-framed PDU whose body is malformed. The header is
// kept so a request can be answered with generic_nack and the same sequence
// number; the session can continue because framing is intact.
type DecodeError struct {
	Header Header
	Err    error
}

// Error returns the field error text.
func (e *DecodeError) Error() string { return e.Err.Error() }

// Unwrap returns the field error.
func (e *DecodeError) Unwrap() error { return e.Err }

// reader is the decoding cursor: every read checks bounds, the first failure
// is kept and makes later reads no-ops, so a decoder is a flat list of field
// reads with one error check at the end (the miekg/dns msg.go pattern).
type reader struct {
	b   []byte
	off int
	err error
	pdu CommandID
}

func (r *reader) fail(field string, err error) {
	if r.err == nil {
		r.err = &FieldError{Command: r.pdu, Field: field, Err: err}
	}
}

// finish reports the first error, or trailing octets after the last field.
func (r *reader) finish() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("body", ErrTrailing)
	}
	return r.err
}

func (r *reader) empty() bool { return r.off >= len(r.b) }

func (r *reader) u8(field string) byte {
	if r.err != nil {
		return 0
	}
	if r.off+1 > len(r.b) {
		r.fail(field, ErrOverflow)
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

// cstr reads a C-octet string of at most max octets including the NUL
// (SMPP 3.4 §3.1: the max lengths in §4 include the terminator).
func (r *reader) cstr(field string, max int) string {
	if r.err != nil {
		return ""
	}
	rest := r.b[r.off:]
	if len(rest) > max {
		rest = rest[:max]
	}
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		if len(r.b)-r.off < max {
			r.fail(field, ErrNoNUL)
		} else {
			r.fail(field, ErrTooLong)
		}
		return ""
	}
	var s string
	if i > 0 {
		s = string(rest[:i])
	}
	r.off += i + 1
	return s
}

// bytes returns a copy of the next n octets.
func (r *reader) bytes(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || r.off+n > len(r.b) {
		r.fail(field, ErrOverflow)
		return nil
	}
	if n == 0 {
		return nil
	}
	v := make([]byte, n)
	copy(v, r.b[r.off:])
	r.off += n
	return v
}

// tlvs reads optional parameters until the end of the body (SMPP 3.4 §3.2.4:
// tag(2) length(2) value). Unknown tags are kept; known fixed-size tags are
// checked so a typed accessor never sees a short value.
func (r *reader) tlvs() TLVs {
	if r.err != nil || r.empty() {
		return nil
	}
	// Count first so the slice is allocated once.
	n := 0
	for off := r.off; off < len(r.b); n++ {
		if off+4 > len(r.b) {
			r.fail("tlv", ErrOverflow)
			return nil
		}
		l := int(binary.BigEndian.Uint16(r.b[off+2:]))
		off += 4 + l
		if off > len(r.b) {
			r.fail(fmt.Sprintf("tlv 0x%04x", binary.BigEndian.Uint16(r.b[off-4-l:])), ErrOverflow)
			return nil
		}
	}
	out := make(TLVs, 0, n)
	for !r.empty() && r.err == nil {
		tag := TLVTag(binary.BigEndian.Uint16(r.b[r.off:]))
		l := int(binary.BigEndian.Uint16(r.b[r.off+2:]))
		r.off += 4
		if err := tag.checkLen(l); err != nil {
			r.fail(tag.String(), err)
			return nil
		}
		out = append(out, TLV{Tag: tag, Value: r.bytes(tag.String(), l)})
	}
	return out
}

// writer helpers: encoding appends to b, and every helper checks its limit so
// an oversize field is an error naming the field rather than a corrupt PDU.

func appendCString(b []byte, cmd CommandID, field, s string, max int) ([]byte, error) {
	if len(s)+1 > max {
		return b, &FieldError{Command: cmd, Field: field, Err: ErrTooLong}
	}
	if bytes.IndexByte([]byte(s), 0) >= 0 {
		return b, &FieldError{Command: cmd, Field: field, Err: ErrBadValue}
	}
	b = append(b, s...)
	return append(b, 0), nil
}

func appendTLVs(b []byte, cmd CommandID, t TLVs) ([]byte, error) {
	for _, v := range t {
		if len(v.Value) > 0xFFFF {
			return b, &FieldError{Command: cmd, Field: v.Tag.String(), Err: ErrTooLong}
		}
		if err := v.Tag.checkLen(len(v.Value)); err != nil {
			return b, &FieldError{Command: cmd, Field: v.Tag.String(), Err: err}
		}
		b = binary.BigEndian.AppendUint16(b, uint16(v.Tag))
		b = binary.BigEndian.AppendUint16(b, uint16(len(v.Value)))
		b = append(b, v.Value...)
	}
	return b, nil
}
