package ota

import (
	"bytes"
	"testing"
)

func fuzzCodec(f *testing.F) *Codec {
	c, err := NewCodec(Params{Header: Header{SPI: SPI{0x16, 0x3A}, KIc: 0x12, KID: 0x12, TAR: [3]byte{0xA5, 0x10, 0x01}}},
		Keys{KIc: keyOf(16, 1), KID: keyOf(16, 2)})
	if err != nil {
		f.Fatal(err)
	}
	return c
}

// FuzzOpenCommand: whatever the input, no panic; an opened packet re-seals
// to the same bytes (zero padding, as sealed) and opens again equal.
func FuzzOpenCommand(f *testing.F) {
	c := fuzzCodec(f)
	for _, n := range []int{0, 5, 98, 200} {
		pkt, _ := c.SealCommand(nil, uint64(n), keyOf(n, 3))
		f.Add(pkt)
	}
	f.Add([]byte{0, 0x0d, 0x0d, 0x16, 0x3a, 0x12, 0x12})
	f.Fuzz(func(t *testing.T, in []byte) {
		_, _ = ParseHeader(in)
		cmd, err := c.OpenCommand(in)
		if err != nil {
			return
		}
		out, err := c.SealCommand(nil, cmd.Counter, cmd.Data)
		if err != nil {
			t.Fatalf("re-seal: %v", err)
		}
		again, err := c.OpenCommand(out)
		if err != nil || again.Counter != cmd.Counter || !bytes.Equal(again.Data, cmd.Data) {
			t.Fatalf("reopen = %+v, %v", again, err)
		}
	})
}

// FuzzOpenResponse: as FuzzOpenCommand for PoRs, secured or not.
func FuzzOpenResponse(f *testing.F) {
	c := fuzzCodec(f)
	for _, n := range []int{0, 3, 113} {
		por, _ := c.SealResponse(nil, uint64(n), StatusOK, keyOf(n, 3))
		f.Add(por)
	}
	u, _ := AppendUnsecuredResponse(nil, [3]byte{0xA5, 0x10, 0x01}, 0, StatusTARUnknown, nil)
	f.Add(u)
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := c.OpenResponse(in)
		if err != nil {
			return
		}
		var out []byte
		if r.Secured {
			out, err = c.SealResponse(nil, r.Counter, r.Status, r.Data)
		} else {
			out, err = AppendUnsecuredResponse(nil, r.TAR, r.Counter, r.Status, r.Data)
		}
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.OpenResponse(out)
		if err != nil || again.Status != r.Status || again.Counter != r.Counter || !bytes.Equal(again.Data, r.Data) || again.Secured != r.Secured {
			t.Fatalf("reopen = %+v, %v", again, err)
		}
	})
}
