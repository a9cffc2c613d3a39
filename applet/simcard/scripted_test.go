package simcard

import (
	"bytes"
	"crypto/x509"
	"testing"
	"time"
)

// TestDemoMix: the scripted users by index, as the demo page and the
// README describe them, and their labels.
func TestDemoMix(t *testing.T) {
	mix := DemoMix(3 * time.Second)
	want := map[int]string{0: "approve", 5: "approve", 6: "cancel", 7: "wrong-pin-1x-then-approve",
		8: "wrong-pin-until-blocked", 9: "no-answer", 10: "approve", 16: "cancel", 29: "no-answer"}
	for i, label := range want {
		if got := mix(i).Label(); got != label {
			t.Errorf("card %d: %s, want %s", i, got, label)
		}
	}
	if b := mix(0); b.Action != Approve || b.Delay != 3*time.Second {
		t.Errorf("card 0: %+v", b)
	}
	if b := mix(8); b.WrongTimes != PINTries {
		t.Errorf("card 8 mistypes %d times, want %d (a blocked PIN)", b.WrongTimes, PINTries)
	}
	// The demo's seed makes card 0 the user the README names.
	f, err := New(Options{Cards: 1, Seed: []byte(DemoSeed)})
	if err != nil {
		t.Fatal(err)
	}
	if c := f.Card(0); c.MSISDN() != "994501000000" || c.UserID() != "437234" {
		t.Fatalf("card 0 is %s / %s", c.MSISDN(), c.UserID())
	}
}

// TestSameSeedSameKeys: two farms of one seed hold the same keys, the CA's
// included, so a simulated operator restarted with its seed answers for the
// certificates an earlier run exported (the README relies on it).
func TestSameSeedSameKeys(t *testing.T) {
	a, _ := New(Options{Cards: 3, Seed: []byte(DemoSeed)})
	b, _ := New(Options{Cards: 3, Seed: []byte(DemoSeed)})
	for i := range 3 {
		ra, err := a.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := b.Record(i)
		for k := range ra.Certificates {
			xa, _ := x509.ParseCertificate(ra.Certificates[k].DER)
			xb, _ := x509.ParseCertificate(rb.Certificates[k].DER)
			if !bytes.Equal(xa.RawSubjectPublicKeyInfo, xb.RawSubjectPublicKeyInfo) {
				t.Fatalf("card %d certificate %d: another key", i, k)
			}
			if err := xa.CheckSignatureFrom(b.CA().Certificate()); err != nil {
				t.Fatalf("card %d certificate %d does not verify under the other run's CA: %v", i, k, err)
			}
		}
	}
}
