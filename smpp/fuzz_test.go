package smpp

import (
	"bytes"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodePDU: if Decode succeeds, Encode must succeed and decoding the
// re-encoded bytes must give an equal value.
func FuzzDecodePDU(f *testing.F) {
	for _, b := range loadGolden(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		out, err := Encode(nil, p)
		if err != nil {
			t.Fatalf("re-encode of %#v: %v", p, err)
		}
		q, err := Decode(out)
		if err != nil {
			t.Fatalf("decode of re-encoded %x: %v", out, err)
		}
		if !reflect.DeepEqual(clearLen(p), clearLen(q)) {
			t.Fatalf("round trip differs:\n%#v\n%#v", p, q)
		}
	})
}

// chunkConn is a net.Conn whose reads return the input in the given chunks,
// exercising partial reads in Conn (nats parser_fuzz_test style).
type chunkConn struct {
	chunks [][]byte
	net.Conn
}

func (c *chunkConn) Read(b []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(b, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

func (c *chunkConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *chunkConn) SetReadDeadline(time.Time) error  { return nil }
func (c *chunkConn) SetWriteDeadline(time.Time) error { return nil }
func (c *chunkConn) Close() error                     { return nil }

// readAll reads PDUs until an error, returning what was read and the error
// class, so two framings of one stream can be compared.
func readAll(c *Conn) ([]PDU, string) {
	var out []PDU
	for i := 0; i < 64; i++ {
		p, err := c.ReadPDU()
		var ue *UnknownCommandError
		var de *DecodeError
		switch {
		case err == nil:
			out = append(out, clearLen(p))
		case errors.As(err, &ue), errors.As(err, &de):
			out = append(out, nil) // in sync: keep reading
		default:
			var fe *FrameError
			if errors.As(err, &fe) {
				return out, "frame"
			}
			return out, "eof"
		}
	}
	return out, "limit"
}

// FuzzFraming feeds a stream through Conn whole and split at a fuzzed point:
// the PDUs read (and the kind of final error) must be the same.
func FuzzFraming(f *testing.F) {
	g := loadGolden(f)
	f.Add(append(append([]byte{}, g["submit_sm"]...), g["enquire_link"]...), uint16(7))
	f.Add(append(append([]byte{}, g["deliver_sm_receipt"]...), g["bind_transceiver"]...), uint16(40))
	f.Add(g["data_sm"], uint16(0))
	f.Fuzz(func(t *testing.T, stream []byte, at uint16) {
		if len(stream) > 1<<16 {
			return
		}
		cut := int(at) % (len(stream) + 1)
		whole, wholeEnd := readAll(NewConn(&chunkConn{chunks: [][]byte{bytes.Clone(stream)}}))
		split, splitEnd := readAll(NewConn(&chunkConn{chunks: [][]byte{bytes.Clone(stream[:cut]), bytes.Clone(stream[cut:])}}))
		if wholeEnd != splitEnd || !reflect.DeepEqual(whole, split) {
			t.Fatalf("split at %d: %d PDUs (%s) vs whole %d PDUs (%s)", cut, len(split), splitEnd, len(whole), wholeEnd)
		}
	})
}

// TestFramingEverySplit is the deterministic form of FuzzFraming: every split
// point of a three-PDU stream gives the same three PDUs.
func TestFramingEverySplit(t *testing.T) {
	g := loadGolden(t)
	var stream []byte
	for _, n := range []string{"submit_sm", "deliver_sm_receipt", "enquire_link"} {
		stream = append(stream, g[n]...)
	}
	want, end := readAll(NewConn(&chunkConn{chunks: [][]byte{stream}}))
	if len(want) != 3 || end != "eof" {
		t.Fatalf("whole stream: %d PDUs, end %s", len(want), end)
	}
	for cut := 0; cut <= len(stream); cut++ {
		got, gotEnd := readAll(NewConn(&chunkConn{chunks: [][]byte{bytes.Clone(stream[:cut]), bytes.Clone(stream[cut:])}}))
		if gotEnd != end || !reflect.DeepEqual(got, want) {
			t.Fatalf("split at %d: got %d PDUs (%s)", cut, len(got), gotEnd)
		}
	}
}

func TestReadPDUFrameErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"length 15", []byte{0, 0, 0, 15, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"length huge", []byte{0x7f, 0, 0, 0, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewConn(&chunkConn{chunks: [][]byte{tt.in}}).ReadPDU()
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want FrameError", err)
			}
		})
	}
	// A truncated body is an unexpected EOF, not a clean EOF.
	g := loadGolden(t)["submit_sm"]
	if _, err := NewConn(&chunkConn{chunks: [][]byte{g[:20]}}).ReadPDU(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: err = %v", err)
	}
}
