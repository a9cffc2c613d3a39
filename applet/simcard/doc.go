// Package simcard is a working simulation of Asan İmza SIM cards: the card
// side of the OTA transport and of the signing applet protocol v1, used by
// the test SMSC, the demo and the benchmark. It is a real implementation,
// not a mock: it deciphers and checks what the gateway sends and answers
// with properly secured replies and signatures.
//
// # Protocol flow
//
//	SMSC ── Farm.HandleMT(msisdn, TP-UD, reply) ──▶ Card
//	  reassemble segments (sms.Reassembler)
//	  OTA layer (ETSI TS 102 225 order of checks):
//	    header unreadable, unknown KIc/KID      → PoR 06, unsecured
//	    TAR ≠ A5 10 01                          → PoR 09, unsecured
//	    ciphering/length error                  → PoR 05
//	    checksum wrong                          → PoR 01
//	    SPI below the applet's minimum level    → PoR 0A
//	    counter not higher than the last one    → PoR 02 (03 for +1 mode, 04 blocked)
//	    (PoRs secured as SPI2 asks, with the MT keys, sent by SMS-SUBMIT)
//	    counter stored
//	  applet:
//	    malformed command or wrong verification code → 06
//	    another operation waiting for the user       → 08
//	    PUK blocked → 03; no key in the slot → 04; PIN blocked → 02
//	    else the scripted user decides: right PIN after a delay (sign, 00),
//	    cancel (01), wrong PIN n times (02 once the PIN blocks), or never
//	    answer (05 when the command's user timeout runs out)
//	  reply: Response TLVs sealed with the MO keys and the card's MO counter
//	  ◀── reply(TP-UD) once per MO segment, from a timer goroutine
//
// A Farm holds any number of cards (100,000 in well under a second): each
// card is derived from the farm seed and its index, and its signing keys
// and certificates are only made when first needed (Options.KeyPool shares
// them among cards for large load tests). Delays run on time.AfterFunc, so
// tests drive them with testing/synctest.
package simcard
