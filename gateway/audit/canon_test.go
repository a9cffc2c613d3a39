package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/internal/testutil"
)

// vectorRecord exercises every field, escaping and detail ordering.
func vectorRecord() Record {
	r := Record{
		Chain:   "20250102.gw-a.00112233aabb",
		Seq:     42,
		Time:    time.Date(2025, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("AZT", 4*3600)),
		Kind:    KindSessionComplete,
		Actor:   Actor{ID: "e-taxes", Role: "portal"},
		Subject: Subject{Session: "s1", Cert: "0a1b", SigSHA256: strings.Repeat("ab", 32), Ref: "quote\" back\\slash\ttab\x7f é"},
		Phone:   Phone{HMAC: strings.Repeat("0f", 16), Masked: "+99450***4567"},
		Outcome: "OK",
		Details: map[string]string{"z": "last", "a": "first", "m.n": "ünïcode"},
	}
	r.Prev[0], r.Prev[31] = 0xff, 0x01
	return r
}

const vectorCanonical = `{"v":1,"chain":"20250102.gw-a.00112233aabb","seq":42,"time":"2025-01-01T23:04:05.678Z",` +
	`"kind":"session.complete","actor":{"id":"e-taxes","role":"portal"},` +
	`"subject":{"session":"s1","cert":"0a1b","sig_sha256":"abababababababababababababababababababababababababababababababab",` +
	`"ref":"quote\" back\\slash\u0009tab\u007f é"},` +
	`"phone":{"hmac":"0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f","masked":"+99450***4567"},"outcome":"OK",` +
	`"details":{"a":"first","m.n":"ünïcode","z":"last"},` +
	`"prev":"ff00000000000000000000000000000000000000000000000000000000000001"}`

func TestCanonicalVector(t *testing.T) {
	r := vectorRecord()
	got := r.AppendCanonical(nil)
	if string(got) != vectorCanonical {
		t.Fatalf("canonical bytes\n got %s\nwant %s", got, vectorCanonical)
	}
	sum := sha256.Sum256([]byte(vectorCanonical))
	if h := r.Hash(); h != sum {
		t.Fatalf("Hash = %x, want SHA-256 of the canonical bytes %x", h, sum)
	}
	line := r.AppendLine(nil)
	want := vectorCanonical[:len(vectorCanonical)-1] + `,"hash":"` + hex.EncodeToString(sum[:]) + `"}`
	if string(line) != want {
		t.Fatalf("line\n got %s\nwant %s", line, want)
	}
	back, stated, err := ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	if stated != sum || !bytes.Equal(back.AppendCanonical(nil), []byte(vectorCanonical)) {
		t.Fatalf("ParseLine did not give the record back: %+v", back)
	}
	if rec, err := ParseRecord([]byte(vectorCanonical)); err != nil || rec.Hash() != sum {
		t.Fatalf("ParseRecord = %v; hash %x", err, rec.Hash())
	}
}

// The genesis of a chain is a fixed function of its id.
func TestGenesisVector(t *testing.T) {
	g := Genesis("20250102.gw-a.00112233aabb")
	want := sha256.Sum256([]byte("imzagate/audit/v1/genesis\n20250102.gw-a.00112233aabb"))
	if g != want {
		t.Fatalf("Genesis = %x, want %x", g, want)
	}
}

