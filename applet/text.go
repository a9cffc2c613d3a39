package applet

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Display text codings of tag 87 (docs/applet-protocol.md §3).
const (
	CodingGSM7 = 0x00 // GSM 7-bit default alphabet, one septet per octet
	CodingUCS2 = 0x08 // UCS-2 big-endian
)

// MaxDisplayTextOctets is the most octets a display text may take in its
// coding (docs/applet-protocol.md §3): 60 GSM characters or 30 UCS-2 ones.
const MaxDisplayTextOctets = 60

// ErrDisplayText reports a display text that cannot be encoded or that is
// too long; it is never cut to fit.
var ErrDisplayText = errors.New("applet: display text")

// gsm7 is the GSM 7-bit default alphabet, 3GPP TS 23.038 §6.2.1, indexed by
// septet. Position 0x1B is the escape to the extension table.
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Ext is the default extension table (3GPP TS 23.038 §6.2.1.1):
// characters reached with 1B xx.
var gsm7Ext = map[rune]byte{
	'\f': 0x0A, '^': 0x14, '{': 0x28, '}': 0x29, '\\': 0x2F,
	'[': 0x3C, '~': 0x3D, ']': 0x3E, '|': 0x40, '€': 0x65,
}

// gsm7Table is built on use (no init, no mutable package state that
// matters): septet → rune and rune → septet.
func gsm7Index(r rune) (byte, bool) {
	// Fast path: letters, digits and most ASCII punctuation sit at their
	// ASCII positions in the default alphabet.
	switch {
	case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= ' ' && r <= '?' && r != '$',
		r == '\n', r == '\r':
		return byte(r), true
	}
	i := 0
	for _, c := range gsm7 {
		if c == r && i != 0x1B {
			return byte(i), true
		}
		i++
	}
	return 0, false
}

func gsm7Rune(b byte) (rune, bool) {
	i := 0
	for _, c := range gsm7 {
		if i == int(b) {
			return c, b != 0x1B
		}
		i++
	}
	return 0, false
}

func gsm7ExtRune(b byte) (rune, bool) {
	for r, v := range gsm7Ext {
		if v == b {
			return r, true
		}
	}
	return 0, false
}

// encodeText returns the coding octet and the encoded text: GSM 7-bit when
// every character fits, else UCS-2. It enforces the 1–60 octet limit.
func encodeText(s string) (byte, []byte, error) {
	if !utf8.ValidString(s) {
		return 0, nil, fmt.Errorf("%w: invalid UTF-8", ErrDisplayText)
	}
	if len(s) == 0 {
		return 0, nil, fmt.Errorf("%w: empty", ErrDisplayText)
	}
	if out, ok := encodeGSM7(s); ok {
		if len(out) > MaxDisplayTextOctets {
			return 0, nil, fmt.Errorf("%w: %d GSM octets, at most %d", ErrDisplayText, len(out), MaxDisplayTextOctets)
		}
		return CodingGSM7, out, nil
	}
	out := make([]byte, 0, 2*utf8.RuneCountInString(s))
	for _, r := range s {
		if r > 0xFFFF || r >= 0xD800 && r <= 0xDFFF {
			return 0, nil, fmt.Errorf("%w: %U is outside UCS-2", ErrDisplayText, r)
		}
		out = append(out, byte(r>>8), byte(r))
		if len(out) > MaxDisplayTextOctets {
			return 0, nil, fmt.Errorf("%w: more than %d UCS-2 characters", ErrDisplayText, MaxDisplayTextOctets/2)
		}
	}
	return CodingUCS2, out, nil
}

func encodeGSM7(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if b, ok := gsm7Index(r); ok {
			out = append(out, b)
		} else if b, ok := gsm7Ext[r]; ok {
			out = append(out, 0x1B, b)
		} else {
			return nil, false
		}
		if len(out) > 2*MaxDisplayTextOctets {
			// Long enough to know it is too long; stop scanning.
			return out, true
		}
	}
	return out, true
}

// decodeText is the inverse of encodeText for a received tag 87 value.
func decodeText(v []byte) (string, error) {
	if len(v) < 2 || len(v)-1 > MaxDisplayTextOctets {
		return "", fmt.Errorf("%w: %d octets", ErrDisplayText, len(v)-1)
	}
	body := v[1:]
	switch v[0] {
	case CodingGSM7:
		rs := make([]rune, 0, len(body))
		for i := 0; i < len(body); i++ {
			b := body[i]
			if b == 0x1B {
				if i+1 >= len(body) {
					return "", fmt.Errorf("%w: escape at the end", ErrDisplayText)
				}
				i++
				r, ok := gsm7ExtRune(body[i])
				if !ok {
					return "", fmt.Errorf("%w: unknown extension %02x", ErrDisplayText, body[i])
				}
				rs = append(rs, r)
				continue
			}
			r, ok := gsm7Rune(b)
			if !ok {
				return "", fmt.Errorf("%w: octet %02x is not a septet", ErrDisplayText, b)
			}
			rs = append(rs, r)
		}
		return string(rs), nil
	case CodingUCS2:
		if len(body)%2 != 0 {
			return "", fmt.Errorf("%w: odd UCS-2 length", ErrDisplayText)
		}
		rs := make([]rune, 0, len(body)/2)
		for i := 0; i < len(body); i += 2 {
			r := rune(body[i])<<8 | rune(body[i+1])
			if r >= 0xD800 && r <= 0xDFFF {
				return "", fmt.Errorf("%w: surrogate %04X", ErrDisplayText, r)
			}
			rs = append(rs, r)
		}
		return string(rs), nil
	}
	return "", fmt.Errorf("%w: coding %02x", ErrDisplayText, v[0])
}

// ValidateDisplayText reports whether s can be sent as a display text: ""
// (no text) or a text that encodes in at most 60 octets. The gateway calls
// it to reject over-long texts at its API.
func ValidateDisplayText(s string) error {
	if s == "" {
		return nil
	}
	_, _, err := encodeText(s)
	return err
}
