package applet

import (
	"bytes"
	"fmt"
)

// Version is the protocol version carried in tag 80.
const Version = 0x01

// Command tags (docs/applet-protocol.md §3).
const (
	TagVersion          = 0x80 // 1 octet: 01
	TagTxnID            = 0x81 // 8 octets
	TagOperation        = 0x82 // 1 octet: Operation
	TagKeyRef           = 0x83 // 1 octet: 01 auth, 02..0F signing slots
	TagHashAlg          = 0x84 // 1 octet: HashAlg
	TagHash             = 0x85 // 32/48/64 octets
	TagVerificationCode = 0x86 // 2 octets packed BCD
	TagDisplayText      = 0x87 // 1 + 1..60 octets: coding, text
	TagUserTimeout      = 0x88 // 1 octet: seconds, 10..255
)

// Response tags (docs/applet-protocol.md §4).
const (
	TagStatus       = 0x90 // 1 octet: Status
	TagSigAlg       = 0x91 // 1 octet: SigAlg (status 00 only)
	TagSignature    = 0x92 // n octets (status 00 only)
	TagPINTriesLeft = 0x93 // 1 octet (every status but 06)
)

// Operation is what the applet is asked to do (tag 82).
type Operation byte

// Operations.
const (
	OpAuthenticate Operation = 0x01 // PIN1, authentication key (ref 01)
	OpSign         Operation = 0x02 // PIN2, a signing key (ref 02..0F)
)

// String names the operation as the portal API and the session record
// do (AUTHENTICATE, SIGN); ParseOperation reads the name back.
func (o Operation) String() string {
	switch o {
	case OpAuthenticate:
		return "AUTHENTICATE"
	case OpSign:
		return "SIGN"
	}
	return fmt.Sprintf("operation %02x", byte(o))
}

// ParseOperation is the inverse of Operation.String for the two operations.
func ParseOperation(name string) (Operation, error) {
	switch name {
	case "AUTHENTICATE":
		return OpAuthenticate, nil
	case "SIGN":
		return OpSign, nil
	}
	return 0, fmt.Errorf("%w: operation %q: want AUTHENTICATE or SIGN", ErrValue, name)
}

// UnmarshalText reads an operation by name, so configuration files can
// list operations (encoding.TextUnmarshaler).
func (o *Operation) UnmarshalText(text []byte) error {
	op, err := ParseOperation(string(text))
	if err != nil {
		return err
	}
	*o = op
	return nil
}

// Key references (tag 83).
const (
	KeyRefAuth        = 0x01
	KeyRefSignFirst   = 0x02
	KeyRefSignLast    = 0x0F
	DefaultKeyRefSign = KeyRefSignFirst
)

// HashAlg names the hash whose value is signed (tag 84).
type HashAlg byte

// Hash algorithms.
const (
	HashSHA256 HashAlg = 1
	HashSHA384 HashAlg = 2
	HashSHA512 HashAlg = 3
)

// String names the hash as the portal API and the session record do
// (SHA256, SHA384, SHA512); ParseHashAlg reads the name back.
func (h HashAlg) String() string {
	switch h {
	case HashSHA256:
		return "SHA256"
	case HashSHA384:
		return "SHA384"
	case HashSHA512:
		return "SHA512"
	}
	return fmt.Sprintf("hashalg %02x", byte(h))
}

// ParseHashAlg is the inverse of HashAlg.String; names are case-sensitive.
func ParseHashAlg(name string) (HashAlg, error) {
	for _, h := range [...]HashAlg{HashSHA256, HashSHA384, HashSHA512} {
		if name == h.String() {
			return h, nil
		}
	}
	return 0, fmt.Errorf("%w: hash algorithm %q: want SHA256, SHA384 or SHA512", ErrValue, name)
}

// Size returns the digest length in octets, 0 for an unknown algorithm.
func (h HashAlg) Size() int {
	switch h {
	case HashSHA256:
		return 32
	case HashSHA384:
		return 48
	case HashSHA512:
		return 64
	}
	return 0
}

// SigAlg is the algorithm of the key that signed (tag 91).
type SigAlg byte

