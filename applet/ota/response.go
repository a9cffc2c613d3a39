package ota

import (
	"crypto/subtle"
	"fmt"
)

// porUDH is the UDH of a single-SMS response packet; 3GPP TS 31.115 §4.2
// puts these three octets inside the PoR's checksum input even when the
// real UDH differs (a concatenated PoR).
var porUDH = [3]byte{0x02, 0x71, 0x00}

// Response is an opened response packet (PoR).
type Response struct {
	TAR      [3]byte
	Counter  uint64 // the command's CNTR, echoed
	PCNTR    byte
	Status   Status
	Checksum []byte // RC/CC as received (nil without one)
	Data     []byte // additional response data without the padding
	Secured  bool   // deciphered and/or checksum verified as SPI2 asked
}

// SealResponse appends a PoR (RPL onwards, no UDH) secured as the codec's
// SPI2 asks: checksum per b4b3 with the KID algorithm and key, ciphering
// per b5 with KIc (ETSI TS 102 225 §5.2, 3GPP TS 31.115 §4.2).
func (c *Codec) SealResponse(dst []byte, cntr uint64, status Status, data []byte) ([]byte, error) {
	return c.sealResponse(dst, c.p.TAR, cntr, status, data, c.porL, c.porBS)
}

// AppendUnsecuredResponse appends a PoR with neither checksum nor ciphering:
// what a card sends when it could not identify the keys (statuses 06 and
// 09) or when SPI2 asks for no security.
func AppendUnsecuredResponse(dst []byte, tar [3]byte, cntr uint64, status Status, data []byte) ([]byte, error) {
	var c Codec
	return c.sealResponse(dst, tar, cntr, status, data, 0, 1)
}

func (c *Codec) sealResponse(dst []byte, tar [3]byte, cntr uint64, status Status, data []byte, l, bs int) ([]byte, error) {
	if cntr > MaxCounter {
		return dst, ErrCounter
	}
	pcntr := pad(7+l+len(data), bs)
	rhl := responseHeaderLen + l
	rpl := 1 + rhl + len(data) + pcntr
	total := 2 + rpl
	if total > MaxPacketLen {
		return dst, fmt.Errorf("%w: %d octets", ErrTooLong, total)
	}
	// Y = 02 71 00 ‖ RPL..status ‖ data ‖ pad is laid out contiguously at
	// offset l, the packet is assembled at offset 3 and slid to the start
	// at the end; 16 octets of MAC scratch follow.
	start := len(dst)
	need := 3 + total + 16
	if cap(dst)-start < need {
		nd := make([]byte, start, start+need)
		copy(nd, dst)
		dst = nd
	}
	buf := dst[start : start+need]
	y := buf[l : 3+total]
	copy(y, porUDH[:])
	y[3], y[4] = byte(rpl>>8), byte(rpl)
	y[5] = byte(rhl)
	copy(y[6:9], tar[:])
	putCounter(y[9:14], cntr)
	y[14] = byte(pcntr)
	y[15] = byte(status)
	n := copy(y[16:], data)
	clear(y[16+n:])
	if l > 0 {
		scratch := buf[3+total:]
		c.porChk.sum(scratch, y)
		copy(buf[3:16], y[3:16])
		copy(buf[16:16+l], scratch[:l])
	}
	if bs > 1 {
		c.ciph.encrypt(buf[3+6 : 3+total])
	}
	copy(buf, buf[3:3+total])
	return dst[:start+total], nil
}

// OpenResponse checks and deciphers a PoR (RPL onwards) answering a command
// sealed with this codec. An error PoR that comes back unsecured although
// SPI2 asked for a checksum is recognised by its RHL of 0A and returned
// with Secured = false (docs/ota.md §9: a length test alone would misfire).
func (c *Codec) OpenResponse(pkt []byte) (Response, error) {
	var r Response
	if len(pkt) < 2+1+responseHeaderLen {
		return r, fmt.Errorf("%w: %d octets", ErrShort, len(pkt))
	}
	if len(pkt) > MaxPacketLen {
		return r, fmt.Errorf("%w: %d octets", ErrTooLong, len(pkt))
	}
	total := len(pkt)
	if rpl := int(pkt[0])<<8 | int(pkt[1]); rpl != total-2 {
		return r, fmt.Errorf("%w: RPL %d, packet %d", ErrLength, rpl, total)
	}
	rhl := int(pkt[2])
	l := rhl - responseHeaderLen
	if l < 0 || 3+rhl > total {
		return r, fmt.Errorf("%w: RHL %d", ErrHeaderLength, rhl)
	}
	bs, chk := c.porBS, c.porChk
	r.Secured = true
	if l == 0 && chk.kind != checkNone {
		// Unsecured error PoR: read it in clear.
		bs, chk, r.Secured = 1, checkAlg{kind: checkNone}, false
	}
	if !chk.validLen(l) {
		return r, fmt.Errorf("%w: RHL %d for %v", ErrHeaderLength, rhl, c.p.SPI.PoRIntegrity())
	}
	if (total-6)%bs != 0 {
		return r, fmt.Errorf("%w: %d octets", ErrBlockSize, total-6)
	}
	buf := make([]byte, 3+total+l+16)
	copy(buf, porUDH[:])
	copy(buf[3:], pkt)
	if bs > 1 {
		c.ciph.decrypt(buf[3+6 : 3+total])
	}
	pcntr := int(buf[3+11])
	copy(r.TAR[:], buf[3+3:3+6])
	r.Counter = getCounter(buf[3+6 : 3+11])
	r.PCNTR = byte(pcntr)
	r.Status = Status(buf[3+12])
	got := buf[3+total : 3+total+l]
	copy(got, buf[16:16+l])
	copy(buf[l:16+l], buf[:16])
	y := buf[l : 3+total]
	if l > 0 {
		scratch := buf[3+total+l:]
		chk.sum(scratch, y)
		if subtle.ConstantTimeCompare(scratch[:l], got) != 1 {
			return r, ErrChecksum
		}
		r.Checksum = got
	}
	if pcntr > total-13-l {
		return Response{}, fmt.Errorf("%w: PCNTR %d", ErrPadding, pcntr)
	}
	if bs == 1 && pcntr != 0 {
		return Response{}, fmt.Errorf("%w: PCNTR %d without ciphering", ErrPadding, pcntr)
	}
	r.Data = y[16 : len(y)-pcntr : len(y)-pcntr]
	return r, nil
}
