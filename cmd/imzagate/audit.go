package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/audit"
)

// runAudit is `imzagate audit verify --public-key KEY FILE`: verify an
// export of the audit trail offline, with the audit key's public half only
// (docs/audit.md). Exit 0 when it verifies, 9 when it does not (the report
// names the first broken link), 1 when the file cannot be read, 2 on
// wrong arguments.
func runAudit(args []string, stdout, stderr io.Writer) int {
	const usage = "usage: imzagate audit verify --public-key FILE|HEX EXPORT (\"-\" reads standard input)"
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keyArg := fs.String("public-key", "", "the audit key's public half: a PEM file (openssl pkey -pubout) or 64 hex digits")
	if err := fs.Parse(args[1:]); err != nil {
		return exitUsage
	}
	if *keyArg == "" || fs.NArg() != 1 {
		fmt.Fprintln(stderr, usage)
		return exitUsage
	}
	keyText := *keyArg
	if b, err := os.ReadFile(*keyArg); err == nil {
		keyText = string(b)
	} else if strings.ContainsAny(*keyArg, "/.") {
		fmt.Fprintln(stderr, "imzagate audit verify: public key file:", err)
		return exitFailure
	}
	pub, err := gateway.ParseAuditPublicKey(keyText)
	if err != nil {
		fmt.Fprintln(stderr, "imzagate audit verify: public key:", err)
		return exitUsage
	}
	var in io.Reader = os.Stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(stderr, "imzagate audit verify:", err)
			return exitFailure
		}
		defer f.Close()
		in = f
	}
	switch err := audit.VerifyFileReport(stdout, in, pub); {
	case err == nil:
		return exitOK
	case errors.Is(err, audit.ErrBroken):
		return exitBroken
	default:
		fmt.Fprintln(stderr, "imzagate audit verify:", err)
		return exitFailure
	}
}
