package applet

import (
	"errors"
	"fmt"

	"github.com/imzagate/imzagate/applet/ota"
	"github.com/imzagate/imzagate/applet/sms"
)

// Transport parameters of docs/applet-protocol.md §1.1.
var (
	// TAR is the applet's toolkit application reference.
	TAR = [3]byte{0xA5, 0x10, 0x01}
	// SPIMT secures gateway → SIM commands: CC, ciphered, counter
	// "higher"; PoR on error only, ciphered + CC, by SMS-SUBMIT.
	SPIMT = ota.SPI{0x16, 0x3A}
	// SPIMO secures SIM → gateway replies: CC, ciphered, counter
	// "higher"; no PoR.
	SPIMO = ota.SPI{0x16, 0x00}
)

// Key identifiers: key version in the high nibble, AES in the low one.
const (
	KIcMT = 0x12
	KIDMT = 0x12
	KIcMO = 0x22
	KIDMO = 0x22
)

// CCLen is the AES-CMAC length used in both directions.
const CCLen = 8

// MTParams are the OTA parameters of commands with the default key
// versions; MOParams those of replies.
func MTParams() ota.Params { return defaultTransport.MTParams() }

// MOParams returns the OTA parameters of the applet's replies with the
// default key versions.
func MOParams() ota.Params { return defaultTransport.MOParams() }

// MTCodec returns the codec for the card's MT commands and their PoRs.
func MTCodec(k CardKeys) (*ota.Codec, error) { return defaultTransport.MTCodec(k) }

// MOCodec returns the codec for the card's MO replies.
func MOCodec(k CardKeys) (*ota.Codec, error) { return defaultTransport.MOCodec(k) }

// Errors of OpenMO.
var (
	ErrNotOTA       = errors.New("applet: user data carries no OTA packet")
	ErrConcatenated = errors.New("applet: user data is a segment; reassemble first")
	ErrWrongKeySet  = errors.New("applet: MO not secured with the MO key set")
	// ErrEchoedMT: the packet carries the MT's security header (SPI 16 3A,
	// KIc/KID 12): one of the gateway's own commands came back, reflected
	// by a network or replayed. It also matches ErrWrongKeySet.
	ErrEchoedMT = fmt.Errorf("%w: the header of an MT command", ErrWrongKeySet)
	ErrWrongTAR = errors.New("applet: wrong TAR")
	// ErrUnsecuredPoR: an unsecured PoR with a status the card always
	// secures (only 06 and 09 come unsecured, docs/applet-protocol.md
	// §1.3).
	ErrUnsecuredPoR = errors.New("applet: unsecured PoR with a status that is always secured")
	// ErrUnsecuredOK: an unsecured PoR with status OK; it means nothing.
	// It also matches ErrUnsecuredPoR.
	ErrUnsecuredOK = fmt.Errorf("%w: status OK", ErrUnsecuredPoR)
)

// SealCommand builds the command's TLVs, secures them once with the card's
// key version 1 keys and counter (SPI 16 3A), and cuts the packet into SMS
// TP-UD segments (UDH included) with the given concatenation reference.
func SealCommand(keys CardKeys, counter uint64, cmd *Command, concatRef byte) ([][]byte, error) {
	return defaultTransport.SealCommand(keys, counter, cmd, concatRef)
}

// SealCommand is the package's SealCommand with this transport's MT key
// version.
func (t *Transport) SealCommand(keys CardKeys, counter uint64, cmd *Command, concatRef byte) ([][]byte, error) {
	c, err := t.MTCodec(keys)
	if err != nil {
		return nil, err
	}
	return seal(c, counter, cmd.AppendBinary, sms.IEICommand, concatRef)
}

// SealMO is the card side of the reply: the response TLVs in a command
// packet secured with the MO keys (SPI 16 00, KIc/KID 22) and the card's MO
// counter, cut into SMS segments.
func SealMO(keys CardKeys, counter uint64, r *Response, concatRef byte) ([][]byte, error) {
	return defaultTransport.SealMO(keys, counter, r, concatRef)
}

// SealMO is the package's SealMO with this transport's MO key version.
func (t *Transport) SealMO(keys CardKeys, counter uint64, r *Response, concatRef byte) ([][]byte, error) {
	c, err := t.MOCodec(keys)
	if err != nil {
		return nil, err
	}
	return seal(c, counter, r.AppendBinary, sms.IEICommand, concatRef)
}

func seal(c *ota.Codec, counter uint64, enc func([]byte) ([]byte, error), id sms.PacketID, ref byte) ([][]byte, error) {
	var buf [256]byte
	data, err := enc(buf[:0])
	if err != nil {
		return nil, err
	}
	// Reserve the single-SMS UDH in front so that the common case is one
	// allocation for the packet and one for the segment list.
	pkt := make([]byte, 3, 3+c.CommandOverhead(len(data))+16)
	pkt, err = c.SealCommand(pkt, counter, data)
	if err != nil {
		return nil, err
	}
	if len(pkt) <= sms.MaxUserData {
		pkt[0], pkt[1], pkt[2] = 0x02, byte(id), 0x00
		return [][]byte{pkt}, nil
	}
	return sms.Segment(id, pkt[3:], uint16(ref), false)
}

