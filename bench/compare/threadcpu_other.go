//go:build !linux

package compare

import "time"

// threadCPU has no portable equivalent outside Linux: timeVerify then
// falls back to wall-clock time.
func threadCPU() (time.Duration, bool) { return 0, false }
