package applet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/imzagate/imzagate/applet/ota"
	"github.com/imzagate/imzagate/applet/sms"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func sampleCommand() Command {
	return Command{
		TxnID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, Operation: OpSign, KeyRef: 2, HashAlg: HashSHA256,
		Hash: seq(32, 0xA0), VerificationCode: 1234, DisplayText: "Pay 5€", UserTimeout: 120,
	}
}

func TestCommandGolden(t *testing.T) {
	c := sampleCommand()
	got, err := c.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "800101 81080102030405060708 820102 830102 840101 8520"+hex.EncodeToString(seq(32, 0xA0))+
		" 86021234 8708 00 5061792035 1b65 880178")
	if !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
	back, err := ParseCommand(got)
	if err != nil {
		t.Fatal(err)
	}
	if back.DisplayText != c.DisplayText || back.VerificationCode != 1234 || !bytes.Equal(back.Hash, c.Hash) || back.TxnID != c.TxnID ||
		back.UserTimeout != 120 || back.KeyRef != 2 || back.Operation != OpSign || back.HashAlg != HashSHA256 {
		t.Fatalf("round trip %+v", back)
	}
}

func TestDisplayText(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		coding byte
		hex    string
		err    bool
	}{
		{"gsm-plain", "Login 0042?", CodingGSM7, "4c6f67696e20303034323f", false},
		{"gsm-specials", "@£Δ$¤", CodingGSM7, "0001100224", false},
		{"gsm-escape", "[€]", CodingGSM7, "1b3c1b651b3e", false},
		{"azerbaijani-schwa-ucs2", "Giriş: ə", CodingUCS2, "0047006900720069015f003a00200259", false},
		{"gsm-60", strings.Repeat("a", 60), CodingGSM7, strings.Repeat("61", 60), false},
		{"gsm-61", strings.Repeat("a", 61), 0, "", true},
		{"gsm-escapes-over", strings.Repeat("€", 31), 0, "", true},
		{"ucs2-30", strings.Repeat("ə", 30), CodingUCS2, strings.Repeat("0259", 30), false},
		{"ucs2-31", strings.Repeat("ə", 31), 0, "", true},
		{"non-bmp", "ok 😀", 0, "", true},
		{"bad-utf8", "\xff", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			coding, out, err := encodeText(tt.in)
			if tt.err {
				if !errors.Is(err, ErrDisplayText) || !errors.Is(ValidateDisplayText(tt.in), ErrDisplayText) {
					t.Fatalf("err = %v", err)
				}
				c := sampleCommand()
				c.DisplayText = tt.in
				if _, err := c.AppendBinary(nil); !errors.Is(err, ErrDisplayText) {
					t.Fatalf("AppendBinary err = %v", err)
				}
				return
			}
			if err != nil || coding != tt.coding || hex.EncodeToString(out) != tt.hex {
				t.Fatalf("got %02x %x %v", coding, out, err)
			}
			back, err := decodeText(append([]byte{coding}, out...))
			if err != nil || back != tt.in {
				t.Fatalf("decode = %q, %v", back, err)
			}
		})
	}
	if ValidateDisplayText("") != nil {
		t.Fatal("empty text is valid (tag absent)")
	}
}

