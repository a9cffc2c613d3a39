package testutil

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pollInterval is how often Eventually re-checks: short enough that tests
// wait little past the moment the condition holds, long enough not to
// spin a core the code under test needs.
const pollInterval = 5 * time.Millisecond

// Eventually calls cond until it returns true, and fails t when it has
// not after d. what names the awaited condition in the failure.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(pollInterval)
	}
}

// InCI reports whether the tests run in CI (the CI variable is set), where
// every tool the tests use must be present.
func InCI() bool { return os.Getenv("CI") != "" }

// RequireTools skips t when one of the named programs is not on PATH, or
// fails it in CI.
func RequireTools(t testing.TB, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := strings.Join(missing, ", ") + " not installed (make deps installs the tools the tests run)"
	if InCI() {
		t.Fatal(msg + "; CI is set, so a missing tool is a failure")
	}
	t.Skip(msg)
}
