package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill a gateway child when the test process
// dies (a test timeout, Ctrl-C), so no gateway is left serving.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
