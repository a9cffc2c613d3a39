// Package ota encodes and decodes OTA secured packets in the SMS-PP dialect
// of ETSI TS 102 225 and 3GPP TS 31.115: command packets (network → card)
// and response packets (the Proof of Receipt, card → network), for both the
// network side and the card side.
//
// # Protocol flow
//
//	network                                            card
//	  Codec.SealCommand(CNTR, data)
//	    CPL CHL SPI KIc KID TAR | CNTR PCNTR CC data pad
//	    (checksum over CPL..PCNTR‖data‖pad, then cipher CNTR..pad)
//	  ── SMS-DELIVER, UDH 70 00 ──────────────────────▶ ParseHeader, NewCodec
//	                                                    Codec.OpenCommand
//	                                                    CheckCounter
//	                                                    Codec.SealResponse
//	  ◀─ SMS-SUBMIT / DELIVER-REPORT, UDH 71 00 ─────── RPL RHL TAR | CNTR PCNTR
//	  Codec.OpenResponse                                  status CC data pad
//
// The UDH is not part of a command's checksum; the three octets `02 71 00`
// of a response's UDH are (TS 31.115 §4.2: the checksum input of a PoR
// starts at the UDHL). Cipher padding is counted in PCNTR and is inside the
// checksum (ETSI TS 102 225 §5.1.1, as every published card exchange does).
//
// Algorithms (KIc/KID low nibble, TS 102 225 §5.1.2/§5.1.3): DES-CBC,
// DES-ECB, 3DES outer-CBC with two or three keys, AES-CBC with
// 128/192/256-bit keys for ciphering; DES/3DES CBC-MAC (8 octets) and AES-CMAC (leftmost 4 or 8
// octets) for the cryptographic checksum; CRC-16 (X.25) and CRC-32 for the
// redundancy check. All CBC operations use a zero IV. Digital signatures
// (SPI integrity 11), "implicit" and proprietary algorithm codings are
// rejected with ErrAlgorithm: they have no interoperable definition.
//
// Error PoRs are often sent unsecured whatever SPI2 asked; OpenResponse
// detects them by the header length (RHL 0A where a checksum was expected)
// and reports Response.Secured = false.
//
// A Codec is immutable after NewCodec and safe for concurrent use. Sealing
// and opening cost one or two allocations: the output buffer and, for
// opening, the copy that is deciphered in place.
package ota
