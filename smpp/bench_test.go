package smpp

import "testing"

func benchSubmit() *SubmitSM {
	return &SubmitSM{Header: Header{Seq: 9}, Message: Message{SourceTON: 1, SourceNPI: 1, SourceAddr: "99412",
		DestTON: 1, DestNPI: 1, DestAddr: "994501234567", ESMClass: 0x40, ProtocolID: 0x7F,
		RegisteredDelivery: 1, DataCoding: 0xF6, ShortMessage: make([]byte, 140)}}
}

func BenchmarkEncodeSubmitSM(b *testing.B) {
	b.ReportAllocs()
	p := benchSubmit()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		var err error
		if buf, err = Encode(buf[:0], p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSubmitSM(b *testing.B) {
	b.ReportAllocs()
	buf, err := Encode(nil, benchSubmit())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSubmitSMResp(b *testing.B) {
	b.ReportAllocs()
	buf, err := Encode(nil, &SubmitSMResp{Header: Header{Seq: 1}, MessageID: "0a1b2c3d"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// loopConn replays one buffer forever: a reader that never ends.
type loopConn struct {
	chunkConn
	data []byte
	off  int
}

func (c *loopConn) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k := copy(b[n:], c.data[c.off:])
		n += k
		c.off = (c.off + k) % len(c.data)
	}
	return n, nil
}

// BenchmarkConnReadSubmitSMResp: the reader's cost per response PDU,
// framing and decode included (the buffer is reused).
func BenchmarkConnReadSubmitSMResp(b *testing.B) {
	b.ReportAllocs()
	pdu, err := Encode(nil, &SubmitSMResp{Header: Header{Seq: 1}, MessageID: "0a1b2c3d"})
	if err != nil {
		b.Fatal(err)
	}
	c := NewConn(&loopConn{data: pdu})
	for b.Loop() {
		if _, err := c.ReadPDU(); err != nil {
			b.Fatal(err)
		}
	}
}
