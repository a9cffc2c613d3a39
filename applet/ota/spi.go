package ota

import "fmt"

// Integrity is the kind of integrity protection of a command (SPI1 b2b1) or
// of its PoR (SPI2 b4b3), ETSI TS 102 225 §5.1.1.
type Integrity byte

// Integrity values.
const (
	IntegrityNone Integrity = 0 // no RC, CC or DS
	IntegrityRC   Integrity = 1 // redundancy check (CRC)
	IntegrityCC   Integrity = 2 // cryptographic checksum (MAC)
	IntegrityDS   Integrity = 3 // digital signature (not supported)
)

// String names the integrity kind as the specs abbreviate it.
func (i Integrity) String() string {
	switch i {
	case IntegrityNone:
		return "none"
	case IntegrityRC:
		return "RC"
	case IntegrityCC:
		return "CC"
	default:
		return "DS"
	}
}

// CounterMode is SPI1 b5b4, ETSI TS 102 225 §5.1.1.
type CounterMode byte

// Counter modes.
const (
	CounterNone     CounterMode = 0 // no counter
	CounterNoCheck  CounterMode = 1 // counter present, not checked
	CounterHigher   CounterMode = 2 // process only if CNTR > held counter
	CounterPlusOne  CounterMode = 3 // process only if CNTR = held counter + 1
	counterModeMask             = 3
)

// String describes the counter mode.
func (m CounterMode) String() string {
	switch m {
	case CounterNone:
		return "no counter"
	case CounterNoCheck:
		return "counter, no check"
	case CounterHigher:
		return "counter higher"
	default:
		return "counter +1"
	}
}

// PoRMode is SPI2 b2b1: when the card sends a PoR.
type PoRMode byte

// PoR modes.
const (
	PoRNone    PoRMode = 0 // no PoR
	PoRAlways  PoRMode = 1 // PoR always
	PoROnError PoRMode = 2 // PoR only on error
)

// SPI is the two-octet security parameter indicator, ETSI TS 102 225 §5.1.1
// (SPI1) and §5.1.2 / 3GPP TS 31.115 §4.2 (SPI2).
type SPI [2]byte

// CommandIntegrity is SPI1 b2b1.
func (s SPI) CommandIntegrity() Integrity { return Integrity(s[0] & 3) }

// CommandCiphered is SPI1 b3.
func (s SPI) CommandCiphered() bool { return s[0]&0x04 != 0 }

// Counter is SPI1 b5b4.
func (s SPI) Counter() CounterMode { return CounterMode(s[0] >> 3 & counterModeMask) }

// PoR is SPI2 b2b1.
func (s SPI) PoR() PoRMode { return PoRMode(s[1] & 3) }

// PoRIntegrity is SPI2 b4b3.
func (s SPI) PoRIntegrity() Integrity { return Integrity(s[1] >> 2 & 3) }

// PoRCiphered is SPI2 b5.
func (s SPI) PoRCiphered() bool { return s[1]&0x10 != 0 }

// PoRBySubmit is SPI2 b6 (3GPP TS 31.115): the card sends the PoR as an
// SMS-SUBMIT rather than in the SMS-DELIVER-REPORT.
func (s SPI) PoRBySubmit() bool { return s[1]&0x20 != 0 }

// Validate rejects reserved SPI codings: SPI1 b8..b6 and SPI2 b8b7 set,
// and PoR mode 11.
func (s SPI) Validate() error {
	switch {
	case s[0]&0xE0 != 0:
		return fmt.Errorf("%w: SPI1 reserved bits set (%02x)", ErrSPI, s[0])
	case s[1]&0xC0 != 0:
		return fmt.Errorf("%w: SPI2 reserved bits set (%02x)", ErrSPI, s[1])
	case s[1]&3 == 3:
		return fmt.Errorf("%w: SPI2 PoR mode 11 is reserved", ErrSPI)
	}
	return nil
}

// MakeSPI builds an SPI from its fields (the recipe of ETSI TS 102 225
// §5.1.1 and 3GPP TS 31.115 §4.2).
func MakeSPI(cmd Integrity, cipher bool, cntr CounterMode, por PoRMode, porInt Integrity, porCipher, bySubmit bool) SPI {
	s := SPI{byte(cmd&3) | byte(cntr&3)<<3, byte(por&3) | byte(porInt&3)<<2}
	if cipher {
		s[0] |= 0x04
	}
	if porCipher {
		s[1] |= 0x10
	}
	if bySubmit {
		s[1] |= 0x20
	}
	return s
}
