package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/imzagate/imzagate/applet/ota"
	"github.com/imzagate/imzagate/applet/sms"
)

// runOTA is `imzagate ota seal|open`: a tool for operators' engineers who
// debug OTA traffic (ETSI TS 102 225 / 3GPP TS 31.115, SMS-PP).
func runOTA(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: imzagate ota seal|open [flags]")
		return 2
	}
	switch args[0] {
	case "seal":
		return otaSeal(args[1:], stdout, stderr)
	case "open":
		return otaOpen(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "imzagate ota: unknown action %q (want seal or open)\n", args[0])
	return 2
}

// hexFlag is a flag holding hex octets, with an optional exact length.
type hexFlag struct {
	b   []byte
	n   int // exact length in octets, 0 = any
	set bool
}

// String implements flag.Value.
func (h *hexFlag) String() string { return hex.EncodeToString(h.b) }

// Set implements flag.Value: hex octets, spaces and a 0x prefix allowed.
func (h *hexFlag) Set(s string) error {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.ReplaceAll(s, " ", ""), "0x"))
	if err != nil {
		return fmt.Errorf("not hex: %v", err)
	}
	if h.n > 0 && len(b) != h.n {
		return fmt.Errorf("want %d octets, have %d", h.n, len(b))
	}
	h.b, h.set = b, true
	return nil
}

type otaFlags struct {
	fs                   *flag.FlagSet
	spi, kic, kid, tar   hexFlag
	kicKey, kidKey, cntr hexFlag
	payload              hexFlag
	ccLen                int
	ref                  int
}

func newOTAFlags(name string, stderr io.Writer) *otaFlags {
	f := &otaFlags{fs: flag.NewFlagSet("imzagate ota "+name, flag.ContinueOnError)}
	f.spi.n, f.kic.n, f.kid.n, f.tar.n, f.cntr.n = 2, 1, 1, 3, 5
	f.fs.SetOutput(stderr)
	f.fs.Var(&f.spi, "spi", "SPI, 2 octets hex (e.g. 163a)")
	f.fs.Var(&f.kic, "kic", "KIc, 1 octet hex (e.g. 12)")
	f.fs.Var(&f.kid, "kid", "KID, 1 octet hex (e.g. 12)")
	f.fs.Var(&f.kicKey, "kic-key", "ciphering key, hex")
	f.fs.Var(&f.kidKey, "kid-key", "checksum key, hex")
	f.fs.IntVar(&f.ccLen, "cc-len", 8, "AES-CMAC length: 4 or 8")
	return f
}

func fail(stderr io.Writer, format string, a ...any) int {
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintln(stderr, "imzagate ota: "+strings.ReplaceAll(msg, "\n", " "))
	return 1
}

func otaSeal(args []string, stdout, stderr io.Writer) int {
	f := newOTAFlags("seal", stderr)
	f.fs.Var(&f.tar, "tar", "TAR, 3 octets hex")
	f.fs.Var(&f.cntr, "cntr", "CNTR, 5 octets hex")
	f.fs.Var(&f.payload, "payload", "secured data, hex")
	f.fs.IntVar(&f.ref, "ref", 0, "concatenation reference (0-255) when the packet needs several SMS")
	if err := f.fs.Parse(args); err != nil {
		return 2
	}
	for name, v := range map[string]*hexFlag{"spi": &f.spi, "kic": &f.kic, "kid": &f.kid, "tar": &f.tar, "cntr": &f.cntr, "payload": &f.payload} {
		if !v.set {
			return fail(stderr, "--%s is required", name)
		}
	}
	if f.fs.NArg() > 0 || f.ref < 0 || f.ref > 255 {
		return fail(stderr, "unexpected arguments or --ref out of range")
	}
	p := ota.Params{Header: ota.Header{SPI: ota.SPI{f.spi.b[0], f.spi.b[1]}, KIc: f.kic.b[0], KID: f.kid.b[0], TAR: [3]byte(f.tar.b)}, CCLen: f.ccLen}
	c, err := ota.NewCodec(p, ota.Keys{KIc: f.kicKey.b, KID: f.kidKey.b})
	if err != nil {
		return fail(stderr, "%v", err)
	}
	cntr := uint64(0)
	for _, b := range f.cntr.b {
		cntr = cntr<<8 | uint64(b)
	}
	pkt, err := c.SealCommand(nil, cntr, f.payload.b)
	if err != nil {
		return fail(stderr, "%v", err)
	}
	segs, err := sms.Segment(sms.IEICommand, pkt, uint16(f.ref), false)
	if err != nil {
		return fail(stderr, "%v", err)
	}
	for _, s := range segs {
		fmt.Fprintln(stdout, hex.EncodeToString(s))
	}
	return 0
}

