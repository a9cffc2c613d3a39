package simstack

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Delay is a distribution of how long simulated users take to answer.
// The zero value answers at once.
type Delay struct {
	// Kind is "fixed" (or empty), "uniform" (Min..Max) or "exp"
	// (exponential with mean Min, capped at MaxDelay).
	Kind     string
	Min, Max time.Duration
}

// MaxDelay is the longest answer a simulated user may take; the applet's
// own timeout (255 s at most) ends anything longer.
const MaxDelay = 255 * time.Second

// FixedDelay is a delay every user takes alike.
func FixedDelay(d time.Duration) Delay { return Delay{Kind: "fixed", Min: d, Max: d} }

// ParseDelay reads "0", a duration, "uniform:MIN-MAX" or "exp:MEAN", each
// within 0..MaxDelay.
func ParseDelay(s string) (Delay, error) {
	bad := func() (Delay, error) {
		return Delay{}, fmt.Errorf("delay %q: want 0, a duration, uniform:MIN-MAX or exp:MEAN, each up to %v", s, MaxDelay)
	}
	dur := func(v string) (time.Duration, bool) {
		if v == "0" {
			return 0, true
		}
		d, err := time.ParseDuration(v)
		return d, err == nil && d >= 0 && d <= MaxDelay
	}
	kind, rest, ok := strings.Cut(s, ":")
	switch {
	case !ok:
		d, ok := dur(s)
		if !ok {
			return bad()
		}
		return FixedDelay(d), nil
	case kind == "uniform":
		lo, hi, ok := strings.Cut(rest, "-")
		a, ok1 := dur(lo)
		b, ok2 := dur(hi)
		if !ok || !ok1 || !ok2 || b < a {
			return bad()
		}
		return Delay{Kind: "uniform", Min: a, Max: b}, nil
	case kind == "exp":
		m, ok := dur(rest)
		if !ok || m == 0 {
			return bad()
		}
		return Delay{Kind: "exp", Min: m, Max: m}, nil
	}
	return bad()
}

// String formats d the way ParseDelay reads it.
func (d Delay) String() string {
	switch d.Kind {
	case "uniform":
		return "uniform:" + d.Min.String() + "-" + d.Max.String()
	case "exp":
		return "exp:" + d.Min.String()
	}
	return d.Min.String()
}

// Sample draws one delay; u is uniform in [0, 1).
func (d Delay) Sample(u float64) time.Duration {
	switch d.Kind {
	case "uniform":
		return d.Min + time.Duration(u*float64(d.Max-d.Min))
	case "exp":
		v := time.Duration(-math.Log(1-u) * float64(d.Min))
		return min(v, MaxDelay)
	}
	return d.Min
}

// At is SIM i's delay: a draw fixed by i, the same on every run.
func (d Delay) At(i int) time.Duration { return d.Sample(unitFloat(i)) }

// unitFloat maps i to a fixed pseudo-random number in [0, 1)
// (SplitMix64's finaliser over a Weyl step).
func unitFloat(i int) float64 {
	x := uint64(i)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	x ^= x >> 30
	x *= 0xBF58476D1CE4E5B9
	x ^= x >> 27
	x *= 0x94D049BB133111EB
	x ^= x >> 31
	return float64(x>>11) / (1 << 53)
}
