package simcard

import (
	"fmt"
	"testing"

	"github.com/imzagate/imzagate/applet"
)

// FuzzHandleMT: whatever arrives from the network, a card never panics and
// answers, if at all, with user data that fits an SMS.
func FuzzHandleMT(f *testing.F) {
	farm, err := New(Options{Cards: 1, Master: master, Behaviour: func(int) Behaviour { return Behaviour{Action: NoAnswer} }})
	if err != nil {
		f.Fatal(err)
	}
	c := farm.Card(0)
	keys, _ := applet.DeriveCardKeys(master, c.ICCID())
	cmd := command(applet.OpAuthenticate, 1, sum256("x"))
	segs, _ := applet.SealCommand(keys, 1, &cmd, 0)
	f.Add(segs[0])
	f.Add([]byte{2, 0x70, 0, 0, 0x0d, 0x0d, 0x16, 0x3a, 0x12, 0x12, 0xa5, 0x10, 0x01, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		err := farm.HandleMT(c.MSISDN(), in, func(ud []byte) {
			// Replies arrive on another goroutine, possibly after this
			// input's run: a panic is the one report that cannot be lost.
			if len(ud) > 140 {
				panic(fmt.Sprintf("reply of %d octets", len(ud)))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
