package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCompareHelpAndUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"compare", "--help"}, &out, &errOut); code != 0 {
		t.Fatalf("compare --help exited %d", code)
	}
	help := errOut.String()
	for _, want := range []string{"usage: imzabench compare", "Kannel", "submit_sm", "-concurrency", "-pairs", "-run", "-warmup",
		"-window", "-phones", "-kannel-dlr", "-imzagate", "-full-session", "ECDSA P-256"} {
		if !strings.Contains(help, want) {
			t.Errorf("compare --help lacks %q", want)
		}
	}
	out.Reset()
	errOut.Reset()
	if code := run(t.Context(), []string{"--help"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "imzabench compare") {
		t.Errorf("imzabench --help does not mention the compare mode (exit %d)", code)
	}
	for _, args := range [][]string{{"compare", "extra"}, {"compare", "--nope"}, {"compare", "--full-session", "-1s"}} {
		errOut.Reset()
		if code := run(t.Context(), args, &out, &errOut); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errOut.String())
		}
	}
}