func TestParseRejectsNonCanonical(t *testing.T) {
	r := vectorRecord()
	line := string(r.AppendLine(nil))
	tests := []struct {
		name, line, want string
	}{
		{"space after colon", strings.Replace(line, `"seq":42`, `"seq": 42`, 1), "canonical"},
		{"leading zero", strings.Replace(line, `"seq":42`, `"seq":042`, 1), "number at octet 50"},
		{"fields reordered", strings.Replace(strings.Replace(line, `,"outcome":"OK"`, ``, 1), `{"v":1,`, `{"v":1,"outcome":"OK",`, 1), "canonical"},
		{"unknown field", strings.Replace(line, `"outcome":"OK"`, `"outcome":"OK","extra":"x"`, 1), `expected ,"details"`},
		{"duplicate key", strings.Replace(line, `"outcome":"OK"`, `"outcome":"OK","outcome":"OK"`, 1), "canonical"},
		{"escaped letter", strings.Replace(line, `"outcome":"OK"`, `"outcome":"\u004fK"`, 1), "canonical"},
		{"uppercase hex", strings.Replace(line, `"prev":"ff`, `"prev":"FF`, 1), "64 lowercase hex"},
		{"time offset", strings.Replace(line, `.678Z`, `.678+00:00`, 1), "time"},
		{"no hash", strings.Replace(line, `,"hash":"`+line[len(line)-66:len(line)-2]+`"`, ``, 1), `expected ,"hash"`},
		{"version 2", strings.Replace(line, `"v":1`, `"v":2`, 1), "version"},
		{"phone in clear", strings.Replace(line, `"outcome":"OK"`, `"outcome":"+994501234567"`, 1), "phone number"},
		{"trailing data", line + ` {}`, "after the record"},
		{"too long", line[:len(line)-2] + strings.Repeat(" ", MaxLineLen) + `"}`, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseLine([]byte(tc.line))
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseLine = %v; want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+994501234567": "+99450***4567",
		"994501234567":  "+99450***4567",
		"+12345678":     "+***78",
		"+123":          "***",
		"":              "***",
		"+99450abc4567": "***",
	} {
		if got := MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

// The phone HMAC is keyed (another key gives another value) and matches
// what openssl computes from the documented definition.
func TestPhoneHMAC(t *testing.T) {
	const key, phone = "0123456789abcdef", "+994501234567"
	a := PhoneHMAC([]byte(key), phone)
	if a != "5cd426ce225d02478614d5f6fbe0f080" {
		t.Fatalf("PhoneHMAC = %s", a)
	}
	if b := PhoneHMAC([]byte("0123456789abcdeX"), phone); b == a {
		t.Fatal("another key gave the same HMAC")
	}
	testutil.RequireTools(t, "openssl")
	cmd := exec.Command("openssl", "dgst", "-sha256", "-hmac", key, "-r")
	cmd.Stdin = strings.NewReader("imzagate/audit/v1/phone\n" + phone)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out[:32]); got != a {
		t.Fatalf("openssl HMAC prefix %s, PhoneHMAC %s", got, a)
	}
}

func TestRecordLimits(t *testing.T) {
	ok := vectorRecord()
	if err := ok.validate(true); err != nil {
		t.Fatalf("vector record invalid: %v", err)
	}
	many := map[string]string{}
	for i := range MaxDetails + 1 {
		many[string(rune('a'+i))] = "x"
	}
	tests := []struct {
		name   string
		mutate func(*Record)
		want   string
	}{
		{"kind", func(r *Record) { r.Kind = "Session Start" }, "kind"},
		{"details count", func(r *Record) { r.Details = many }, "details"},
		{"detail key", func(r *Record) { r.Details = map[string]string{"msisdn": "x"} }, "personal data"},
		{"detail value", func(r *Record) { r.Details = map[string]string{"k": strings.Repeat("x", MaxDetailValueLen+1)} }, "at most"},
		{"phone in ref", func(r *Record) { r.Subject.Ref = "GET /subscribers/+994501234567" }, "phone number"},
		{"bad utf-8", func(r *Record) { r.Outcome = "\xff" }, "UTF-8"},
		{"unmasked", func(r *Record) { r.Phone.Masked = "+994501234567" }, "not masked"},
		{"bad hmac", func(r *Record) { r.Phone.HMAC = "994501234567" }, "hmac"},
		{"zero time", func(r *Record) { r.Time = time.Time{} }, "time"},
		{"chain", func(r *Record) { r.Chain = "a{b}" }, "chain id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := vectorRecord()
			tc.mutate(&r)
			if err := r.validate(true); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validate = %v; want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
}