// Signature algorithms.
const (
	SigECDSAP256 SigAlg = 1 // r ‖ s, 32 octets each
	SigEd25519   SigAlg = 2 // 64 octets
	SigMLDSA44   SigAlg = 3 // FIPS 204, 2420 octets
)

// SignatureSize is the exact signature length for the algorithm.
func (a SigAlg) SignatureSize() int {
	switch a {
	case SigECDSAP256, SigEd25519:
		return 64
	case SigMLDSA44:
		return 2420
	}
	return 0
}

// String names the algorithm as the portal API and the session record do
// (ECDSA_P256, ED25519, ML_DSA_44).
func (a SigAlg) String() string {
	switch a {
	case SigECDSAP256:
		return "ECDSA_P256"
	case SigEd25519:
		return "ED25519"
	case SigMLDSA44:
		return "ML_DSA_44"
	}
	return fmt.Sprintf("sigalg %02x", byte(a))
}

// Status is the applet's answer (tag 90).
type Status byte

// Statuses (docs/applet-protocol.md §4).
const (
	StatusOK            Status = 0x00
	StatusUserCancelled Status = 0x01
	StatusPINBlocked    Status = 0x02
	StatusCardBlocked   Status = 0x03
	StatusNoSuchKey     Status = 0x04
	StatusTimeout       Status = 0x05
	StatusBadRequest    Status = 0x06
	StatusInternalError Status = 0x07
	StatusBusy          Status = 0x08
)

var statusNames = [...]string{"OK", "user cancelled", "PIN blocked", "card blocked", "no such key",
	"user timeout", "bad request", "internal error", "busy"}

// String names the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status %02x", byte(s))
}

// Command is an MT request to the applet (docs/applet-protocol.md §3).
type Command struct {
	TxnID            [8]byte
	Operation        Operation
	KeyRef           byte
	HashAlg          HashAlg
	Hash             []byte
	VerificationCode uint16 // 0..8191, shown as 4 digits
	DisplayText      string // "" = tag 87 absent; GSM 7-bit if every char fits else UCS-2
	UserTimeout      byte   // seconds, 10..255
}

// validate checks the rules of §3 that do not depend on the card's keys.
func (c *Command) validate() error {
	switch {
	case c.Operation != OpAuthenticate && c.Operation != OpSign:
		return fmt.Errorf("%w: operation %02x", ErrValue, byte(c.Operation))
	case c.Operation == OpAuthenticate && c.KeyRef != KeyRefAuth:
		return fmt.Errorf("%w: AUTHENTICATE with key reference %02x", ErrValue, c.KeyRef)
	case c.Operation == OpSign && (c.KeyRef < KeyRefSignFirst || c.KeyRef > KeyRefSignLast):
		return fmt.Errorf("%w: SIGN with key reference %02x", ErrValue, c.KeyRef)
	case c.HashAlg.Size() == 0:
		return fmt.Errorf("%w: hash algorithm %02x", ErrValue, byte(c.HashAlg))
	case len(c.Hash) != c.HashAlg.Size():
		return fmt.Errorf("%w: hash of %d octets for algorithm %d", ErrTagLength, len(c.Hash), c.HashAlg)
	case c.VerificationCode > 8191:
		return fmt.Errorf("%w: verification code %d", ErrValue, c.VerificationCode)
	case c.UserTimeout < 10:
		return fmt.Errorf("%w: user timeout %d s", ErrValue, c.UserTimeout)
	}
	return nil
}

