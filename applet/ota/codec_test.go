package ota

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

type algCase struct {
	name    string
	kic     byte
	kid     byte
	kicKey  int
	kidKey  int
	ccLen   int
	rcOnly  bool // KID nibble only meaningful as an RC
	ccOnly  bool // KID nibble only meaningful as a CC
	blockSz int
}

var algCases = []algCase{
	{name: "DES", kic: 0x11, kid: 0x11, kicKey: 8, kidKey: 8, blockSz: 8},
	{name: "DES-ECB", kic: 0x1D, kid: 0x11, kicKey: 8, kidKey: 8, blockSz: 8},
	{name: "3DES2", kic: 0x15, kid: 0x15, kicKey: 16, kidKey: 16, blockSz: 8},
	{name: "3DES3", kic: 0x19, kid: 0x19, kicKey: 24, kidKey: 24, blockSz: 8, ccOnly: true},
	{name: "AES128-CC8", kic: 0x12, kid: 0x12, kicKey: 16, kidKey: 16, blockSz: 16, ccOnly: true},
	{name: "AES128-CC4", kic: 0x12, kid: 0x12, kicKey: 16, kidKey: 16, ccLen: 4, blockSz: 16, ccOnly: true},
	{name: "AES192", kic: 0x22, kid: 0x22, kicKey: 24, kidKey: 24, blockSz: 16, ccOnly: true},
	{name: "AES256-CC4", kic: 0x32, kid: 0x32, kicKey: 32, kidKey: 32, ccLen: 4, blockSz: 16, ccOnly: true},
	{name: "AES-cipher-3DES-MAC", kic: 0x12, kid: 0x15, kicKey: 16, kidKey: 16, blockSz: 16},
}

func keyOf(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return k
}

// TestSealOpenAllCombinations: seal→open gives back the payload for every
// algorithm, integrity, cipher and counter combination, and any flipped
// octet is caught whenever the SPI asks for a checksum.
func TestSealOpenAllCombinations(t *testing.T) {
	payloads := [][]byte{{}, {0xAB}, keyOf(7, 1), keyOf(16, 2), keyOf(98, 3), keyOf(300, 4)}
	for _, a := range algCases {
		for integ := IntegrityNone; integ <= IntegrityCC; integ++ {
			if integ == IntegrityRC && a.ccOnly || integ == IntegrityCC && a.rcOnly {
				continue
			}
			for _, ciph := range []bool{false, true} {
				for cm := CounterNone; cm <= CounterPlusOne; cm++ {
					spi := MakeSPI(integ, ciph, cm, PoRAlways, integ, ciph, true)
					name := fmt.Sprintf("%s/spi%x", a.name, spi[:])
					t.Run(name, func(t *testing.T) {
						c, err := NewCodec(Params{Header: Header{SPI: spi, KIc: a.kic, KID: a.kid, TAR: [3]byte{0xA5, 0x10, 0x01}}, CCLen: a.ccLen},
							Keys{KIc: keyOf(a.kicKey, 0x10), KID: keyOf(a.kidKey, 0x20)})
						if err != nil {
							t.Fatal(err)
						}
						for _, pl := range payloads {
							roundTrip(t, c, spi, pl, a.blockSz)
						}
					})
				}
			}
		}
	}
}

