package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Build stamps, set by `make image` and `make release` with
// -ldflags "-X main.version=v1.2.3 -X main.commit=<sha> -X main.date=<RFC 3339>".
// A plain `go build` leaves them empty and the Go toolchain's VCS build
// information fills in what it knows (revision, commit time, modified tree).
var (
	version = ""
	commit  = ""
	date    = ""
)

// buildStamp is what `imzagate version` reports.
type buildStamp struct {
	Version  string // release version, or the module version, or "(devel)"
	Commit   string // full commit hash, or "unknown"
	Modified bool   // built from a tree with uncommitted changes (VCS fallback only)
	Date     string // the commit's time, RFC 3339 UTC, or "unknown"
	Go       string // toolchain that built the binary
}

// resolveStamp prefers the -X stamps and falls back to the build info.
func resolveStamp(version, commit, date string, bi *debug.BuildInfo) buildStamp {
	s := buildStamp{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if bi != nil {
		s.Go = bi.GoVersion
		if s.Version == "" && bi.Main.Version != "" {
			s.Version = bi.Main.Version
		}
		var rev, at, modified string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.time":
				at = kv.Value
			case "vcs.modified":
				modified = kv.Value
			}
		}
		if s.Commit == "" && rev != "" {
			s.Commit, s.Modified = rev, modified == "true"
		}
		if s.Date == "" {
			s.Date = at
		}
	}
	if s.Version == "" {
		s.Version = "(devel)"
	}
	if s.Commit == "" {
		s.Commit = "unknown"
	}
	if s.Date == "" {
		s.Date = "unknown"
	}
	return s
}

// write prints the stamp: the first line is "imzagate VERSION", so
// `imzagate version | head -1` is what a script compares.
func (s buildStamp) write(w io.Writer) {
	fmt.Fprintf(w, "imzagate %s\n", s.Version)
	modified := ""
	if s.Modified {
		modified = " (modified)"
	}
	fmt.Fprintf(w, "  commit  %s%s\n", s.Commit, modified)
	fmt.Fprintf(w, "  date    %s\n", s.Date)
	fmt.Fprintf(w, "  go      %s %s/%s\n", s.Go, runtime.GOOS, runtime.GOARCH)
}

// runVersion is `imzagate version`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintln(stderr, "usage: imzagate version")
		return 2
	}
	bi, _ := debug.ReadBuildInfo()
	resolveStamp(version, commit, date, bi).write(stdout)
	return 0
}
