// Package cmac implements the AES-CMAC message authentication code of
// NIST SP 800-38B / RFC 4493.
//
// Protocol flow: New derives the two subkeys K1 and K2 from the block cipher
// once (RFC 4493 §2.3); Sum then runs CBC over the message with a zero IV and
// XORs K1 into a complete last block or K2 into a padded one (10* padding,
// RFC 4493 §2.4). OTA secured packets (ETSI TS 102 225 §5.1.3) use the
// leftmost 4 or 8 octets of the tag; Verify compares such truncated tags in
// constant time.
//
// Sum works in the caller's output slice so that a MAC costs no allocation:
// the OTA codec computes one per packet on its hot path.
package cmac
