//go:build !linux

package bench

import "os/exec"

// dieWithParent has no portable equivalent outside Linux; Close still
// stops the server on every normal exit.
func dieWithParent(*exec.Cmd) {}
