package testutil

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a testing.TB that records a failure or a skip instead of
// ending the test, so the helpers' own failures can be asserted.
type recorder struct {
	testing.TB
	failed, skipped string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
	panic(r)
}
func (r *recorder) Fatal(args ...any) {
	r.failed = args[0].(string)
	panic(r)
}
func (r *recorder) Skip(args ...any) {
	r.skipped = args[0].(string)
	panic(r)
}

// run calls f with r, recovering the panic that stands for Goexit.
func (r *recorder) run(f func(testing.TB)) {
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
	}()
	f(r)
}

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	var n atomic.Int32
	start := time.Now()
	Eventually(t, 5*time.Second, "the third call", func() bool { return n.Add(1) >= 3 })
	if n.Load() != 3 {
		t.Fatalf("cond called %d times, want 3", n.Load())
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("Eventually waited long past the condition")
	}
}

func TestEventuallyFailsAtTheDeadline(t *testing.T) {
	r := &recorder{TB: t}
	start := time.Now()
	r.run(func(tb testing.TB) { Eventually(tb, 30*time.Millisecond, "never", func() bool { return false }) })
	if r.failed == "" {
		t.Fatal("Eventually did not fail on a condition that never holds")
	}
	if time.Since(start) < 30*time.Millisecond {
		t.Fatal("Eventually failed before its deadline")
	}
}

func TestRequireTools(t *testing.T) {
	RequireTools(t, "sh") // present everywhere the tests run
	t.Setenv("CI", "")
	r := &recorder{TB: t}
	r.run(func(tb testing.TB) { RequireTools(tb, "sh", "no-such-tool-imzagate") })
	if !strings.Contains(r.skipped, "no-such-tool-imzagate") || r.failed != "" {
		t.Fatalf("outside CI a missing tool skips: skipped %q failed %q", r.skipped, r.failed)
	}
	t.Setenv("CI", "true")
	r = &recorder{TB: t}
	r.run(func(tb testing.TB) { RequireTools(tb, "no-such-tool-imzagate") })
	if !strings.Contains(r.failed, "no-such-tool-imzagate") || r.skipped != "" {
		t.Fatalf("in CI a missing tool fails: skipped %q failed %q", r.skipped, r.failed)
	}
}
