package applet

import (
	"bytes"
	"strings"
	"testing"
)

// TestRandomMasterKeys: four distinct keys per call, none left zero, and a
// new set on every call (a helper that returned a constant would pass any
// test that only derives and seals with it).
func TestRandomMasterKeys(t *testing.T) {
	a, b := RandomMasterKeys(), RandomMasterKeys()
	if a == b {
		t.Fatal("two calls gave the same master keys")
	}
	var zero [16]byte
	keys := [][16]byte{a.KIc, a.KID, a.KIcMO, a.KIDMO}
	seen := map[[16]byte]bool{}
	for i, k := range keys {
		if k == zero {
			t.Fatalf("key %d left zero", i)
		}
		if seen[k] {
			t.Fatalf("key %d repeats another of the set", i)
		}
		seen[k] = true
	}
}

func TestFormatMasterKeysExact(t *testing.T) {
	var m MasterKeys
	for i := range 16 {
		m.KIc[i], m.KID[i], m.KIcMO[i], m.KIDMO[i] = byte(i), byte(0x10+i), byte(0x20+i), byte(0xF0+i)
	}
	want := "# OTA master keys (AES-128). Secret: readable by the gateway only.\n" +
		"KIc=000102030405060708090A0B0C0D0E0F\n" +
		"KID=101112131415161718191A1B1C1D1E1F\n" +
		"KIc-MO=202122232425262728292A2B2C2D2E2F\n" +
		"KID-MO=F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF\n"
	if got := string(FormatMasterKeys(m)); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	back, err := ParseMasterKeys([]byte(want))
	if err != nil || back != m {
		t.Fatalf("round trip: %v", err)
	}
}

func TestParseMasterKeys(t *testing.T) {
	const k = "00112233445566778899aabbccddeeff"
	full := "KIc=" + k + "\nKID=" + k + "\nKIc-MO=" + k + "\nKID-MO=" + k + "\n"
	tests := []struct {
		name, in, err string
	}{
		{"lower-case hex, comments, blank lines", "# keys\n\n" + full, ""},
		{"names as the variables spell them", "KIC=" + k + "\nkid=" + k + "\nKIC_MO=" + k + "\nKID_MO = " + k + "\n", ""},
		{"CRLF line ends", strings.ReplaceAll(full, "\n", "\r\n"), ""},
		{"missing keys", "KIc=" + k + "\n", "KID, KIc-MO, KID-MO missing"},
		{"not NAME=value", "KIc " + k + "\n", "line 1: want NAME=<32 hex digits>"},
		{"unknown name", full + "KIK=" + k + "\n", `line 5: unknown key "KIK"`},
		{"twice", full + "KID=" + k + "\n", "line 5: KID appears twice"},
		{"short key", "KIc=0011\n", "line 1: KIc must be 32 hex digits"},
		{"not hex", "KIc=" + strings.Repeat("zz", 16) + "\n", "line 1: KIc must be 32 hex digits"},
		{"too large", strings.Repeat("#", maxMasterKeysFile+1), "larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMasterKeys([]byte(tt.in))
			if tt.err == "" {
				if err != nil || m.KIDMO[15] != 0xff {
					t.Fatalf("%v %x", err, m.KIDMO)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err %v, want %q", err, tt.err)
			}
			if strings.Contains(strings.ToLower(err.Error()), "00112233") {
				t.Fatalf("error shows key material: %v", err)
			}
		})
	}
}

func FuzzParseMasterKeys(f *testing.F) {
	f.Add(FormatMasterKeys(GenerateMasterKeys()))
	f.Add([]byte("KIc=00\nKID=zz\n"))
	f.Add([]byte("# only a comment\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMasterKeys(data)
		if err != nil {
			return
		}
		// Whatever parses, formats to a file that parses to the same keys.
		back, err := ParseMasterKeys(FormatMasterKeys(m))
		if err != nil || back != m {
			t.Fatalf("round trip of %q: %v", data, err)
		}
		if !bytes.Contains(FormatMasterKeys(m), []byte("KID-MO=")) {
			t.Fatal("format lacks a key")
		}
	})
}