// AppendBinary appends the command's TLVs (docs/applet-protocol.md §3).
func (c *Command) AppendBinary(b []byte) ([]byte, error) {
	if err := c.validate(); err != nil {
		return b, err
	}
	var coding byte
	var text []byte
	if c.DisplayText != "" {
		var err error
		if coding, text, err = encodeText(c.DisplayText); err != nil {
			return b, err
		}
	}
	b = appendTLV(b, TagVersion, Version)
	b = appendTLV(b, TagTxnID, c.TxnID[:]...)
	b = appendTLV(b, TagOperation, byte(c.Operation))
	b = appendTLV(b, TagKeyRef, c.KeyRef)
	b = appendTLV(b, TagHashAlg, byte(c.HashAlg))
	b = appendTLV(b, TagHash, c.Hash...)
	v := c.VerificationCode
	b = appendTLV(b, TagVerificationCode, byte(v/1000)<<4|byte(v/100%10), byte(v/10%10)<<4|byte(v%10))
	if text != nil {
		b = appendTL(b, TagDisplayText, 1+len(text))
		b = append(b, coding)
		b = append(b, text...)
	}
	b = appendTLV(b, TagUserTimeout, c.UserTimeout)
	return b, nil
}

func one(tag byte, v []byte) (byte, error) {
	if len(v) != 1 {
		return 0, fmt.Errorf("%w: tag %02x has %d octets", ErrTagLength, tag, len(v))
	}
	return v[0], nil
}

// ParseCommand decodes and validates a command. Any error means the applet
// answers 06 (bad request).
func ParseCommand(b []byte) (Command, error) {
	var c Command
	r := newTLVReader(b)
	var seen uint16 // bit per tag 80..88
	var err error
	for {
		tag, v, ok := r.next()
		if !ok {
			break
		}
		if tag >= TagVersion && tag <= TagUserTimeout {
			seen |= 1 << (tag - TagVersion)
		}
		switch tag {
		case TagVersion:
			var ver byte
			if ver, err = one(tag, v); err == nil && ver != Version {
				err = fmt.Errorf("%w: version %02x", ErrValue, ver)
			}
		case TagTxnID:
			if len(v) != 8 {
				err = fmt.Errorf("%w: transaction id of %d octets", ErrTagLength, len(v))
			}
			copy(c.TxnID[:], v)
		case TagOperation:
			var o byte
			o, err = one(tag, v)
			c.Operation = Operation(o)
		case TagKeyRef:
			c.KeyRef, err = one(tag, v)
		case TagHashAlg:
			var h byte
			h, err = one(tag, v)
			c.HashAlg = HashAlg(h)
		case TagHash:
			c.Hash = bytes.Clone(v)
		case TagVerificationCode:
			if len(v) != 2 {
				err = fmt.Errorf("%w: verification code of %d octets", ErrTagLength, len(v))
				break
			}
			var code uint16
			for _, n := range [4]byte{v[0] >> 4, v[0] & 15, v[1] >> 4, v[1] & 15} {
				if n > 9 {
					err = fmt.Errorf("%w: verification code %x is not BCD", ErrValue, v)
				}
				code = code*10 + uint16(n)
			}
			c.VerificationCode = code
		case TagDisplayText:
			c.DisplayText, err = decodeText(v)
		case TagUserTimeout:
			c.UserTimeout, err = one(tag, v)
		}
		if err != nil {
			return Command{}, err
		}
	}
	if r.err != nil {
		return Command{}, r.err
	}
	if want := uint16(0x1FF) &^ (1 << (TagDisplayText - TagVersion)); seen&want != want {
		return Command{}, fmt.Errorf("%w: have %09b", ErrMissing, seen)
	}
	if err := c.validate(); err != nil {
		return Command{}, err
	}
	return c, nil
}

// TxnIDOf returns the transaction id of a command too malformed to parse,
// when its first tags are well formed (a 06 response copies it), else
// eight zero octets (docs/applet-protocol.md §4).
func TxnIDOf(b []byte) [8]byte {
	var id [8]byte
	r := newTLVReader(b)
	for {
		tag, v, ok := r.next()
		if !ok || tag > TagTxnID {
			return id
		}
		if tag == TagTxnID && len(v) == 8 {
			copy(id[:], v)
			return id
		}
	}
}

// Response is an MO answer from the applet (docs/applet-protocol.md §4).
type Response struct {
	TxnID        [8]byte
	Status       Status
	SigAlg       SigAlg // status OK only
	Signature    []byte // status OK only
	PINTriesLeft int    // -1 when absent (only allowed with status 06)
}

