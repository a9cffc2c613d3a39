package sms

import (
	"errors"
	"fmt"
)

// Sizes from 3GPP TS 23.040 §9.2.3.24 and 3GPP TS 31.115 §4.
const (
	MaxUserData = 140 // octets of TP-UD in one SMS (8-bit data)
	MaxSegments = 32  // segments per message accepted here (docs/applet-protocol.md §1.2)
	// MaxReassembled bounds a user data that an SMSC or the SMPP layer
	// has already reassembled (one header, the whole packet).
	MaxReassembled = MaxSegments * MaxUserData
)

// Information element identifiers (3GPP TS 23.040 §9.2.3.24).
const (
	IEIConcat8  = 0x00 // concatenated short message, 8-bit reference
	IEIConcat16 = 0x08 // concatenated short message, 16-bit reference
	IEICommand  = 0x70 // command packet identifier (TS 31.115)
	IEIResponse = 0x71 // response packet identifier (TS 31.115)
)

// PacketID says which OTA packet a user data carries: IEICommand,
// IEIResponse, or 0 for none.
type PacketID byte

// Errors of the UDH codec and the reassembler.
var (
	ErrNoUDH        = errors.New("sms: user data has no header")
	ErrUDH          = errors.New("sms: malformed user data header")
	ErrTooLong      = errors.New("sms: message needs more than 32 segments")
	ErrUserData     = errors.New("sms: user data longer than 140 octets")
	ErrConcat       = errors.New("sms: bad concatenation element")
	ErrInconsistent = errors.New("sms: segment does not match its set")
)

// Concat is a concatenation information element.
type Concat struct {
	Ref   uint16
	Ref16 bool // IEI 08 (16-bit reference) instead of 00
	Total byte
	Seq   byte // 1-based
}

// Header is the decoded part of a UDH this package understands.
type Header struct {
	Packet    PacketID
	HasConcat bool
	Concat    Concat
}

// Parse splits a user data (UDHI set) into its header and the data after
// it. It accepts up to MaxReassembled octets, so that it also reads a
// message an SMSC has already reassembled; Reassembler.Add holds single
// segments to 140. Unknown IEs are skipped; a repeated concatenation or
// packet identifier, a packet identifier with data, or an IE running past
// the UDH is ErrUDH.
func Parse(ud []byte) (Header, []byte, error) {
	var h Header
	if len(ud) > MaxReassembled {
		return h, nil, ErrUserData
	}
	if len(ud) == 0 {
		return h, nil, ErrNoUDH
	}
	udhl := int(ud[0])
	if 1+udhl > len(ud) {
		return h, nil, fmt.Errorf("%w: UDHL %d past the end", ErrUDH, udhl)
	}
	ies := ud[1 : 1+udhl]
	for len(ies) > 0 {
		if len(ies) < 2 || 2+int(ies[1]) > len(ies) {
			return h, nil, fmt.Errorf("%w: truncated IE", ErrUDH)
		}
		id, data := ies[0], ies[2:2+int(ies[1])]
		ies = ies[2+len(data):]
		switch id {
		case IEIConcat8, IEIConcat16:
			if h.HasConcat {
				return h, nil, fmt.Errorf("%w: repeated concatenation IE", ErrUDH)
			}
			c, err := parseConcat(id, data)
			if err != nil {
				return h, nil, err
			}
			h.HasConcat, h.Concat = true, c
		case IEICommand, IEIResponse:
			if h.Packet != 0 || len(data) != 0 {
				return h, nil, fmt.Errorf("%w: packet identifier %02x", ErrUDH, id)
			}
			h.Packet = PacketID(id)
		}
	}
	return h, ud[1+udhl:], nil
}

func parseConcat(id byte, d []byte) (Concat, error) {
	var c Concat
	switch {
	case id == IEIConcat8 && len(d) == 3:
		c = Concat{Ref: uint16(d[0]), Total: d[1], Seq: d[2]}
	case id == IEIConcat16 && len(d) == 4:
		c = Concat{Ref: uint16(d[0])<<8 | uint16(d[1]), Ref16: true, Total: d[2], Seq: d[3]}
	default:
		return c, fmt.Errorf("%w: IEI %02x length %d", ErrConcat, id, len(d))
	}
	if c.Total == 0 || c.Seq == 0 || c.Seq > c.Total {
		return c, fmt.Errorf("%w: segment %d of %d", ErrConcat, c.Seq, c.Total)
	}
	if c.Total > MaxSegments {
		return c, fmt.Errorf("%w: %d segments", ErrTooLong, c.Total)
	}
	return c, nil
}

// AppendHeader appends the UDH (UDHL included) for h: the concatenation IE
// first, then the packet identifier, the order of 3GPP TS 31.115's
// concatenated layout.
func AppendHeader(dst []byte, h Header) []byte {
	start := len(dst)
	dst = append(dst, 0)
	if h.HasConcat {
		c := h.Concat
		if c.Ref16 {
			dst = append(dst, IEIConcat16, 4, byte(c.Ref>>8), byte(c.Ref), c.Total, c.Seq)
		} else {
			dst = append(dst, IEIConcat8, 3, byte(c.Ref), c.Total, c.Seq)
		}
	}
	if h.Packet != 0 {
		dst = append(dst, byte(h.Packet), 0)
	}
	dst[start] = byte(len(dst) - start - 1)
	return dst
}

// Segment returns the TP-UDs carrying packet: one SMS with UDH `02 id 00`
// when it fits, else concatenated segments with reference ref (8-bit
// unless ref16), each at most 140 octets. The packet is cut as an octet
// stream; it must already be secured.
func Segment(id PacketID, packet []byte, ref uint16, ref16 bool) ([][]byte, error) {
	if 3+len(packet) <= MaxUserData {
		ud := make([]byte, 0, 3+len(packet))
		ud = AppendHeader(ud, Header{Packet: id})
		return [][]byte{append(ud, packet...)}, nil
	}
	ci := 5
	if ref16 {
		ci = 6
	}
	first := MaxUserData - 1 - ci - 2
	rest := MaxUserData - 1 - ci
	n := 1
	if len(packet) > first {
		n += (len(packet) - first + rest - 1) / rest
	}
	if n > MaxSegments {
		return nil, fmt.Errorf("%w: %d octets", ErrTooLong, len(packet))
	}
	if !ref16 {
		ref &= 0xFF
	}
	out := make([][]byte, 0, n)
	for seq := 1; seq <= n; seq++ {
		h := Header{HasConcat: true, Concat: Concat{Ref: ref, Ref16: ref16, Total: byte(n), Seq: byte(seq)}}
		room := rest
		if seq == 1 {
			h.Packet, room = id, first
		}
		part := packet[:min(room, len(packet))]
		packet = packet[len(part):]
		ud := make([]byte, 0, MaxUserData)
		ud = AppendHeader(ud, h)
		out = append(out, append(ud, part...))
	}
	return out, nil
}
