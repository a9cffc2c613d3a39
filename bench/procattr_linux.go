package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd when the process that started it
// dies, so a benchmark killed hard leaves no redis-server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