func TestParseCommandRejects(t *testing.T) {
	good, _ := (&Command{TxnID: [8]byte{9}, Operation: OpAuthenticate, KeyRef: 1, HashAlg: HashSHA256, Hash: seq(32, 0), VerificationCode: 7, UserTimeout: 60}).AppendBinary(nil)
	h := hex.EncodeToString(seq(32, 0))
	base := "800101 81080900000000000000 820101 830101 840101 8520" + h + " 86020007"
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"good-with-unknown-tag", base + " 880131 8900", nil},
		{"missing-timeout", base, ErrMissing},
		{"missing-version", "81080900000000000000 820101 830101 840101 8520" + h + " 86020007 88013c", ErrMissing},
		{"out-of-order", "81080900000000000000 800101", ErrTagOrder},
		{"repeated", "800101 800101", ErrTagOrder},
		{"version-2", "800102", ErrValue},
		{"long-length-form", "80810101", ErrTLV},
		{"82-short-form", "8082000101", ErrTLV},
		{"truncated-value", "8005 01", ErrTLV},
		{"trailing-octet", base + " 88013c 99", ErrTLV},
		{"auth-with-ref-2", strings.Replace(base, "830101", "830102", 1) + " 88013c", ErrValue},
		{"ref-0", strings.Replace(base, "830101", "830100", 1) + " 88013c", ErrValue},
		{"hash-alg-4", strings.Replace(base, "840101", "840104", 1) + " 88013c", ErrValue},
		{"hash-wrong-length", strings.Replace(base, "840101", "840102", 1) + " 88013c", ErrTagLength},
		{"timeout-9", base + " 880109", ErrValue},
		{"bcd-nibble", strings.Replace(base, "86020007", "8602000a", 1) + " 88013c", ErrValue},
		{"code-over-8191", strings.Replace(base, "86020007", "86029000", 1) + " 88013c", ErrValue},
		{"text-bad-coding", base + " 87020441 88013c", ErrDisplayText},
		{"text-ucs2-surrogate", base + " 870308d800 88013c", ErrDisplayText},
		{"text-escape-at-end", base + " 8703004 11b 88013c", ErrDisplayText},
		{"text-empty", base + " 870100 88013c", ErrDisplayText},
		{"txn-7", "800101 8107090000000000000000", ErrTagLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCommand(unhex(t, tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := ParseCommand(good); err != nil {
		t.Fatal(err)
	}
	if id := TxnIDOf(unhex(t, "800101 81080102030405060708 8201")); id != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Fatalf("TxnIDOf = %x", id)
	}
	if id := TxnIDOf(unhex(t, "8101")); id != [8]byte{} {
		t.Fatalf("TxnIDOf(bad) = %x", id)
	}
}

func TestResponseCodec(t *testing.T) {
	sig := seq(64, 1)
	tests := []struct {
		name string
		r    Response
		hex  string
		err  error
	}{
		{"ok-ecdsa", Response{TxnID: [8]byte{1}, Status: StatusOK, SigAlg: SigECDSAP256, Signature: sig, PINTriesLeft: 3},
			"800101 81080100000000000000 900100 910101 9240" + hex.EncodeToString(sig) + " 930103", nil},
		{"cancelled", Response{TxnID: [8]byte{2}, Status: StatusUserCancelled, PINTriesLeft: 3}, "800101 81080200000000000000 900101 930103", nil},
		{"bad-request-no-tries", Response{Status: StatusBadRequest, PINTriesLeft: -1}, "800101 81080000000000000000 900106", nil},
		{"blocked-no-tries", Response{Status: StatusPINBlocked, PINTriesLeft: -1}, "", ErrMissing},
		{"ok-short-sig", Response{Status: StatusOK, SigAlg: SigEd25519, Signature: sig[:63], PINTriesLeft: 1}, "", ErrTagLength},
		{"sig-with-error", Response{Status: StatusTimeout, SigAlg: SigEd25519, Signature: sig, PINTriesLeft: 1}, "", ErrValue},
		{"status-9", Response{Status: 9, PINTriesLeft: 1}, "", ErrValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.r.AppendBinary(nil)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			if want := unhex(t, tt.hex); !bytes.Equal(got, want) {
				t.Fatalf("got  %x\nwant %x", got, want)
			}
			back, err := ParseResponse(got)
			if err != nil || back.Status != tt.r.Status || back.PINTriesLeft != tt.r.PINTriesLeft || !bytes.Equal(back.Signature, tt.r.Signature) {
				t.Fatalf("parse = %+v, %v", back, err)
			}
		})
	}
	// ML-DSA-44 signatures use the 82 LL LL length form.
	r := Response{Status: StatusOK, SigAlg: SigMLDSA44, Signature: make([]byte, 2420), PINTriesLeft: 3}
	b, err := r.AppendBinary(nil)
	if err != nil || !bytes.Contains(b, []byte{TagSignature, 0x82, 0x09, 0x74}) {
		t.Fatalf("ML-DSA encoding %v", err)
	}
	if _, err := ParseResponse(b); err != nil {
		t.Fatal(err)
	}
}

