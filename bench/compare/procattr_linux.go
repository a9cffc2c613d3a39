package compare

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd when the comparison dies, so a
// run killed hard leaves no gateway behind on the SMSC's port.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
