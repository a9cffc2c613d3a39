package applet

import (
	"errors"
	"fmt"
)

// Errors of the TLV layer (docs/applet-protocol.md §2).
var (
	ErrTLV       = errors.New("applet: malformed TLV")
	ErrTagOrder  = errors.New("applet: tags not in strictly ascending order")
	ErrMissing   = errors.New("applet: mandatory tag missing")
	ErrValue     = errors.New("applet: value out of range")
	ErrTooLong   = errors.New("applet: message too long")
	ErrTagLength = errors.New("applet: tag has the wrong length")
)

// MaxMessageLen bounds a command or response: what 32 SMS segments can
// carry once secured.
const MaxMessageLen = 4096

// tlvReader walks a TLV sequence, enforcing the shortest length form and
// strictly ascending tags; after the first error every call fails.
type tlvReader struct {
	b    []byte
	last int // last tag seen, -1 before the first
	err  error
}

func newTLVReader(b []byte) *tlvReader {
	r := &tlvReader{b: b, last: -1}
	if len(b) > MaxMessageLen {
		r.err = ErrTooLong
	}
	return r
}

// next returns the next tag and value; ok is false at the end or on error.
func (r *tlvReader) next() (tag byte, val []byte, ok bool) {
	if r.err != nil || len(r.b) == 0 {
		return 0, nil, false
	}
	if len(r.b) < 2 {
		r.err = fmt.Errorf("%w: truncated header", ErrTLV)
		return 0, nil, false
	}
	tag = r.b[0]
	if int(tag) <= r.last {
		r.err = fmt.Errorf("%w: %02x after %02x", ErrTagOrder, tag, r.last)
		return 0, nil, false
	}
	r.last = int(tag)
	n, hl := int(r.b[1]), 2
	switch {
	case n < 0x80:
	case n == 0x81:
		if len(r.b) < 3 || r.b[2] < 0x80 {
			r.err = fmt.Errorf("%w: tag %02x: bad 81 length", ErrTLV, tag)
			return 0, nil, false
		}
		n, hl = int(r.b[2]), 3
	case n == 0x82:
		if len(r.b) < 4 {
			r.err = fmt.Errorf("%w: tag %02x: truncated length", ErrTLV, tag)
			return 0, nil, false
		}
		n, hl = int(r.b[2])<<8|int(r.b[3]), 4
		if n < 0x100 {
			r.err = fmt.Errorf("%w: tag %02x: length not in shortest form", ErrTLV, tag)
			return 0, nil, false
		}
	default:
		r.err = fmt.Errorf("%w: tag %02x: length octet %02x", ErrTLV, tag, n)
		return 0, nil, false
	}
	if hl+n > len(r.b) {
		r.err = fmt.Errorf("%w: tag %02x: value past the end", ErrTLV, tag)
		return 0, nil, false
	}
	val = r.b[hl : hl+n]
	r.b = r.b[hl+n:]
	return tag, val, true
}

// appendTLV appends tag, shortest-form length and value.
func appendTLV(b []byte, tag byte, val ...byte) []byte {
	return append(appendTL(b, tag, len(val)), val...)
}

func appendTL(b []byte, tag byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, tag, byte(n))
	case n < 0x100:
		return append(b, tag, 0x81, byte(n))
	default:
		return append(b, tag, 0x82, byte(n>>8), byte(n))
	}
}