func (r *Response) validate() error {
	switch {
	case r.Status > StatusBusy:
		return fmt.Errorf("%w: status %02x", ErrValue, byte(r.Status))
	case r.Status == StatusOK && r.SigAlg.SignatureSize() == 0:
		return fmt.Errorf("%w: signature algorithm %02x", ErrValue, byte(r.SigAlg))
	case r.Status == StatusOK && len(r.Signature) != r.SigAlg.SignatureSize():
		return fmt.Errorf("%w: %v signature of %d octets", ErrTagLength, r.SigAlg, len(r.Signature))
	case r.Status != StatusOK && (r.SigAlg != 0 || r.Signature != nil):
		return fmt.Errorf("%w: signature with status %v", ErrValue, r.Status)
	case r.PINTriesLeft > 255 || r.PINTriesLeft < -1:
		return fmt.Errorf("%w: PIN tries %d", ErrValue, r.PINTriesLeft)
	case r.PINTriesLeft < 0 && r.Status != StatusBadRequest:
		return fmt.Errorf("%w: PIN tries left absent with status %v", ErrMissing, r.Status)
	}
	return nil
}

// AppendBinary appends the response's TLVs (docs/applet-protocol.md §4).
func (r *Response) AppendBinary(b []byte) ([]byte, error) {
	if err := r.validate(); err != nil {
		return b, err
	}
	b = appendTLV(b, TagVersion, Version)
	b = appendTLV(b, TagTxnID, r.TxnID[:]...)
	b = appendTLV(b, TagStatus, byte(r.Status))
	if r.Status == StatusOK {
		b = appendTLV(b, TagSigAlg, byte(r.SigAlg))
		b = appendTL(b, TagSignature, len(r.Signature))
		b = append(b, r.Signature...)
	}
	if r.PINTriesLeft >= 0 {
		b = appendTLV(b, TagPINTriesLeft, byte(r.PINTriesLeft))
	}
	return b, nil
}

// ParseResponse decodes and validates a response.
func ParseResponse(b []byte) (Response, error) {
	res := Response{PINTriesLeft: -1}
	r := newTLVReader(b)
	var seen uint8 // 1 version, 2 txn, 4 status
	var err error
	for {
		tag, v, ok := r.next()
		if !ok {
			break
		}
		switch tag {
		case TagVersion:
			seen |= 1
			var ver byte
			if ver, err = one(tag, v); err == nil && ver != Version {
				err = fmt.Errorf("%w: version %02x", ErrValue, ver)
			}
		case TagTxnID:
			seen |= 2
			if len(v) != 8 {
				err = fmt.Errorf("%w: transaction id of %d octets", ErrTagLength, len(v))
			}
			copy(res.TxnID[:], v)
		case TagStatus:
			seen |= 4
			var s byte
			s, err = one(tag, v)
			res.Status = Status(s)
		case TagSigAlg:
			var a byte
			a, err = one(tag, v)
			res.SigAlg = SigAlg(a)
		case TagSignature:
			res.Signature = bytes.Clone(v)
		case TagPINTriesLeft:
			var n byte
			n, err = one(tag, v)
			res.PINTriesLeft = int(n)
		}
		if err != nil {
			return Response{}, err
		}
	}
	if r.err != nil {
		return Response{}, r.err
	}
	if seen != 7 {
		return Response{}, fmt.Errorf("%w: version, transaction id and status are mandatory", ErrMissing)
	}
	if err := res.validate(); err != nil {
		return Response{}, err
	}
	return res, nil
}

// VerificationCode derives the 0..8191 code shown beside the prompt from
// the hash, as Estonia's Mobile-ID does (docs/applet-protocol.md §3): the 6 high
// bits of the first octet and the 7 low bits of the last one.
func VerificationCode(hash []byte) uint16 {
	if len(hash) == 0 {
		return 0
	}
	return uint16(hash[0]>>2)<<7 | uint16(hash[len(hash)-1]&0x7F)
}

// FormatVerificationCode writes the code as four digits with leading zeros.
func FormatVerificationCode(v uint16) string {
	return fmt.Sprintf("%04d", v)
}
