package ades

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// P256ScalarSize is the size of r and s in the applet's raw ECDSA P-256
// signature value r ‖ s.
const P256ScalarSize = 32

// RawToDER converts the applet's raw ECDSA P-256 signature r ‖ s (64
// octets, big-endian) into the DER ECDSA-Sig-Value of RFC 5480 §2.2 / SEC 1
// §C.5, SEQUENCE { r INTEGER, s INTEGER }, the form CMS (RFC 5753 §2.1.1)
// and X.509 carry. The INTEGERs are minimal: leading zero octets dropped, one
// 00 added where the first remaining octet has its high bit set.
func RawToDER(raw []byte) ([]byte, error) {
	if len(raw) != 2*P256ScalarSize {
		return nil, fmt.Errorf("%w: raw ECDSA value of %d octets, want %d", ErrSignatureValue, len(raw), 2*P256ScalarSize)
	}
	r, s := trimZeros(raw[:P256ScalarSize]), trimZeros(raw[P256ScalarSize:])
	if len(r) == 0 || len(s) == 0 {
		return nil, fmt.Errorf("%w: r or s is zero", ErrSignatureValue)
	}
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, 2+2*(2+1+P256ScalarSize)))
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		addUnsignedInteger(b, r)
		addUnsignedInteger(b, s)
	})
	return b.Bytes()
}

// DERToRaw converts a DER ECDSA-Sig-Value back into the raw r ‖ s form of
// 64 octets. It accepts only DER (minimal, positive INTEGERs, nothing
// trailing), so that one signature has exactly one accepted encoding.
func DERToRaw(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, fmt.Errorf("%w: not a DER SEQUENCE", ErrSignatureValue)
	}
	raw := make([]byte, 2*P256ScalarSize)
	for i := range 2 {
		v, err := readUnsignedInteger(&seq)
		if err != nil {
			return nil, err
		}
		copy(raw[(i+1)*P256ScalarSize-len(v):], v)
	}
	if !seq.Empty() {
		return nil, fmt.Errorf("%w: data after s", ErrSignatureValue)
	}
	return raw, nil
}

func trimZeros(b []byte) []byte {
	for len(b) > 0 && b[0] == 0 {
		b = b[1:]
	}
	return b
}

// addUnsignedInteger writes a positive INTEGER from its big-endian
// magnitude without leading zeros.
func addUnsignedInteger(b *cryptobyte.Builder, mag []byte) {
	b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) {
		if mag[0]&0x80 != 0 {
			b.AddUint8(0)
		}
		b.AddBytes(mag)
	})
}

// readUnsignedInteger reads a minimal positive INTEGER of at most 32
// octets of magnitude and returns the magnitude.
func readUnsignedInteger(s *cryptobyte.String) ([]byte, error) {
	var v cryptobyte.String
	if !s.ReadASN1(&v, cbasn1.INTEGER) || len(v) == 0 {
		return nil, fmt.Errorf("%w: missing INTEGER", ErrSignatureValue)
	}
	if v[0]&0x80 != 0 {
		return nil, fmt.Errorf("%w: negative INTEGER", ErrSignatureValue)
	}
	if len(v) > 1 && v[0] == 0 && v[1]&0x80 == 0 {
		return nil, fmt.Errorf("%w: INTEGER not minimally encoded", ErrSignatureValue)
	}
	mag := trimZeros(v)
	if len(mag) == 0 {
		return nil, fmt.Errorf("%w: r or s is zero", ErrSignatureValue)
	}
	if len(mag) > P256ScalarSize {
		return nil, fmt.Errorf("%w: INTEGER of %d octets", ErrSignatureValue, len(mag))
	}
	return mag, nil
}
