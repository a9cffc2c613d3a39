package ota

import (
	"crypto/subtle"
	"fmt"
)

// Fixed sizes of the SMS-PP secured packet, 3GPP TS 31.115 §4.
const (
	commandHeaderLen  = 13        // CHL without RC/CC/DS: SPI KIc KID TAR CNTR PCNTR
	responseHeaderLen = 10        // RHL without RC/CC/DS: TAR CNTR PCNTR status
	clearPrefixLen    = 10        // CPL CHL SPI KIc KID TAR: never ciphered
	MaxCounter        = 1<<40 - 1 // largest 5-octet CNTR
	// MaxPacketLen bounds a secured packet: 32 concatenated SMS segments.
	MaxPacketLen = 32 * 134
)

// Header is the clear part of a command packet: what a card reads to pick
// the application (TAR) and the keys (KIc/KID key version) before it can
// decipher anything.
type Header struct {
	SPI SPI
	KIc byte // key version (high nibble) and ciphering algorithm
	KID byte // key version (high nibble) and RC/CC algorithm
	TAR [3]byte
}

// Params configures a Codec: the header of the commands it seals or opens
// and, for AES-CMAC, the checksum length it emits (4 or 8; 0 means 8).
// Responses are secured as SPI2 asks with the same keys.
type Params struct {
	Header
	CCLen int
}

// Keys are the raw KIc and KID key octets; a key that the SPI does not use
// may be empty.
type Keys struct {
	KIc, KID []byte
}

// Codec seals and opens command and response packets for one Params and
// key pair. It is immutable and safe for concurrent use.
type Codec struct {
	p       Params
	ciph    cipherAlg // zero value when neither direction ciphers
	cmdChk  checkAlg
	porChk  checkAlg
	cmdL    int // RC/CC length of commands
	porL    int // RC/CC length of PoRs
	cmdBS   int // block size when commands are ciphered, else 1
	porBS   int
	counter CounterMode
}

// NewCodec validates p against the keys and prepares the ciphers.
func NewCodec(p Params, k Keys) (*Codec, error) {
	if err := p.SPI.Validate(); err != nil {
		return nil, err
	}
	c := &Codec{p: p, cmdBS: 1, porBS: 1, counter: p.SPI.Counter()}
	if p.SPI.CommandCiphered() || p.SPI.PoRCiphered() {
		ci, err := newCipher(p.KIc, k.KIc)
		if err != nil {
			return nil, fmt.Errorf("KIc: %w", err)
		}
		c.ciph = ci
		if p.SPI.CommandCiphered() {
			c.cmdBS = ci.bs
		}
		if p.SPI.PoRCiphered() {
			c.porBS = ci.bs
		}
	}
	var err error
	if c.cmdChk, err = newCheck(p.SPI.CommandIntegrity(), p.KID, k.KID); err != nil {
		return nil, fmt.Errorf("KID: %w", err)
	}
	if c.porChk, err = newCheck(p.SPI.PoRIntegrity(), p.KID, k.KID); err != nil {
		return nil, fmt.Errorf("KID (PoR): %w", err)
	}
	ccLen := p.CCLen
	if ccLen == 0 {
		ccLen = 8
	}
	if ccLen != 4 && ccLen != 8 {
		return nil, fmt.Errorf("%w: CC length %d (want 4 or 8)", ErrHeaderLength, p.CCLen)
	}
	c.cmdL = checkLen(c.cmdChk, ccLen)
	c.porL = checkLen(c.porChk, ccLen)
	return c, nil
}

func checkLen(c checkAlg, ccLen int) int {
	switch c.kind {
	case checkCRC16:
		return 2
	case checkCRC32:
		return 4
	case checkDESMAC:
		return 8
	case checkCMAC:
		return ccLen
	}
	return 0
}

// Params returns the parameters the codec was built with.
func (c *Codec) Params() Params { return c.p }

// CommandOverhead is the number of octets a sealed command adds to n octets
// of data (header, checksum and cipher padding).
func (c *Codec) CommandOverhead(n int) int {
	return 3 + commandHeaderLen + c.cmdL + pad(6+c.cmdL+n, c.cmdBS)
}

func pad(n, bs int) int { return (bs - n%bs) % bs }

