package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func vcsInfo(rev, at, modified string) *debug.BuildInfo {
	return &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/imzagate/imzagate", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: at},
			{Key: "vcs.modified", Value: modified},
		},
	}
}

func TestVersionStampsTakePrecedence(t *testing.T) {
	bi := vcsInfo("1111111111111111111111111111111111111111", "2020-01-01T00:00:00Z", "true")
	got := resolveStamp("v1.2.3", "2222222222222222222222222222222222222222", "2026-11-22T16:26:51Z", bi)
	want := buildStamp{Version: "v1.2.3", Commit: "2222222222222222222222222222222222222222",
		Date: "2026-11-22T16:26:51Z", Go: "go1.26.0"}
	if got != want {
		t.Fatalf("resolveStamp = %+v, want %+v", got, want)
	}
}

func TestVersionFallsBackToVCSBuildInfo(t *testing.T) {
	bi := vcsInfo("3333333333333333333333333333333333333333", "2026-11-01T10:00:00Z", "true")
	got := resolveStamp("", "", "", bi)
	want := buildStamp{Version: "(devel)", Commit: "3333333333333333333333333333333333333333", Modified: true,
		Date: "2026-11-01T10:00:00Z", Go: "go1.26.0"}
	if got != want {
		t.Fatalf("resolveStamp = %+v, want %+v", got, want)
	}
	// A module version (go install ...@v1.0.0) is a version too; a stamped
	// commit is never marked modified by the build's VCS state.
	bi.Main.Version = "v1.0.0"
	got = resolveStamp("", "4444444444444444444444444444444444444444", "", bi)
	if got.Version != "v1.0.0" || got.Modified || got.Commit != "4444444444444444444444444444444444444444" {
		t.Fatalf("resolveStamp = %+v", got)
	}
}

func TestVersionWithoutAnyInformation(t *testing.T) {
	got := resolveStamp("", "", "", nil)
	if got.Version != "(devel)" || got.Commit != "unknown" || got.Date != "unknown" || got.Go != runtime.Version() {
		t.Fatalf("resolveStamp = %+v", got)
	}
}

func TestVersionOutput(t *testing.T) {
	var b bytes.Buffer
	buildStamp{Version: "v1.2.3", Commit: "abc", Modified: true, Date: "2026-11-22T16:26:51Z", Go: "go1.26.0"}.write(&b)
	want := "imzagate v1.2.3\n" +
		"  commit  abc (modified)\n" +
		"  date    2026-11-22T16:26:51Z\n" +
		"  go      go1.26.0 " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if b.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestVersionStampedBinary builds the command with the -X flags the
// Makefile uses and runs `imzagate version`: a renamed variable would make
// the linker ignore the flag silently.
func TestVersionStampedBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "imzagate")
	const commitHash = "0123456789abcdef0123456789abcdef01234567"
	ldflags := "-X main.version=v9.8.7-rc.1 -X main.commit=" + commitHash + " -X main.date=2026-11-22T16:26:51Z"
	build := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", bin, ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatalf("imzagate version: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	want := []string{
		"imzagate v9.8.7-rc.1",
		"  commit  " + commitHash,
		"  date    2026-11-22T16:26:51Z",
	}
	if len(lines) != 4 || strings.Join(lines[:3], "\n") != strings.Join(want, "\n") ||
		!strings.HasPrefix(lines[3], "  go      go1.") {
		t.Fatalf("imzagate version printed:\n%s", out)
	}
}