func TestVerificationCode(t *testing.T) {
	tests := []struct {
		name string
		hash []byte
		want string
	}{
		{"zeros", make([]byte, 32), "0000"},
		{"max", bytes.Repeat([]byte{0xFF}, 32), "8191"},
		{"first-only", append([]byte{0x04}, make([]byte, 31)...), "0128"},
		{"last-only", append(make([]byte, 31), 0x2A), "0042"},
		{"last-high-bit-ignored", append(make([]byte, 31), 0xAA), "0042"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatVerificationCode(VerificationCode(tt.hash)); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDeriveCardKeys(t *testing.T) {
	// Expected values computed independently with `openssl mac -cipher
	// AES-128-CBC ... CMAC` over 01‖label‖00‖ICCID‖0080.
	var m MasterKeys
	copy(m.KIc[:], seq(16, 0))
	for i := range m.KIDMO {
		m.KIDMO[i] = 15 - byte(i)
	}
	k, err := DeriveCardKeys(m, "8999401234567890123")
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(k.KIc[:]); got != "e28ce6a3f5130103d9482040b7d7cf08" {
		t.Fatalf("KIc = %s", got)
	}
	k20, err := DeriveCardKeys(m, "89994012345678901234")
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(k20.KIDMO[:]); got != "a79353f4a5d4eb68690e6798aeb0acf6" {
		t.Fatalf("KIDMO = %s", got)
	}
	if k.KIc == k.KID || k.KID == k.KIcMO || k.KIcMO == k.KIDMO {
		t.Fatal("labels do not separate the keys")
	}
	for _, bad := range []string{"", "899940123456789012", "899940123456789012345", "899940123456789012a"} {
		if _, err := DeriveCardKeys(m, bad); !errors.Is(err, ErrICCID) {
			t.Fatalf("%q: err = %v", bad, err)
		}
	}
}

func testKeys(t testing.TB) CardKeys {
	k, err := DeriveCardKeys(MasterKeys{KIc: [16]byte{1}, KID: [16]byte{2}, KIcMO: [16]byte{3}, KIDMO: [16]byte{4}}, "8999401000000000017")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealCommandSegments(t *testing.T) {
	keys := testKeys(t)
	c := sampleCommand()
	segs, err := SealCommand(keys, 77, &c, 9)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 1 || !bytes.Equal(segs[0][:3], []byte{2, 0x70, 0}) || len(segs[0]) > 140 {
		t.Fatalf("segments %d, %x", len(segs), segs[0][:3])
	}
	// Open as the card does.
	mt, _ := MTCodec(keys)
	p, err := mt.OpenCommand(segs[0][3:])
	if err != nil || p.Counter != 77 || p.SPI != SPIMT || p.TAR != TAR {
		t.Fatalf("open %+v %v", p, err)
	}
	got, err := ParseCommand(p.Data)
	if err != nil || got.DisplayText != c.DisplayText {
		t.Fatal(got, err)
	}
	// SHA-512 and a long text need two segments.
	c.HashAlg, c.Hash, c.DisplayText = HashSHA512, seq(64, 0), strings.Repeat("ə", 30)
	segs, err = SealCommand(keys, 78, &c, 9)
	if err != nil || len(segs) != 2 {
		t.Fatalf("%d segments, %v", len(segs), err)
	}
	r := sms.NewReassembler(sms.ReassemblerOptions{})
	var msg sms.Message
	for _, s := range segs {
		if m, ok, err := r.Add(s, testNow); err != nil {
			t.Fatal(err)
		} else if ok {
			msg = m
		}
	}
	if p, err = mt.OpenCommand(msg.Data); err != nil || msg.Packet != sms.IEICommand {
		t.Fatal(err)
	}
	if got, err = ParseCommand(p.Data); err != nil || got.DisplayText != c.DisplayText {
		t.Fatal(err)
	}
}

func TestOpenMO(t *testing.T) {
	keys := testKeys(t)
	resp := Response{TxnID: [8]byte{7}, Status: StatusOK, SigAlg: SigEd25519, Signature: seq(64, 3), PINTriesLeft: 3}
	segs, err := SealMO(keys, 5, &resp, 1)
	if err != nil || len(segs) != 1 {
		t.Fatal(err)
	}
	mo, err := OpenMO(keys, segs[0])
	if err != nil || mo.Kind != MOReply || mo.Counter != 5 || mo.Response.TxnID != resp.TxnID || !bytes.Equal(mo.Response.Signature, resp.Signature) {
		t.Fatalf("OpenMO = %+v, %v", mo, err)
	}
	// An MT reflected back is not an MO.
	c := sampleCommand()
	mt, _ := SealCommand(keys, 9, &c, 1)
	if _, err := OpenMO(keys, mt[0]); !errors.Is(err, ErrWrongKeySet) || !errors.Is(err, ErrEchoedMT) {
		t.Fatalf("reflected MT: %v", err)
	}
	// An MO sealed with the MT keys but the MO header fails the checksum.
	wrong, _ := ota.NewCodec(MOParams(), ota.Keys{KIc: keys.KIc[:], KID: keys.KID[:]})
	data, _ := resp.AppendBinary(nil)
	pkt, _ := wrong.SealCommand([]byte{2, 0x70, 0}, 6, data)
	if _, err := OpenMO(keys, pkt); !errors.Is(err, ota.ErrChecksum) {
		t.Fatalf("MO with MT keys: %v", err)
	}
	// Tampered.
	bad := bytes.Clone(segs[0])
	bad[len(bad)-2] ^= 1
	if _, err := OpenMO(keys, bad); !errors.Is(err, ota.ErrChecksum) {
		t.Fatalf("tampered: %v", err)
	}
	// A secured PoR "CNTR low" and an unsecured "TAR unknown".
	mtc, _ := MTCodec(keys)
	por, _ := mtc.SealResponse([]byte{2, 0x71, 0}, 9, ota.StatusCounterLow, nil)
	if mo, err := OpenMO(keys, por); err != nil || mo.Kind != MOPoR || mo.PoRStatus != 0x02 || mo.Counter != 9 {
		t.Fatalf("PoR = %+v, %v", mo, err)
	}
	if mo, _ := OpenMO(keys, por); !mo.PoRSecured {
		t.Fatal("a secured PoR reads as unsecured")
	}
	u, _ := ota.AppendUnsecuredResponse([]byte{2, 0x71, 0}, TAR, 0, ota.StatusTARUnknown, nil)
	if mo, err := OpenMO(keys, u); err != nil || mo.PoRStatus != 0x09 || mo.PoRSecured {
		t.Fatalf("unsecured PoR = %+v, %v", mo, err)
	}
	uok, _ := ota.AppendUnsecuredResponse([]byte{2, 0x71, 0}, TAR, 0, ota.StatusOK, nil)
	if _, err := OpenMO(keys, uok); !errors.Is(err, ErrUnsecuredOK) || !errors.Is(err, ErrUnsecuredPoR) {
		t.Fatalf("unsecured OK PoR: %v", err)
	}
	// Only 06 and 09 come unsecured: an unsecured "CNTR low" is refused.
	ulow, _ := ota.AppendUnsecuredResponse([]byte{2, 0x71, 0}, TAR, 9, ota.StatusCounterLow, nil)
	if _, err := OpenMO(keys, ulow); !errors.Is(err, ErrUnsecuredPoR) {
		t.Fatalf("unsecured CNTR low PoR: %v", err)
	}
	// A secured OK PoR is returned; what it means is the caller's call.
	pok, _ := mtc.SealResponse([]byte{2, 0x71, 0}, 9, ota.StatusOK, nil)
	if mo, err := OpenMO(keys, pok); err != nil || mo.Kind != MOPoR || mo.PoRStatus != 0 || !mo.PoRSecured {
		t.Fatalf("secured OK PoR = %+v, %v", mo, err)
	}
	if _, err := OpenMO(keys, []byte{0}); !errors.Is(err, ErrNotOTA) {
		t.Fatalf("no packet: %v", err)
	}
}

// BenchmarkSealAuthenticate: build + seal + segment of an AUTHENTICATE
// command with a short text (target ≤ 5 µs).
func BenchmarkSealAuthenticate(b *testing.B) {
	keys := testKeys(b)
	h := sha256.Sum256([]byte("challenge"))
	c := Command{TxnID: [8]byte{1}, Operation: OpAuthenticate, KeyRef: 1, HashAlg: HashSHA256, Hash: h[:],
		VerificationCode: VerificationCode(h[:]), DisplayText: "e-taxes.gov.az login", UserTimeout: 60}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SealCommand(keys, 1, &c, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenMO(b *testing.B) {
	keys := testKeys(b)
	resp := Response{Status: StatusOK, SigAlg: SigECDSAP256, Signature: seq(64, 3), PINTriesLeft: 3}
	segs, _ := SealMO(keys, 5, &resp, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := OpenMO(keys, segs[0]); err != nil {
			b.Fatal(err)
		}
	}
}
