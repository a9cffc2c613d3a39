package simstack

import (
	"testing"
	"time"
)

func TestParseDelay(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		u       float64
		want    time.Duration
		wantErr bool
	}{
		{"zero", "0", 0.5, 0, false},
		{"fixed", "1.5s", 0.9, 1500 * time.Millisecond, false},
		{"uniform middle", "uniform:1s-3s", 0.5, 2 * time.Second, false},
		{"uniform low", "uniform:100ms-200ms", 0, 100 * time.Millisecond, false},
		{"exp median", "exp:1s", 0.5, 693147180 * time.Nanosecond, false},
		{"exp capped", "exp:100s", 0.999999, MaxDelay, false},
		{"reversed", "uniform:3s-1s", 0, 0, true},
		{"negative", "-1s", 0, 0, true},
		{"too long", "300s", 0, 0, true},
		{"exp zero", "exp:0", 0, 0, true},
		{"unknown kind", "normal:1s", 0, 0, true},
		{"word", "soon", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseDelay(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDelay(%q) error %v", tt.in, err)
			}
			if err != nil {
				return
			}
			if got := d.Sample(tt.u); got < tt.want-time.Microsecond || got > tt.want+time.Microsecond {
				t.Errorf("Sample(%v) = %v, want %v", tt.u, got, tt.want)
			}
		})
	}
}

// TestDelayAt: SIM i's delay is fixed by i (the same on every run), the
// draws spread over the range, and the zero Delay answers at once.
func TestDelayAt(t *testing.T) {
	d := Delay{Kind: "uniform", Min: time.Second, Max: 3 * time.Second}
	var below, above int
	for i := range 1000 {
		v := d.At(i)
		if v != d.At(i) || v < d.Min || v >= d.Max {
			t.Fatalf("At(%d) = %v", i, v)
		}
		if v < 2*time.Second {
			below++
		} else {
			above++
		}
	}
	if below < 400 || above < 400 {
		t.Fatalf("draws not spread: %d below the middle, %d above", below, above)
	}
	if (Delay{}).At(7) != 0 || FixedDelay(time.Second).At(7) != time.Second {
		t.Fatal("zero or fixed delay varies")
	}
	if unitFloat(1) == unitFloat(2) {
		t.Fatal("unitFloat is constant")
	}
}

func FuzzParseDelay(f *testing.F) {
	for _, s := range []string{"0", "250ms", "uniform:1s-3s", "exp:2s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDelay(s)
		if err != nil {
			return
		}
		again, err := ParseDelay(d.String())
		if err != nil || again != d {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, d, d.String(), again, err)
		}
		for _, u := range []float64{0, 0.5, 0.999999} {
			if v := d.Sample(u); v < 0 || v > MaxDelay {
				t.Fatalf("Sample(%v) = %v out of range", u, v)
			}
		}
	})
}
