package gateway

import (
	"fmt"
	"unicode"
)

// displayCharProblem names the first character of s the phone's display
// must not get, or "" when there is none. The phone shows "portal name:
// text" (docs/applet-protocol.md §3.2); that prefix is what keeps one
// portal from posing as another, so the text may not carry characters
// that move, hide or fake it:
//
//   - Cc, control characters: LF, CR, NUL, ESC and the rest start new
//     lines or drive the terminal (a text could begin on a fresh line
//     that looks like another portal's name);
//   - Cf, format characters: bidi overrides and isolates (U+202A–U+202E,
//     U+2066–U+2069) reorder what is shown, zero-width characters (U+200B–
//     U+200D, U+2060, U+FEFF) hide, soft hyphens and the like;
//   - Zl, Zp: the line and paragraph separators;
//   - Zs other than the ASCII space: spaces of other widths (no-break,
//     em, ideographic…) pad or align text to look like layout;
//   - Co, private use, and Cs, surrogates: no agreed glyph;
//   - unassigned code points and noncharacters, and U+FFFD, the mark of
//     text mangled on the way: none has a glyph the portal can vouch for.
func displayCharProblem(s string) string {
	for _, r := range s {
		switch {
		case r == ' ':
		case r == unicode.ReplacementChar:
			return fmt.Sprintf("the replacement character U+%04X (mangled text)", r)
		case unicode.Is(unicode.Cc, r):
			return fmt.Sprintf("the control character U+%04X", r)
		case unicode.Is(unicode.Cf, r):
			return fmt.Sprintf("the invisible format character U+%04X", r)
		case unicode.Is(unicode.Zl, r), unicode.Is(unicode.Zp, r), unicode.Is(unicode.Zs, r):
			return fmt.Sprintf("the separator U+%04X (only the ordinary space is allowed)", r)
		case unicode.Is(unicode.Co, r), unicode.Is(unicode.Cs, r):
			return fmt.Sprintf("the private-use or surrogate code point U+%04X", r)
		case r >= 0xFDD0 && r <= 0xFDEF, r&0xFFFE == 0xFFFE:
			return fmt.Sprintf("the noncharacter U+%04X", r)
		case !assigned(r):
			return fmt.Sprintf("the unassigned code point U+%04X", r)
		}
	}
	return ""
}

// assigned reports whether r has a general category other than Cn in
// this Go release's Unicode tables.
func assigned(r rune) bool {
	return unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z, unicode.C)
}
