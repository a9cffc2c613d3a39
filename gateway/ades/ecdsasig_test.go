package ades

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Byte-exact vectors, worked out by hand from X.690 §8.3: minimal INTEGERs,
// a 00 octet where the magnitude's high bit is set.
var ecdsaVectors = []struct {
	name, raw, der string
}{
	{"small r and s",
		strings.Repeat("00", 31) + "01" + strings.Repeat("00", 31) + "7f",
		"3006 020101 02017f"},
	{"high bit needs a zero octet, leading zeros dropped",
		strings.Repeat("00", 31) + "80" + strings.Repeat("00", 30) + "0100",
		"3008 02020080 02020100"},
	{"full-size r with the high bit, s without",
		"80" + strings.Repeat("00", 31) + "7f" + strings.Repeat("ff", 31),
		"3045 022100 80" + strings.Repeat("00", 31) + " 0220 7f" + strings.Repeat("ff", 31)},
	{"both full-size with the high bit (the longest form, 72 octets)",
		strings.Repeat("ff", 64),
		"3046 022100" + strings.Repeat("ff", 32) + " 022100" + strings.Repeat("ff", 32)},
}

func TestRawToDERVectors(t *testing.T) {
	for _, v := range ecdsaVectors {
		raw, want := mustHex(t, v.raw), mustHex(t, v.der)
		got, err := RawToDER(raw)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: RawToDER = %x, %v; want %x", v.name, got, err, want)
		}
		back, err := DERToRaw(want)
		if err != nil || !bytes.Equal(back, raw) {
			t.Errorf("%s: DERToRaw = %x, %v; want %x", v.name, back, err, raw)
		}
	}
}

func TestRawToDERRejects(t *testing.T) {
	for name, raw := range map[string][]byte{
		"63 octets": make([]byte, 63),
		"65 octets": make([]byte, 65),
		"r zero":    append(make([]byte, 32), bytes.Repeat([]byte{1}, 32)...),
		"s zero":    append(bytes.Repeat([]byte{1}, 32), make([]byte, 32)...),
	} {
		if _, err := RawToDER(raw); !errors.Is(err, ErrSignatureValue) {
			t.Errorf("%s: err = %v, want ErrSignatureValue", name, err)
		}
	}
}

func TestDERToRawRejects(t *testing.T) {
	for name, der := range map[string]string{
		"non-minimal INTEGER":        "3007 02020001 020101",
		"negative r":                 "3006 020180 020101",
		"zero s":                     "3006 020101 020100",
		"33-octet magnitude":         "3026 022101" + strings.Repeat("00", 32) + " 020101",
		"trailing data":              "3006 020101 020101 00",
		"data after s":               "3009 020101 020101 020101",
		"missing s":                  "3003 020101",
		"long-form length for short": "308106 020101 020101",
		"empty INTEGER":              "3005 0200 020101",
		"not a SEQUENCE":             "3106 020101 020101",
		"empty":                      "",
	} {
		if _, err := DERToRaw(mustHex(t, der)); !errors.Is(err, ErrSignatureValue) {
			t.Errorf("%s: err = %v, want ErrSignatureValue", name, err)
		}
	}
}

// TestDERMatchesStandardLibrary checks the codec against two other
// encoders: encoding/asn1 of SEQUENCE { INTEGER, INTEGER } and the DER
// that crypto/ecdsa.SignASN1 produces.
func TestDERMatchesStandardLibrary(t *testing.T) {
	key := newKey(t)
	for i := range 200 {
		raw := make([]byte, 64)
		if _, err := rand.Read(raw); err != nil {
			t.Fatal(err)
		}
		// Leading zero octets of varying length in r and s.
		clear(raw[:i%9])
		clear(raw[32 : 32+i%7])
		want, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := RawToDER(raw); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("RawToDER(%x) = %x, %v; encoding/asn1 gives %x", raw, got, err, want)
		}
		sig, err := ecdsa.SignASN1(rand.Reader, key, raw[:32])
		if err != nil {
			t.Fatal(err)
		}
		r, err := DERToRaw(sig)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := RawToDER(r); !bytes.Equal(again, sig) {
			t.Fatalf("round trip of %x gave %x", sig, again)
		}
	}
}