func roundTrip(t *testing.T, c *Codec, spi SPI, pl []byte, bs int) {
	t.Helper()
	const cntr = 0x0102030405
	pkt, err := c.SealCommand([]byte{0xEE}, cntr, pl)
	if err != nil {
		t.Fatal(err)
	}
	if pkt[0] != 0xEE {
		t.Fatal("SealCommand clobbered dst")
	}
	pkt = pkt[1:]
	if spi.CommandCiphered() && (len(pkt)-10)%bs != 0 {
		t.Fatalf("ciphered part %d not a multiple of %d", len(pkt)-10, bs)
	}
	got, err := c.OpenCommand(pkt)
	if err != nil {
		t.Fatalf("open %d octets: %v", len(pl), err)
	}
	if !bytes.Equal(got.Data, pl) || got.Counter != cntr {
		t.Fatalf("open = %x cntr %x, want %x", got.Data, got.Counter, pl)
	}
	if spi.CommandCiphered() && len(pl) > 0 && bytes.Contains(pkt, pl) && len(pl) > 4 {
		t.Fatal("payload visible in a ciphered packet")
	}
	checked := spi.CommandIntegrity() != IntegrityNone
	// Every octet of short packets, a spread sample of long ones (keeps
	// the race-enabled run short).
	step := 1
	if len(pkt) > 64 {
		step = 7
	}
	for i := 10; i < len(pkt); i += step {
		bad := bytes.Clone(pkt)
		bad[i] ^= 0x40
		_, err := c.OpenCommand(bad)
		if checked && err == nil {
			t.Fatalf("flip at %d of %d not detected", i, len(pkt))
		}
	}
	// The header (SPI, KIc, KID) is inside the checksum too; TAR flips
	// must fail the checksum.
	if checked {
		bad := bytes.Clone(pkt)
		bad[9] ^= 1
		if _, err := c.OpenCommand(bad); !errors.Is(err, ErrChecksum) {
			t.Fatalf("TAR flip: %v", err)
		}
	}
	// PoR both ways.
	por, err := c.SealResponse(nil, cntr, StatusCounterLow, pl)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.OpenResponse(por)
	if err != nil {
		t.Fatalf("open PoR: %v", err)
	}
	if !bytes.Equal(r.Data, pl) || r.Counter != cntr || r.Status != StatusCounterLow || !r.Secured {
		t.Fatalf("PoR = %+v", r)
	}
	if spi.PoRIntegrity() != IntegrityNone {
		for i := 3; i < len(por); i += step {
			bad := bytes.Clone(por)
			bad[i] ^= 0x08
			if _, err := c.OpenResponse(bad); err == nil {
				t.Fatalf("PoR flip at %d not detected", i)
			}
		}
	}
}

// TestUnsecuredErrorPoR: a card that could not identify the keys answers in
// clear even though SPI2 asked for ciphering and a checksum.
func TestUnsecuredErrorPoR(t *testing.T) {
	c, err := NewCodec(Params{Header: Header{SPI: SPI{0x16, 0x3A}, KIc: 0x12, KID: 0x12, TAR: [3]byte{0xA5, 0x10, 0x01}}},
		Keys{KIc: keyOf(16, 1), KID: keyOf(16, 2)})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []Status{StatusUnidentifiedError, StatusTARUnknown} {
		por, err := AppendUnsecuredResponse(nil, [3]byte{0xA5, 0x10, 0x01}, 0, st, nil)
		if err != nil {
			t.Fatal(err)
		}
		// RPL 000b, RHL 0a, TAR, CNTR 0, PCNTR 0, status: golden bytes.
		if want := fmt.Sprintf("000b0aa51001000000000000%02x", byte(st)); hex.EncodeToString(por) != want {
			t.Fatalf("unsecured PoR %x, want %s", por, want)
		}
		r, err := c.OpenResponse(por)
		if err != nil {
			t.Fatal(err)
		}
		if r.Secured || r.Status != st {
			t.Fatalf("unsecured PoR = %+v", r)
		}
	}
	// A secured one is reported as secured.
	por, _ := c.SealResponse(nil, 7, StatusCounterLow, nil)
	if r, err := c.OpenResponse(por); err != nil || !r.Secured || r.Counter != 7 {
		t.Fatalf("secured PoR = %+v, %v", r, err)
	}
}

