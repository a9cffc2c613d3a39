package simcard

import (
	"fmt"
	"time"
)

// DemoSeed is the seed of the demo's farm and of the simulated operator's
// by default: the same seed gives the same numbers, User IDs and keys, so
// documentation can name a phone number and User ID to try (card 0 is
// +994501000000 with User ID 437234).
const DemoSeed = "imzagate-demo"

// DemoMix scripts card i the way the demo and the simulated operator do,
// by i mod 10: 0–5 approve after delay, 6 cancels, 7 mistypes the PIN once
// and then approves, 8 mistypes it until it blocks, 9 never answers. Card 0
// therefore approves.
func DemoMix(delay time.Duration) func(i int) Behaviour {
	return func(i int) Behaviour {
		switch i % 10 {
		case 6:
			return Behaviour{Action: Cancel, Delay: delay}
		case 7:
			return Behaviour{Action: WrongPIN, Delay: delay, WrongTimes: 1}
		case 8:
			return Behaviour{Action: WrongPIN, Delay: delay, WrongTimes: PINTries}
		case 9:
			return Behaviour{Action: NoAnswer}
		}
		return Behaviour{Action: Approve, Delay: delay}
	}
}

// Label names a scripted user for lists of test users: approve, cancel,
// wrong-pin-1x-then-approve, wrong-pin-until-blocked, no-answer.
func (b Behaviour) Label() string {
	switch {
	case b.Action == WrongPIN && b.WrongTimes >= PINTries:
		return "wrong-pin-until-blocked"
	case b.Action == WrongPIN:
		return fmt.Sprintf("wrong-pin-%dx-then-approve", b.WrongTimes)
	}
	return b.Action.String()
}
