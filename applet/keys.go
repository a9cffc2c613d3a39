package applet

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/imzagate/imzagate/applet/cmac"
)

// MasterKeys are the AES-128 master keys, one per derivation label
// (docs/applet-protocol.md §1.5).
type MasterKeys struct{ KIc, KID, KIcMO, KIDMO [16]byte }

// RandomMasterKeys draws four fresh master keys from crypto/rand, for a
// simulated operator whose SIMs and gateway are made in the same run and
// share nothing with a real card.
func RandomMasterKeys() MasterKeys {
	var m MasterKeys
	for _, k := range []*[16]byte{&m.KIc, &m.KID, &m.KIcMO, &m.KIDMO} {
		_, _ = rand.Read(k[:]) // never fails (crypto/rand.Read crashes the program instead)
	}
	return m
}

// CardKeys are one card's AES-128 OTA keys: key version 1 (MT) and key
// version 2 (MO).
type CardKeys struct{ KIc, KID, KIcMO, KIDMO [16]byte }

// ErrICCID reports an ICCID that is not 19 or 20 ASCII digits.
var ErrICCID = errors.New("applet: ICCID must be 19 or 20 digits")

// Derivation labels (docs/applet-protocol.md §1.5).
const (
	LabelKIc   = "KIc"
	LabelKID   = "KID"
	LabelKIcMO = "KIc-MO"
	LabelKIDMO = "KID-MO"
)

// ValidICCID reports whether s is 19 or 20 ASCII digits.
func ValidICCID(s string) bool {
	if len(s) != 19 && len(s) != 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// DeriveKey is NIST SP 800-108 KDF in counter mode with PRF = AES-CMAC,
// one 128-bit block: K = AES-CMAC(master, 01 ‖ label ‖ 00 ‖ ICCID ‖ 00 80).
func DeriveKey(master [16]byte, label, iccid string) ([16]byte, error) {
	var k [16]byte
	if !ValidICCID(iccid) {
		return k, ErrICCID
	}
	m, err := cmac.New(master[:])
	if err != nil {
		return k, err
	}
	var buf [64]byte
	in := append(buf[:0], 0x01)
	in = append(in, label...)
	in = append(in, 0x00)
	in = append(in, iccid...)
	in = append(in, 0x00, 0x80)
	m.Sum(k[:], in)
	return k, nil
}

// DeriveCardKeys derives a card's four OTA keys from the master keys and
// its ICCID as provisioned (docs/applet-protocol.md §1.5).
func DeriveCardKeys(m MasterKeys, iccid string) (CardKeys, error) {
	var c CardKeys
	var err error
	for _, d := range []struct {
		dst    *[16]byte
		master [16]byte
		label  string
	}{{&c.KIc, m.KIc, LabelKIc}, {&c.KID, m.KID, LabelKID}, {&c.KIcMO, m.KIcMO, LabelKIcMO}, {&c.KIDMO, m.KIDMO, LabelKIDMO}} {
		if *d.dst, err = DeriveKey(d.master, d.label, iccid); err != nil {
			return CardKeys{}, fmt.Errorf("%s: %w", d.label, err)
		}
	}
	return c, nil
}