func TestMalformedCommand(t *testing.T) {
	spi := SPI{0x16, 0x3A}
	c, err := NewCodec(Params{Header: Header{SPI: spi, KIc: 0x12, KID: 0x12, TAR: [3]byte{1, 2, 3}}}, Keys{KIc: keyOf(16, 1), KID: keyOf(16, 2)})
	if err != nil {
		t.Fatal(err)
	}
	good, _ := c.SealCommand(nil, 5, []byte("hello"))
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"short", good[:10], ErrShort},
		{"cpl-too-big", mod(func(b []byte) []byte { b[1]++; return b }), ErrLength},
		{"truncated", good[:len(good)-1], ErrLength},
		{"chl-too-big", mod(func(b []byte) []byte { b[2] = 0xFF; return b }), ErrHeaderLength},
		{"chl-small", mod(func(b []byte) []byte { b[2] = 12; return b }), ErrHeaderLength},
		{"chl-odd-cc", mod(func(b []byte) []byte { b[2] = 13 + 6; return b }), ErrHeaderLength},
		{"not-block-multiple", mod(func(b []byte) []byte { b = append(b, 0); b[1]++; return b }), ErrBlockSize},
		{"checksum", mod(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), ErrChecksum},
		{"spi-reserved", mod(func(b []byte) []byte { b[3] |= 0x80; return b }), ErrSPI},
		{"other-kic", mod(func(b []byte) []byte { b[5] = 0x22; return b }), ErrMismatch},
		{"too-long", make([]byte, MaxPacketLen+1), ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.OpenCommand(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckCounter(t *testing.T) {
	tests := []struct {
		name       string
		mode       CounterMode
		recv, held uint64
		want       error
	}{
		{"none-ignores", CounterNone, 0, 9, nil},
		{"nocheck-ignores", CounterNoCheck, 1, 9, nil},
		{"higher-ok", CounterHigher, 10, 9, nil},
		{"higher-jump", CounterHigher, 1000, 9, nil},
		{"higher-equal", CounterHigher, 9, 9, ErrCounterLow},
		{"higher-low", CounterHigher, 3, 9, ErrCounterLow},
		{"plus1-ok", CounterPlusOne, 10, 9, nil},
		{"plus1-high", CounterPlusOne, 11, 9, ErrCounterHigh},
		{"plus1-low", CounterPlusOne, 9, 9, ErrCounterLow},
		{"blocked", CounterHigher, MaxCounter, MaxCounter, ErrCounterBlock},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := CheckCounter(tt.mode, tt.recv, tt.held); err != tt.want {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if CounterStatus(ErrCounterLow) != StatusCounterLow || CounterStatus(ErrCounterHigh) != StatusCounterHigh || CounterStatus(ErrCounterBlock) != StatusCounterBlocked {
		t.Error("CounterStatus mapping")
	}
}

func TestNewCodecRejects(t *testing.T) {
	k16 := keyOf(16, 0)
	tests := []struct {
		name string
		p    Params
		k    Keys
		want error
	}{
		{"aes-short-key", Params{Header: Header{SPI: SPI{0x16, 0}, KIc: 0x12, KID: 0x12}}, Keys{KIc: k16[:15], KID: k16}, ErrKey},
		{"des-long-key", Params{Header: Header{SPI: SPI{0x04, 0}, KIc: 0x11}}, Keys{KIc: k16}, ErrKey},
		{"3des3-short", Params{Header: Header{SPI: SPI{0x04, 0}, KIc: 0x19}}, Keys{KIc: k16}, ErrKey},
		{"implicit", Params{Header: Header{SPI: SPI{0x04, 0}, KIc: 0x10}}, Keys{KIc: k16}, ErrAlgorithm},
		{"proprietary", Params{Header: Header{SPI: SPI{0x02, 0}, KID: 0x13}}, Keys{KID: k16}, ErrAlgorithm},
		{"des-ecb-as-cc", Params{Header: Header{SPI: SPI{0x02, 0}, KID: 0x1D}}, Keys{KID: k16[:8]}, ErrAlgorithm},
		{"ds", Params{Header: Header{SPI: SPI{0x03, 0}, KID: 0x12}}, Keys{KID: k16}, ErrAlgorithm},
		{"rc-aes", Params{Header: Header{SPI: SPI{0x01, 0}, KID: 0x12}}, Keys{}, ErrAlgorithm},
		{"cc-len-6", Params{Header: Header{SPI: SPI{0x02, 0}, KID: 0x12}, CCLen: 6}, Keys{KID: k16}, ErrHeaderLength},
		{"spi2-reserved", Params{Header: Header{SPI: SPI{0, 0x03}}}, Keys{}, ErrSPI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewCodec(tt.p, tt.k); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCRC16(t *testing.T) {
	// CRC-16/X.25 check value for "123456789" (the catalogue of CRC
	// parameterisations lists 906E).
	if got := crc16([]byte("123456789")); got != 0x906E {
		t.Fatalf("crc16 = %04x", got)
	}
}

func TestSPIFields(t *testing.T) {
	s := SPI{0x16, 0x3A}
	if s.CommandIntegrity() != IntegrityCC || !s.CommandCiphered() || s.Counter() != CounterHigher ||
		s.PoR() != PoROnError || s.PoRIntegrity() != IntegrityCC || !s.PoRCiphered() || !s.PoRBySubmit() {
		t.Fatalf("decoded %v", s)
	}
	if MakeSPI(IntegrityCC, true, CounterHigher, PoROnError, IntegrityCC, true, true) != s {
		t.Fatal("MakeSPI")
	}
}

func benchCodec(b *testing.B) *Codec {
	c, err := NewCodec(Params{Header: Header{SPI: SPI{0x16, 0x3A}, KIc: 0x12, KID: 0x12, TAR: [3]byte{0xA5, 0x10, 0x01}}, CCLen: 8},
		Keys{KIc: keyOf(16, 1), KID: keyOf(16, 2)})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSealCommand100: AES-128 + CMAC-8, 100 octets (target ≤ 2 µs,
// ≤ 4 allocations).
func BenchmarkSealCommand100(b *testing.B) {
	c := benchCodec(b)
	data := keyOf(100, 9)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SealCommand(nil, 42, data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenCommand100(b *testing.B) {
	c := benchCodec(b)
	pkt, _ := c.SealCommand(nil, 42, keyOf(100, 9))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.OpenCommand(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenResponse100(b *testing.B) {
	c := benchCodec(b)
	pkt, _ := c.SealResponse(nil, 42, StatusOK, keyOf(100, 9))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.OpenResponse(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSealAllocs(t *testing.T) {
	c, _ := NewCodec(Params{Header: Header{SPI: SPI{0x16, 0x3A}, KIc: 0x12, KID: 0x12}}, Keys{KIc: keyOf(16, 1), KID: keyOf(16, 2)})
	data := keyOf(100, 9)
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(50, func() { _, _ = c.SealCommand(buf, 1, data) }); n != 0 {
		t.Fatalf("SealCommand into a large enough buffer allocates %v times", n)
	}
}

// TestDESECBIsBlockwise: with coding D two equal plaintext blocks give
// equal ciphertext blocks; with CBC (coding 1) they do not.
func TestDESECBIsBlockwise(t *testing.T) {
	data := bytes.Repeat([]byte{0x42}, 26) // 6 + 26 = 32: four whole blocks, the last two equal
	for _, tt := range []struct {
		name  string
		kic   byte
		equal bool
	}{{"ecb", 0x1D, true}, {"cbc", 0x11, false}} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCodec(Params{Header: Header{SPI: SPI{0x04, 0}, KIc: tt.kic}}, Keys{KIc: keyOf(8, 5)})
			if err != nil {
				t.Fatal(err)
			}
			pkt, _ := c.SealCommand(nil, 0, data)
			ct := pkt[10:]
			if len(ct) != 32 {
				t.Fatalf("ciphered part %d octets", len(ct))
			}
			if got := bytes.Equal(ct[16:24], ct[24:32]); got != tt.equal {
				t.Fatalf("equal blocks = %v", got)
			}
		})
	}
}

// TestPoRSecurityIndependentOfCommand: SPI2 secures the PoR on its own
// terms, whatever SPI1 did to the command.
func TestPoRSecurityIndependentOfCommand(t *testing.T) {
	for _, a := range algCases {
		for porInt := IntegrityNone; porInt <= IntegrityCC; porInt++ {
			if porInt == IntegrityRC && a.ccOnly {
				continue
			}
			for _, porCiph := range []bool{false, true} {
				for _, cmdCiph := range []bool{false, true} {
					spi := MakeSPI(IntegrityNone, cmdCiph, CounterHigher, PoROnError, porInt, porCiph, true)
					t.Run(fmt.Sprintf("%s/spi%x", a.name, spi[:]), func(t *testing.T) {
						c, err := NewCodec(Params{Header: Header{SPI: spi, KIc: a.kic, KID: a.kid}, CCLen: a.ccLen},
							Keys{KIc: keyOf(a.kicKey, 0x10), KID: keyOf(a.kidKey, 0x20)})
						if err != nil {
							t.Fatal(err)
						}
						data := keyOf(21, 7)
						por, err := c.SealResponse(nil, 99, StatusChecksumFailed, data)
						if err != nil {
							t.Fatal(err)
						}
						if porCiph && (len(por)-6)%a.blockSz != 0 {
							t.Fatalf("ciphered PoR part %d octets", len(por)-6)
						}
						if !porCiph && !bytes.Contains(por, data) {
							t.Fatal("clear PoR does not show its data")
						}
						r, err := c.OpenResponse(por)
						if err != nil || r.Status != StatusChecksumFailed || !bytes.Equal(r.Data, data) || (len(r.Checksum) > 0) != (porInt != IntegrityNone) {
							t.Fatalf("open = %+v, %v", r, err)
						}
					})
				}
			}
		}
	}
}