// openResult is the JSON printed by `ota open`. checksum_ok is true when
// an RC/CC was present and verified; false when the packet carries none
// (a failed checksum is an error, exit status 1).
type openResult struct {
	Kind       string  `json:"kind"`
	SPI        string  `json:"spi,omitempty"`
	KIc        string  `json:"kic,omitempty"`
	KID        string  `json:"kid,omitempty"`
	TAR        string  `json:"tar"`
	CNTR       string  `json:"cntr"`
	PCNTR      int     `json:"pcntr"`
	Status     *string `json:"status,omitempty"`
	Data       string  `json:"data"`
	ChecksumOK bool    `json:"checksum_ok"`
}

func otaOpen(args []string, stdout, stderr io.Writer) int {
	f := newOTAFlags("open", stderr)
	if err := f.fs.Parse(args); err != nil {
		return 2
	}
	if f.fs.NArg() == 0 {
		return fail(stderr, "give one or more segments as hex")
	}
	r := sms.NewReassembler(sms.ReassemblerOptions{MaxPending: 1})
	var (
		msg  sms.Message
		done bool
	)
	now := time.Unix(0, 0)
	for i, a := range f.fs.Args() {
		ud, err := hex.DecodeString(strings.ReplaceAll(a, " ", ""))
		if err != nil {
			return fail(stderr, "segment %d: not hex", i+1)
		}
		if done {
			return fail(stderr, "segment %d: message already complete", i+1)
		}
		m, ok, err := r.Add(ud, now)
		if err != nil {
			return fail(stderr, "segment %d: %v", i+1, err)
		}
		msg, done = m, ok
	}
	if !done {
		return fail(stderr, "incomplete message: segments missing")
	}
	var res openResult
	switch msg.Packet {
	case sms.IEICommand:
		h, err := ota.ParseHeader(msg.Data)
		if err != nil {
			return fail(stderr, "%v", err)
		}
		c, err := ota.NewCodec(ota.Params{Header: h, CCLen: f.ccLen}, ota.Keys{KIc: f.kicKey.b, KID: f.kidKey.b})
		if err != nil {
			return fail(stderr, "%v", err)
		}
		p, err := c.OpenCommand(msg.Data)
		if err != nil {
			return fail(stderr, "%v", err)
		}
		res = openResult{Kind: "command", SPI: hex.EncodeToString(h.SPI[:]), KIc: hex.EncodeToString([]byte{h.KIc}),
			KID: hex.EncodeToString([]byte{h.KID}), TAR: hex.EncodeToString(h.TAR[:]), CNTR: cntrHex(p.Counter),
			PCNTR: int(p.PCNTR), Data: hex.EncodeToString(p.Data), ChecksumOK: p.Checksum != nil}
	case sms.IEIResponse:
		if !f.spi.set || !f.kic.set || !f.kid.set {
			return fail(stderr, "a response packet needs --spi, --kic and --kid of the command it answers")
		}
		p := ota.Params{Header: ota.Header{SPI: ota.SPI{f.spi.b[0], f.spi.b[1]}, KIc: f.kic.b[0], KID: f.kid.b[0]}, CCLen: f.ccLen}
		c, err := ota.NewCodec(p, ota.Keys{KIc: f.kicKey.b, KID: f.kidKey.b})
		if err != nil {
			return fail(stderr, "%v", err)
		}
		rp, err := c.OpenResponse(msg.Data)
		if err != nil {
			return fail(stderr, "%v", err)
		}
		st := hex.EncodeToString([]byte{byte(rp.Status)})
		res = openResult{Kind: "response", TAR: hex.EncodeToString(rp.TAR[:]), CNTR: cntrHex(rp.Counter),
			PCNTR: int(rp.PCNTR), Status: &st, Data: hex.EncodeToString(rp.Data), ChecksumOK: rp.Checksum != nil}
	default:
		return fail(stderr, "%v", errors.New("user data has neither a command (70 00) nor a response (71 00) identifier"))
	}
	out, err := json.Marshal(res)
	if err != nil {
		return fail(stderr, "%v", err)
	}
	fmt.Fprintln(stdout, string(out))
	return 0
}

func cntrHex(v uint64) string {
	s := strconv.FormatUint(v, 16)
	return strings.Repeat("0", 10-len(s)) + s
}
