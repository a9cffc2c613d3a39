package applet

import "testing"

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
