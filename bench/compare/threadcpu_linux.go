package compare

import (
	"syscall"
	"time"
)

// threadCPU is the calling thread's CPU time (user+system). The caller
// locks its goroutine to the thread. On a busy machine a wall-clock
// timing counts the time other processes held the core; CPU time does
// not, and the gateway's figure it is set against is CPU time too.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
