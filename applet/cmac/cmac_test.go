package cmac

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 4493 §4 examples (AES-128) and NIST SP 800-38B appendix D examples
// for AES-192 and AES-256.
func TestVectors(t *testing.T) {
	const msg = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
	k128 := "2b7e151628aed2a6abf7158809cf4f3c"
	k192 := "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b"
	k256 := "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4"
	tests := []struct {
		name, key string
		n         int
		want      string
	}{
		{"rfc4493-ex1-empty", k128, 0, "bb1d6929e95937287fa37d129b756746"},
		{"rfc4493-ex2-16", k128, 16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{"rfc4493-ex3-40", k128, 40, "dfa66747de9ae63030ca32611497c827"},
		{"rfc4493-ex4-64", k128, 64, "51f0bebf7e3b9d92fc49741779363cfe"},
		{"sp800-38b-aes192-empty", k192, 0, "d17ddf46adaacde531cac483de7a9367"},
		{"sp800-38b-aes192-40", k192, 40, "8a1de5be2eb31aad089a82e6ee908b0e"},
		{"sp800-38b-aes256-16", k256, 16, "28a7023f452e8f82bd4bf28d8c37c35c"},
		{"sp800-38b-aes256-64", k256, 64, "e1992190549f6ed5696a2c056c315410"},
	}
	m := unhex(t, msg)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(unhex(t, tt.key))
			if err != nil {
				t.Fatal(err)
			}
			got := c.MAC(m[:tt.n])
			if want := unhex(t, tt.want); !bytes.Equal(got, want) {
				t.Fatalf("MAC = %x, want %x", got, want)
			}
			if !c.Verify(got[:8], m[:tt.n]) || !c.Verify(got[:4], m[:tt.n]) {
				t.Fatal("Verify rejected a truncated good tag")
			}
			bad := bytes.Clone(got[:8])
			bad[7] ^= 1
			if c.Verify(bad, m[:tt.n]) {
				t.Fatal("Verify accepted a bad tag")
			}
		})
	}
}

func TestSubkeys(t *testing.T) {
	// RFC 4493 §4 "Subkey Generation".
	c, err := New(unhex(t, "2b7e151628aed2a6abf7158809cf4f3c"))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(c.k1[:]); got != "fbeed618357133667c85e08f7236a8de" {
		t.Errorf("K1 = %s", got)
	}
	if got := hex.EncodeToString(c.k2[:]); got != "f7ddac306ae266ccf90bc11ee46d513b" {
		t.Errorf("K2 = %s", got)
	}
}

func TestBadInput(t *testing.T) {
	if _, err := New(make([]byte, 15)); err == nil {
		t.Error("New accepted a 15-octet key")
	}
	c, _ := New(make([]byte, 16))
	if c.Verify(nil, nil) || c.Verify(make([]byte, 17), nil) {
		t.Error("Verify accepted an empty or over-long tag")
	}
}

func TestSumAllocs(t *testing.T) {
	c, _ := New(make([]byte, 16))
	msg := make([]byte, 100)
	out := make([]byte, 16)
	if n := testing.AllocsPerRun(100, func() { c.Sum(out, msg) }); n != 0 {
		t.Fatalf("Sum allocates %v times", n)
	}
}

func BenchmarkSum100(b *testing.B) {
	c, _ := New(make([]byte, 16))
	msg := make([]byte, 100)
	out := make([]byte, 16)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		c.Sum(out, msg)
	}
}

func ExampleCMAC_Sum() {
	key, _ := hex.DecodeString("2b7e151628aed2a6abf7158809cf4f3c")
	msg, _ := hex.DecodeString("6bc1bee22e409f96e93d7e117393172a")
	c, _ := New(key)
	tag := make([]byte, Size)
	c.Sum(tag, msg)
	fmt.Printf("%x\n", tag[:8])
	// Output: 070a16b46b4d4144
}
