package smpp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"time"
)

// Conn frames PDUs over a net.Conn: ReadPDU reads exactly one PDU, WritePDU
// buffers one, Flush sends the buffer. It has no notion of sessions, windows
// or binds: Session builds those on top. ReadPDU and WritePDU may be used
// from two different goroutines, but each only from one.
type Conn struct {
	nc   net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	rbuf []byte // reused read buffer; Decode copies what it keeps
	wbuf []byte // reused encode buffer
}

// NewConn wraps nc with buffered reading and writing.
func NewConn(nc net.Conn) *Conn {
	return &Conn{
		nc:   nc,
		br:   bufio.NewReaderSize(nc, 32<<10),
		bw:   bufio.NewWriterSize(nc, 32<<10),
		rbuf: make([]byte, 0, 512),
	}
}

// NetConn returns the underlying connection (for deadlines and addresses).
func (c *Conn) NetConn() net.Conn { return c.nc }

// ReadPDU reads one PDU. It reads the 16-octet header, rejects a
// command_length outside [16, MaxPDULen] before allocating (*FrameError: the
// caller must close), then reads the body with io.ReadFull. An unknown
// command_id gives *UnknownCommandError and a malformed body *DecodeError;
// after both the stream is still in sync.
func (c *Conn) ReadPDU() (PDU, error) {
	// The header is read into the reused buffer: a local array would escape
	// through the io.Reader interface and cost an allocation per PDU.
	if cap(c.rbuf) < HeaderLen {
		c.rbuf = make([]byte, 0, 512)
	}
	hdr := c.rbuf[:HeaderLen]
	if _, err := io.ReadFull(c.br, hdr); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr)
	if n < HeaderLen || n > MaxPDULen {
		return nil, &FrameError{Length: n}
	}
	if cap(c.rbuf) < int(n) {
		grown := make([]byte, n)
		copy(grown, hdr)
		c.rbuf = grown
	}
	b := c.rbuf[:n]
	if _, err := io.ReadFull(c.br, b[HeaderLen:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	p, err := Decode(b)
	if cap(c.rbuf) > 4096 { // do not pin a 64 KiB buffer after one large PDU
		c.rbuf = make([]byte, 0, 512)
	}
	return p, err
}

// WritePDU encodes p into the write buffer. Nothing reaches the network until
// the buffer fills or Flush is called, so a writer can batch.
func (c *Conn) WritePDU(p PDU) error {
	b, err := Encode(c.wbuf[:0], p)
	if err != nil {
		return err
	}
	c.wbuf = b
	_, err = c.bw.Write(b)
	return err
}

// Buffered returns the number of bytes waiting for Flush.
func (c *Conn) Buffered() int { return c.bw.Buffered() }

// Flush writes buffered PDUs to the network.
func (c *Conn) Flush() error { return c.bw.Flush() }

// SetWriteDeadline sets the underlying write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// SetReadDeadline sets the underlying read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.nc.Close() }
