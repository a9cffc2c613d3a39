// Package applet implements version 1 of the signing applet protocol: the
// command and response messages exchanged between the gateway and the
// signing applet on the SIM, their transport in OTA secured packets, the
// per-card key derivation and the verification code.
//
// # Protocol flow
//
//	gateway                                                     SIM applet
//	  DeriveCardKeys(master, ICCID)
//	  SealCommand(keys, CNTR, cmd, ref)
//	    Command TLVs → OTA command packet (SPI 16 3A, KIc/KID 12,
//	    TAR A5 10 01, AES-CBC + CMAC-8) → SMS segments (UDH 70 00)
//	  ── MT SMS ────────────────────────────────────────────────▶ OTA layer:
//	                                        checksum, then counter; on error
//	                                        a PoR (UDH 71 00) by SMS-SUBMIT
//	                                        applet: PIN dialog, sign
//	  ◀─ MO SMS: Response TLVs in a command packet (SPI 16 00, KIc/KID 22,
//	     the card's MO counter) ─────────────────────────────── SealMO
//	  OpenMO(keys, userData) → MO{Kind: MOReply, Response} or MO{MOPoR}
//
// The subpackages hold the layers: ota (secured packets), sms (UDH and
// segmentation), cmac (RFC 4493), simcard (a working simulated SIM and a
// farm of them) and testca (the test certification centre).
//
// # Decisions the protocol text leaves to this package
//
//   - TLV lengths are BER-style and must use the shortest form; tags are
//     strictly ascending; unknown tags are skipped where they stand in
//     order (docs/applet-protocol.md §2).
//   - A display text is encoded in the GSM 7-bit default alphabet
//     (unpacked, extension characters as 1B xx) when every character fits,
//     else UCS-2; a text over 60 octets in its coding is ErrDisplayText,
//     never truncated. Invalid UTF-8 and characters outside the BMP are
//     rejected.
//   - The verification code is carried as four BCD digits; a value over
//     8191 or a non-decimal nibble is malformed.
//   - PIN tries left (tag 93) is mandatory in every response but 06, where
//     it may be absent (PINTriesLeft = -1).
//   - ICCIDs for key derivation are 19 or 20 ASCII digits, used as
//     provisioned, without a Luhn check. A gateway derives them through
//     a Deriver (the master keys' CMACs keyed once) or a KeyCache (at most
//     N cards' keys, evicted keys wiped), both equal to DeriveCardKeys.
//   - An unsecured PoR (no checksum although SPI2 asked for one) is
//     accepted only with an error status: an unauthenticated "OK" means
//     nothing.
package applet
