package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module and VCS information of the build is shown.
var version = ""

// runVersion is `imzagate version`.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) != 0 {
		fmt.Fprintln(stderr, "usage: imzagate version")
		return 2
	}
	v, rev, dirty, goVer := version, "", "", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVer = bi.GoVersion
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	fmt.Fprintf(stdout, "imzagate %s", v)
	if rev != "" {
		fmt.Fprintf(stdout, " %s%s", rev, dirty)
	}
	fmt.Fprintf(stdout, " %s\n", goVer)
	return 0
}
