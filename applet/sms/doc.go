// Package sms builds and parses the user data header (UDH) of binary SMS
// that carry OTA secured packets, cuts a secured packet into concatenated
// segments, and reassembles them.
//
// # Protocol flow
//
//	sender:   secured packet (CPL… or RPL…) secured ONCE
//	          Segment → [UDH(concat 1/n, 70 00)‖part1] [UDH(concat 2/n)‖part2] …
//	receiver: Reassembler.Add(segment) for each arriving TP-UD, any order
//	          → Message{ID: 70 or 71, Data: the whole secured packet}
//
// Information elements (3GPP TS 23.040 §9.2.3.24): `00` concatenation with
// an 8-bit reference (`00 03 ref total seq`), `08` concatenation with a
// 16-bit reference (`08 04 refH refL total seq`), `70` command packet
// identifier and `71` response packet identifier (3GPP TS 31.115 §4, both
// with no data). Segment 1 carries the concatenation IE followed by the
// packet identifier; later segments carry only the concatenation IE. Other
// IEs are skipped. A TP-UD holds at most 140 octets; a message at most
// MaxSegments segments.
package sms
