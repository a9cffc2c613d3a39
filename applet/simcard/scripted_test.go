package simcard

import (
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
