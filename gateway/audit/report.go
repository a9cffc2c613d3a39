package audit

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
)

// WriteText prints the report for a person: the verdict and first broken
// link, then every chain, every break and every notice.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	verdict := "OK"
	if !r.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(bw, "audit trail: %s\n", verdict)
	fmt.Fprintf(bw, "records: %d in %d chains; exports sealed: %d\n", r.Records, len(r.Chains), r.Seals)
	if b := r.Err(); b != nil {
		fmt.Fprintf(bw, "first broken link: %s\n", b.Error())
	}
	if len(r.Chains) > 0 {
		fmt.Fprintf(bw, "\nchains:\n")
	}
	for _, c := range r.Chains {
		state := "open"
		if c.Final {
			state = "closed"
		}
		if c.Broken {
			state = "BROKEN"
		}
		fmt.Fprintf(bw, "  %-48s %-6s records %-7d last seq %-7d checkpoints %-5d last checkpoint %d\n",
			c.ID, state, c.Records, c.LastSeq, c.Checkpoints, c.LastCheckpoint)
	}
	if len(r.Breaks) > 0 {
		fmt.Fprintf(bw, "\nbroken links (first of each chain):\n")
		for _, b := range r.Breaks {
			fmt.Fprintf(bw, "  %s\n", b.Error())
		}
	}
	if len(r.Notices) > 0 {
		fmt.Fprintf(bw, "\nnotices (not tampering):\n")
		for _, n := range r.Notices {
			fmt.Fprintf(bw, "  %s\n", n)
		}
	}
	if r.dropped > 0 {
		fmt.Fprintf(bw, "\n(%d further breaks or notices not listed)\n", r.dropped)
	}
	return bw.Flush()
}

// VerifyFileReport verifies an export read from in with pub and prints the
// report to out: the body of `imzagate audit verify FILE`. It returns nil
// only when the file verified, a *Break (matching ErrBroken) for a broken
// trail, or the error that stopped reading.
func VerifyFileReport(out io.Writer, in io.Reader, pub ed25519.PublicKey) error {
	rep, err := VerifyFile(in, pub)
	if rep == nil {
		return err
	}
	if werr := rep.WriteText(out); werr != nil && err == nil {
		return werr
	}
	if err != nil && !errors.Is(err, ErrBroken) {
		fmt.Fprintf(out, "reading stopped: %v\n", err)
	}
	return err
}
