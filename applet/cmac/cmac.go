package cmac

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

// Size is the length of a full AES-CMAC tag in octets.
const Size = aes.BlockSize

// rb is the constant R_b of RFC 4493 §2.3 for a 128-bit block.
const rb = 0x87

// ErrBlockSize reports a block cipher whose block is not 128 bits.
var ErrBlockSize = errors.New("cmac: block cipher must have a 16-octet block")

// CMAC holds a block cipher and its two CMAC subkeys. It is safe for
// concurrent use because Sum keeps its state in the caller's buffer.
type CMAC struct {
	b      cipher.Block
	k1, k2 [Size]byte
}

// New returns a CMAC keyed with an AES key of 16, 24 or 32 octets.
func New(key []byte) (*CMAC, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return NewWithCipher(b)
}

// NewWithCipher returns a CMAC over an existing 128-bit block cipher.
func NewWithCipher(b cipher.Block) (*CMAC, error) {
	if b.BlockSize() != Size {
		return nil, ErrBlockSize
	}
	c := &CMAC{b: b}
	// L = E(K, 0^128); K1 = L<<1 (^Rb), K2 = K1<<1 (^Rb): RFC 4493 §2.3.
	b.Encrypt(c.k1[:], c.k1[:])
	shift(&c.k1, &c.k1)
	shift(&c.k2, &c.k1)
	return c, nil
}

// shift sets dst to src doubled in GF(2^128).
func shift(dst, src *[Size]byte) {
	msb := src[0] >> 7
	for i := 0; i < Size-1; i++ {
		dst[i] = src[i]<<1 | src[i+1]>>7
	}
	dst[Size-1] = src[Size-1] << 1
	if msb != 0 {
		dst[Size-1] ^= rb
	}
}

// Sum computes the tag of msg into out[:16]. out must have room for 16 octets
// and must not overlap msg; it is used as the CBC state, which is why this
// costs no allocation.
func (c *CMAC) Sum(out, msg []byte) {
	x := out[:Size]
	clear(x)
	// All complete blocks but the last one (RFC 4493 §2.4 steps 5-6).
	n := len(msg)
	full := n / Size
	last := n % Size
	if last == 0 && full > 0 {
		full--
		last = Size
	}
	for i := 0; i < full; i++ {
		blk := msg[i*Size : (i+1)*Size]
		for j := range x {
			x[j] ^= blk[j]
		}
		c.b.Encrypt(x, x)
	}
	tail := msg[full*Size:]
	if last == Size {
		for j := range x {
			x[j] ^= tail[j] ^ c.k1[j]
		}
	} else {
		for j := range x {
			var m byte
			switch {
			case j < len(tail):
				m = tail[j]
			case j == len(tail):
				m = 0x80
			}
			x[j] ^= m ^ c.k2[j]
		}
	}
	c.b.Encrypt(x, x)
}

// MAC returns the 16-octet tag of msg in a new slice.
func (c *CMAC) MAC(msg []byte) []byte {
	out := make([]byte, Size)
	c.Sum(out, msg)
	return out
}

// Verify reports, in constant time, whether tag equals the leftmost
// len(tag) octets of the CMAC of msg. A tag of 0 or more than 16 octets is
// never valid.
func (c *CMAC) Verify(tag, msg []byte) bool {
	if len(tag) == 0 || len(tag) > Size {
		return false
	}
	var out [Size]byte
	c.Sum(out[:], msg)
	return subtle.ConstantTimeCompare(out[:len(tag)], tag) == 1
}
