package ota

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/subtle"
	"fmt"
	"hash/crc32"

	"github.com/imzagate/imzagate/applet/cmac"
)

// Algorithm codes of the KIc/KID low nibble, ETSI TS 102 225 §5.1.2 (KIc)
// and §5.1.3 (KID). The same nibble means a MAC for a CC and a CRC for an
// RC.
const (
	AlgDES      = 0x1 // KIc: DES-CBC; KID/CC: DES CBC-MAC; KID/RC: CRC-16
	Alg3DES2Key = 0x5 // KIc: 3DES outer-CBC, 2 keys; KID/CC: its CBC-MAC; KID/RC: CRC-32
	Alg3DES3Key = 0x9 // KIc: 3DES outer-CBC, 3 keys; KID/CC: its CBC-MAC
	AlgAES      = 0x2 // KIc: AES-CBC; KID/CC: AES-CMAC
	AlgDESECB   = 0xD // KIc only: DES in ECB mode
)

// cipherAlg is the ciphering side of a Codec.
type cipherAlg struct {
	b   cipher.Block
	bs  int
	ecb bool
}

func newCipher(kic byte, key []byte) (cipherAlg, error) {
	var (
		b   cipher.Block
		err error
	)
	ecb := false
	switch kic & 0x0F {
	case AlgDES, AlgDESECB:
		ecb = kic&0x0F == AlgDESECB
		if len(key) != 8 {
			return cipherAlg{}, fmt.Errorf("%w: DES needs 8 octets, have %d", ErrKey, len(key))
		}
		b, err = des.NewCipher(key)
	case Alg3DES2Key:
		if len(key) != 16 {
			return cipherAlg{}, fmt.Errorf("%w: 2-key 3DES needs 16 octets, have %d", ErrKey, len(key))
		}
		var k [24]byte
		copy(k[:], key)
		copy(k[16:], key[:8])
		b, err = des.NewTripleDESCipher(k[:])
	case Alg3DES3Key:
		if len(key) != 24 {
			return cipherAlg{}, fmt.Errorf("%w: 3-key 3DES needs 24 octets, have %d", ErrKey, len(key))
		}
		b, err = des.NewTripleDESCipher(key)
	case AlgAES:
		if l := len(key); l != 16 && l != 24 && l != 32 {
			return cipherAlg{}, fmt.Errorf("%w: AES needs 16, 24 or 32 octets, have %d", ErrKey, l)
		}
		b, err = aes.NewCipher(key)
	default:
		return cipherAlg{}, fmt.Errorf("%w: coding %02x", ErrAlgorithm, kic&0x0F)
	}
	if err != nil {
		return cipherAlg{}, fmt.Errorf("%w: %v", ErrKey, err)
	}
	return cipherAlg{b: b, bs: b.BlockSize(), ecb: ecb}, nil
}

// encrypt ciphers p in place in CBC mode with a zero IV (or in ECB mode
// for KIc coding D). len(p) is a
// multiple of the block size. Done block by block on the caller's buffer so
// that no CBC object has to be allocated per packet.
func (c cipherAlg) encrypt(p []byte) {
	bs := c.bs
	for i := 0; i < len(p); i += bs {
		blk := p[i : i+bs]
		if i > 0 && !c.ecb {
			subtle.XORBytes(blk, blk, p[i-bs:i])
		}
		c.b.Encrypt(blk, blk)
	}
}

// decrypt deciphers p in place in CBC mode with a zero IV, from the last
// block backwards so that each previous ciphertext block is still intact.
func (c cipherAlg) decrypt(p []byte) {
	bs := c.bs
	for i := len(p) - bs; i >= 0; i -= bs {
		blk := p[i : i+bs]
		c.b.Decrypt(blk, blk)
		if i > 0 && !c.ecb {
			subtle.XORBytes(blk, blk, p[i-bs:i])
		}
	}
}

// checkKind says how a checksum is computed.
type checkKind byte

const (
	checkNone checkKind = iota
	checkCRC16
	checkCRC32
	checkDESMAC
	checkCMAC
)

// checkAlg is the integrity side of a Codec, for one Integrity kind.
type checkAlg struct {
	kind checkKind
	b    cipher.Block // DES/3DES for the CBC-MAC
	mac  *cmac.CMAC
}

// newCheck prepares the RC or CC algorithm named by the KID nibble.
func newCheck(in Integrity, kid byte, key []byte) (checkAlg, error) {
	switch in {
	case IntegrityNone:
		return checkAlg{kind: checkNone}, nil
	case IntegrityRC:
		switch kid & 0x0F {
		case AlgDES:
			return checkAlg{kind: checkCRC16}, nil
		case Alg3DES2Key:
			return checkAlg{kind: checkCRC32}, nil
		}
		return checkAlg{}, fmt.Errorf("%w: RC coding %02x", ErrAlgorithm, kid&0x0F)
	case IntegrityCC:
		if kid&0x0F == AlgDESECB {
			return checkAlg{}, fmt.Errorf("%w: CC coding %02x", ErrAlgorithm, kid&0x0F)
		}
		c, err := newCipher(kid, key)
		if err != nil {
			return checkAlg{}, err
		}
		if c.bs == aes.BlockSize {
			m, err := cmac.NewWithCipher(c.b)
			if err != nil {
				return checkAlg{}, err
			}
			return checkAlg{kind: checkCMAC, mac: m}, nil
		}
		return checkAlg{kind: checkDESMAC, b: c.b}, nil
	}
	return checkAlg{}, fmt.Errorf("%w: digital signature", ErrAlgorithm)
}

// validLen reports whether l octets is a length this algorithm produces.
func (c checkAlg) validLen(l int) bool {
	switch c.kind {
	case checkNone:
		return l == 0
	case checkCRC16:
		return l == 2
	case checkCRC32:
		return l == 4
	case checkDESMAC:
		return l == 8
	default:
		return l == 4 || l == 8
	}
}

// sum computes the checksum of x into out (16 octets of scratch, the result
// at its start). ETSI TS 102 225 §5.1.3; CRC-16 is the X.25 CRC (ISO/IEC
// 13239) and CRC-32 the ISO 3309 one, both transmitted big-endian.
func (c checkAlg) sum(out, x []byte) {
	switch c.kind {
	case checkCRC16:
		v := crc16(x)
		out[0], out[1] = byte(v>>8), byte(v)
	case checkCRC32:
		v := crc32.ChecksumIEEE(x)
		out[0], out[1], out[2], out[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	case checkDESMAC:
		// CBC-MAC with zero IV; the last partial block is zero-padded, and
		// those pad octets are neither sent nor counted in PCNTR.
		st := out[:8]
		clear(st)
		for i := 0; i < len(x); i += 8 {
			end := min(i+8, len(x))
			subtle.XORBytes(st, st, x[i:end])
			c.b.Encrypt(st, st)
		}
	case checkCMAC:
		c.mac.Sum(out, x)
	}
}

// crc16 is CRC-16/X.25: reflected polynomial 1021, init and final XOR FFFF.
func crc16(p []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, b := range p {
		crc ^= uint16(b)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0x8408
			} else {
				crc >>= 1
			}
		}
	}
	return ^crc
}
