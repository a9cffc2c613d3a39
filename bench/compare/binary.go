package compare

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ImzagateBinary finds the imzagate binary beside exe (make builds both
// into bin/), or builds it into a temporary directory that cleanup
// removes; log hears about the build.
func ImzagateBinary(ctx context.Context, exe string, log io.Writer) (string, func(), error) {
	beside := filepath.Join(filepath.Dir(exe), "imzagate")
	if st, err := os.Stat(beside); err == nil && st.Mode().IsRegular() {
		return beside, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "imzabench-imzagate-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	bin := filepath.Join(dir, "imzagate")
	fmt.Fprintln(log, "compare: building imzagate (no imzagate binary beside this one)")
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/imzagate/imzagate/cmd/imzagate")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building imzagate (give --imzagate, or run from the source tree with go installed): %w", err)
	}
	fmt.Fprintf(log, "compare: built imzagate in %s\n", time.Since(start).Round(100*time.Millisecond))
	return bin, cleanup, nil
}