func putCounter(b []byte, v uint64) {
	b[0], b[1], b[2], b[3], b[4] = byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func getCounter(b []byte) uint64 {
	return uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
}

// SealCommand appends the secured command packet (CPL onwards, no UDH)
// carrying data with counter cntr to dst. 3GPP TS 31.115 §4.1 and ETSI TS
// 102 225 §5.1; the steps are those of the spec's sender algorithm.
func (c *Codec) SealCommand(dst []byte, cntr uint64, data []byte) ([]byte, error) {
	if cntr > MaxCounter {
		return dst, ErrCounter
	}
	l := c.cmdL
	pcntr := pad(6+l+len(data), c.cmdBS)
	chl := commandHeaderLen + l
	cpl := 1 + chl + len(data) + pcntr
	total := 2 + cpl
	if total > MaxPacketLen {
		return dst, fmt.Errorf("%w: %d octets", ErrTooLong, total)
	}
	// The checksum input X (header‖CNTR‖PCNTR‖data‖pad) is first laid out
	// contiguously L octets into the packet, with 16 octets of scratch for
	// the MAC after it; the 16-octet prefix then slides back to make room
	// for the checksum. One buffer, no extra allocation.
	start := len(dst)
	need := total + 16
	if cap(dst)-start < need {
		nd := make([]byte, start, start+need)
		copy(nd, dst)
		dst = nd
	}
	buf := dst[start : start+need]
	x := buf[l:total]
	x[0], x[1] = byte(cpl>>8), byte(cpl)
	x[2] = byte(chl)
	x[3], x[4] = c.p.SPI[0], c.p.SPI[1]
	x[5], x[6] = c.p.KIc, c.p.KID
	copy(x[7:10], c.p.TAR[:])
	putCounter(x[10:15], cntr)
	x[15] = byte(pcntr)
	n := copy(x[16:], data)
	clear(x[16+n:])
	scratch := buf[total : total+16]
	if l > 0 {
		c.cmdChk.sum(scratch, x)
		copy(buf, x[:16])
		copy(buf[16:16+l], scratch[:l])
	}
	if c.cmdBS > 1 {
		c.ciph.encrypt(buf[clearPrefixLen:total])
	}
	return dst[:start+total], nil
}

// ParseHeader reads the clear header of a command packet (CPL onwards)
// after checking CPL and CHL against the packet length.
func ParseHeader(pkt []byte) (Header, error) {
	var h Header
	if len(pkt) < 2+1+commandHeaderLen {
		return h, fmt.Errorf("%w: %d octets", ErrShort, len(pkt))
	}
	if len(pkt) > MaxPacketLen {
		return h, fmt.Errorf("%w: %d octets", ErrTooLong, len(pkt))
	}
	if cpl := int(pkt[0])<<8 | int(pkt[1]); cpl != len(pkt)-2 {
		return h, fmt.Errorf("%w: CPL %d, packet %d", ErrLength, cpl, len(pkt))
	}
	if chl := int(pkt[2]); chl < commandHeaderLen || chl-commandHeaderLen > 16 || 3+chl > len(pkt) {
		return h, fmt.Errorf("%w: CHL %d", ErrHeaderLength, chl)
	}
	h.SPI = SPI{pkt[3], pkt[4]}
	h.KIc, h.KID = pkt[5], pkt[6]
	copy(h.TAR[:], pkt[7:10])
	return h, h.SPI.Validate()
}

// Command is an opened command packet.
type Command struct {
	Header
	Counter  uint64
	PCNTR    byte
	Checksum []byte // RC/CC as received (nil without one)
	Data     []byte // secured data without the padding
}

// OpenCommand checks and deciphers a command packet (CPL onwards). Its header
// must be the codec's, apart from the TAR (a card may serve several). The
// counter is returned, not checked: see CheckCounter.
func (c *Codec) OpenCommand(pkt []byte) (Command, error) {
	var cmd Command
	h, err := ParseHeader(pkt)
	if err != nil {
		return cmd, err
	}
	if h.SPI != c.p.SPI || h.KIc != c.p.KIc || h.KID != c.p.KID {
		return cmd, ErrMismatch
	}
	cmd.Header = h
	l := int(pkt[2]) - commandHeaderLen
	if !c.cmdChk.validLen(l) {
		return cmd, fmt.Errorf("%w: CHL %d for %v", ErrHeaderLength, pkt[2], h.SPI.CommandIntegrity())
	}
	if (len(pkt)-clearPrefixLen)%c.cmdBS != 0 {
		return cmd, fmt.Errorf("%w: %d octets", ErrBlockSize, len(pkt)-clearPrefixLen)
	}
	// Decipher a copy in place; then slide the 16-octet prefix over the
	// checksum so that X is contiguous (see SealCommand), keeping the
	// received checksum and 16 octets of MAC scratch after the packet.
	total := len(pkt)
	buf := make([]byte, total+l+16)
	copy(buf, pkt)
	if c.cmdBS > 1 {
		c.ciph.decrypt(buf[clearPrefixLen:total])
	}
	pcntr := int(buf[15])
	cmd.Counter = getCounter(buf[10:15])
	cmd.PCNTR = byte(pcntr)
	got := buf[total : total+l]
	copy(got, buf[16:16+l])
	copy(buf[l:16+l], buf[:16])
	x := buf[l:total]
	if l > 0 {
		scratch := buf[total+l:]
		c.cmdChk.sum(scratch, x)
		if subtle.ConstantTimeCompare(scratch[:l], got) != 1 {
			return cmd, ErrChecksum
		}
		cmd.Checksum = got
	}
	// PCNTR is checked after the checksum (which covers the padding
	// whatever its count), so a wrong key reads as a checksum failure.
	if pcntr > total-16-l {
		return Command{}, fmt.Errorf("%w: PCNTR %d", ErrPadding, pcntr)
	}
	if c.cmdBS == 1 && pcntr != 0 {
		return Command{}, fmt.Errorf("%w: PCNTR %d without ciphering", ErrPadding, pcntr)
	}
	cmd.Data = x[16 : len(x)-pcntr : len(x)-pcntr]
	return cmd, nil
}

// CheckCounter applies the counter rule of mode to a received CNTR and the
// counter the card holds (ETSI TS 102 225 §5.1.1, status codes of §5.2.2).
func CheckCounter(mode CounterMode, received, held uint64) error {
	switch mode {
	case CounterHigher, CounterPlusOne:
		if held >= MaxCounter {
			return ErrCounterBlock
		}
		if received <= held {
			return ErrCounterLow
		}
		if mode == CounterPlusOne && received != held+1 {
			return ErrCounterHigh
		}
	}
	return nil
}

// CounterStatus maps a CheckCounter error to the PoR status it calls for.
func CounterStatus(err error) Status {
	switch err {
	case ErrCounterLow:
		return StatusCounterLow
	case ErrCounterHigh:
		return StatusCounterHigh
	case ErrCounterBlock:
		return StatusCounterBlocked
	}
	return StatusOK
}
