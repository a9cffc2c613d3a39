//go:build !linux

package main

import "os/exec"

// dieWithParent has no portable equivalent outside Linux; the tests' cleanup
// kills the children instead.
func dieWithParent(*exec.Cmd) {}
