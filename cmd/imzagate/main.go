package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// subcommand runs with the arguments after its name and returns the exit
// status.
type subcommand struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

// subcommands maps a name to its implementation; add new ones here.
func subcommands() map[string]subcommand {
	return map[string]subcommand{
		"asic":      {summary: "pack an ASiC-E container from the gateway's manifest and signature and the documents", run: runASiC},
		"ota":       {summary: "seal or open OTA secured packets (debugging)", run: runOTA},
		"serve":     {summary: "run the gateway from a configuration file", run: runServe},
		"demo":      {summary: "run the all-in-one demo (embedded Redis, simulated operator and SIMs)", run: runDemo},
		"provision": {summary: "import subscribers and certificates into Redis", run: runProvision},
		"version":   {summary: "print the version", run: runVersion},
		"admin":     {summary: "call the admin API: subscribers, certificates, sessions, audit, usage", run: runAdmin},
		"audit":     {summary: "verify an exported audit trail offline (audit verify FILE)", run: runAudit},
		"config":    {summary: "check a configuration file: every problem at once (config check FILE)", run: runConfig},
		"secrets":   {summary: "generate the secrets a new installation needs (secrets generate --out DIR)", run: runSecrets},
		"smoke":     {summary: "run one login (and a signature) against a running gateway and verify it", run: runSmoke},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand; 2 is a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	cmds := subcommands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "imzagate: unknown subcommand %q\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]subcommand) {
	fmt.Fprintln(w, "usage: imzagate <subcommand> [arguments]")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
}
