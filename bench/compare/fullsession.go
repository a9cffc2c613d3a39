package compare

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/imzagate/imzagate/bench"
)

// fullSessionSIMs is the simulated SIMs of the all-in-one run: they
// answer at once, so a phone is free again as soon as its session ends
// and a few thousand keep 64 workers busy.
const fullSessionSIMs = 10000

// fullSession runs imzabench's all-in-one closed loop (gateway, test SMSC
// and simulated SIMs in a child process, full sessions to COMPLETE) and
// reads the gateway's CPU per session from its JSON report.
func fullSession(ctx context.Context, imzabench, dir string, concurrency int, d time.Duration) (*FullSession, error) {
	out := filepath.Join(dir, "full-session.json")
	cmd := exec.CommandContext(ctx, imzabench, "--sims", strconv.Itoa(fullSessionSIMs),
		"--concurrency", strconv.Itoa(concurrency), "--warmup", "2s", "--duration", d.String(), "--quiet", "--json", out)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	dieWithParent(cmd)
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("compare: imzabench all-in-one: %v: %s", err, lastLines(log.String(), 5))
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("compare: imzabench all-in-one report: %w", err)
	}
	return parseFullSession(data)
}

// parseFullSession reads the gateway CPU figure of an imzabench report.
func parseFullSession(data []byte) (*FullSession, error) {
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("compare: imzabench report: %w", err)
	}
	if len(rep.Runs) == 0 {
		return nil, errors.New("compare: imzabench report has no run")
	}
	last := rep.Runs[len(rep.Runs)-1]
	g := last.Gateway
	if g == nil || g.CPUPer1000 <= 0 || g.Sessions <= 0 {
		return nil, errors.New("compare: imzabench report has no gateway CPU figure")
	}
	if last.Failed > 0 {
		return nil, fmt.Errorf("compare: imzabench all-in-one: %d sessions failed (%v)", last.Failed, last.Errors)
	}
	// Seconds per 1,000 sessions are milliseconds per session.
	return &FullSession{CPUPerSession: time.Duration(g.CPUPer1000 * float64(time.Millisecond)),
		Sessions: g.Sessions, Throughput: last.Throughput, CPUHow: g.CPUHow}, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