// MOKind tells an applet reply from a PoR.
type MOKind byte

// MO kinds.
const (
	MOReply MOKind = 1 // the applet's Response (UDH 70 00)
	MOPoR   MOKind = 2 // an OTA-level Proof of Receipt (UDH 71 00)
)

// String names the kind.
func (k MOKind) String() string {
	switch k {
	case MOReply:
		return "reply"
	case MOPoR:
		return "PoR"
	}
	return "unknown"
}

// MO is an opened mobile-originated message.
type MO struct {
	Kind      MOKind
	Counter   uint64   // MOReply: the card's MO counter; MOPoR: the echoed MT CNTR
	Response  Response // MOReply only
	PoRStatus byte     // MOPoR only: ota.Status
	// PoRSecured (MOPoR only) reports a PoR whose checksum verified with
	// the card's MT keys. An unsecured PoR (statuses 06 and 09 only) is
	// authenticated by nothing: anyone can send one, so it must not change
	// a session.
	PoRSecured bool
}

// OpenMO opens one complete MO TP-UD: UDH `02 70 00`‖packet for an applet
// reply, or `02 71 00`‖PoR. Replies are opened with the MO keys and must
// carry SPI 16 00, KIc/KID 22 and the applet's TAR; PoRs are opened with
// the MT parameters and keys. A secured PoR is returned whatever its
// status (the caller decides what an OK PoR means); an unsecured one only
// with status 06 or 09, the two a card sends unsecured
// (docs/applet-protocol.md §1.3), and with PoRSecured false. The caller
// checks Counter against the last accepted one (a reply) or the counter of
// the MT it answers (a PoR).
func OpenMO(keys CardKeys, userData []byte) (MO, error) {
	return defaultTransport.OpenMO(keys, userData)
}

// OpenMO is the package's OpenMO with this transport's key versions: a
// reply must carry KIc and KID of its MO version, and a PoR is opened with
// the MT parameters of its MT version.
func (t *Transport) OpenMO(keys CardKeys, userData []byte) (MO, error) {
	h, body, err := sms.Parse(userData)
	if err != nil {
		return MO{}, err
	}
	if h.HasConcat && h.Concat.Total > 1 {
		return MO{}, ErrConcatenated
	}
	switch h.Packet {
	case sms.IEICommand:
		hdr, err := ota.ParseHeader(body)
		if err != nil {
			return MO{}, err
		}
		if hdr.SPI == SPIMT && hdr.KIc == t.mt.KIc && hdr.KID == t.mt.KID {
			return MO{}, ErrEchoedMT
		}
		if hdr.SPI != SPIMO || hdr.KIc != t.mo.KIc || hdr.KID != t.mo.KID {
			return MO{}, fmt.Errorf("%w: SPI %x KIc %02x KID %02x", ErrWrongKeySet, hdr.SPI[:], hdr.KIc, hdr.KID)
		}
		if hdr.TAR != TAR {
			return MO{}, fmt.Errorf("%w: %x", ErrWrongTAR, hdr.TAR[:])
		}
		c, err := t.MOCodec(keys)
		if err != nil {
			return MO{}, err
		}
		p, err := c.OpenCommand(body)
		if err != nil {
			return MO{}, err
		}
		if p.Counter == 0 {
			return MO{}, fmt.Errorf("%w: MO counter 0", ota.ErrCounterLow)
		}
		r, err := ParseResponse(p.Data)
		if err != nil {
			return MO{}, err
		}
		return MO{Kind: MOReply, Counter: p.Counter, Response: r}, nil
	case sms.IEIResponse:
		c, err := t.MTCodec(keys)
		if err != nil {
			return MO{}, err
		}
		r, err := c.OpenResponse(body)
		if err != nil {
			return MO{}, err
		}
		if r.TAR != TAR {
			return MO{}, fmt.Errorf("%w: %x", ErrWrongTAR, r.TAR[:])
		}
		if !r.Secured {
			switch r.Status {
			case ota.StatusUnidentifiedError, ota.StatusTARUnknown:
			case ota.StatusOK:
				return MO{}, ErrUnsecuredOK
			default:
				return MO{}, fmt.Errorf("%w: %v", ErrUnsecuredPoR, r.Status)
			}
		}
		return MO{Kind: MOPoR, Counter: r.Counter, PoRStatus: byte(r.Status), PoRSecured: r.Secured}, nil
	}
	return MO{}, ErrNotOTA
}
