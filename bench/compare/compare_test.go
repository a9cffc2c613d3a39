package compare

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// TestCompareWithKannel runs a real, short comparison: Kannel's bearerbox
// and smsbox, imzagate serve and imzabench built from this tree. It takes
// a minute or two, so it runs only with IMZAGATE_COMPARE_TEST=1 (and
// Kannel installed); `make bench-compare` is the full-length run.
func TestCompareWithKannel(t *testing.T) {
	if os.Getenv("IMZAGATE_COMPARE_TEST") != "1" {
		t.Skip("set IMZAGATE_COMPARE_TEST=1 to run the comparison with Kannel (a minute or two)")
	}
	if _, _, err := kannelBins("", ""); err != nil {
		t.Skip(err)
	}
	redistest.RequireBinaries(t)
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "github.com/imzagate/imzagate/cmd/imzagate",
		"github.com/imzagate/imzagate/cmd/imzabench")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var progress strings.Builder
	rep, err := Run(t.Context(), Options{
		Pairs: 2, Run: 3 * time.Second, Warmup: 500 * time.Millisecond, Concurrency: 16, KannelDLR: true,
		Imzagate: filepath.Join(dir, "imzagate"), Imzabench: filepath.Join(dir, "imzabench"),
		FullSession: 3 * time.Second, VerifyTime: 200 * time.Millisecond, Progress: &progress,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rep.Pairs) != 2 || rep.Pairs[0].First == rep.Pairs[1].First {
		t.Fatalf("pairs %+v: want two, the first side alternating", rep.Pairs)
	}
	for i, p := range rep.Pairs {
		for name, s := range map[string]SideRun{Imzagate: p.Imzagate, Kannel: p.Kannel} {
			if s.Submits <= 0 || s.Rate <= 0 || s.OK <= 0 || s.P99 < s.P50 || s.P50 <= 0 || s.CPUPer1000 <= 0 || s.CPUMessages < s.Submits {
				t.Errorf("pair %d %s: %+v", i+1, name, s)
			}
		}
		if p.RateRatio <= 0 || p.P99Ratio <= 0 || p.CPURatio <= 0 {
			t.Errorf("pair %d ratios: %+v", i+1, p)
		}
	}
	if rep.Imzagate.ProtocolID != 0x7F || rep.Kannel.ProtocolID != 0x7F || rep.Kannel.DataCoding != rep.Imzagate.DataCoding {
		t.Errorf("the two sides sent different kinds of SMS: %+v %+v", rep.Imzagate, rep.Kannel)
	}
	if rep.DLRCallbacks <= 0 {
		t.Error("Kannel called back no delivery report")
	}
	if rep.Full == nil || rep.Full.CPUPerSession <= 0 || rep.Full.Verify <= 0 || rep.Full.Multiple <= 0 {
		t.Errorf("full session %+v (%s)", rep.Full, rep.FullErr)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pair 1", "pair 2", "median", "submit_sm/s", "HTTP p50", "HTTP p99", "CPU s per", "ratio",
		"full session = "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	t.Logf("\n%s", b.String())
}
