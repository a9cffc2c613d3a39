package smpp

import (
	"testing"
	"time"
)

func TestBackoffAndJitter(t *testing.T) {
	b, max := time.Second, 60*time.Second
	var seq []time.Duration
	for range 8 {
		seq = append(seq, b)
		b = nextBackoff(b, max)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i := range want {
		if seq[i] != want[i]*time.Second {
			t.Fatalf("backoff sequence %v", seq)
		}
	}
	seen := map[time.Duration]bool{}
	for range 1000 {
		j := jitter(10 * time.Second)
		if j < 5*time.Second || j > 10*time.Second {
			t.Fatalf("jitter %v outside [5s, 10s]", j)
		}
		seen[j/time.Second] = true
	}
	if len(seen) < 4 {
		t.Errorf("jitter barely varies: %v", seen)
	}
}
