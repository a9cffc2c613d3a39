package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imzagate/imzagate/bench/allinone"
)

// TestMain lets the test binary play the gateway child, as imzabench
// re-executes itself for the all-in-one run.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == allinone.ChildArg {
		os.Exit(allinone.RunChild(os.Args[2:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestAllInOneSmall(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server missing and CI is set")
		}
		t.Skip("redis-server not on PATH")
	}
	dir := t.TempDir()
	jsonOut := filepath.Join(dir, "r.json")
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"--sims", "300", "--concurrency", "4", "--warmup", "200ms", "--duration", "1s",
		"--mix", "auth=0.5,sign=0.5", "--quiet", "--json", jsonOut, "--cpuprofile", filepath.Join(dir, "gw.pprof")}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	var rep struct {
		Target string `json:"target"`
		Runs   []struct {
			Completed int64            `json:"completed"`
			Errors    map[string]int64 `json:"errors"`
			Gateway   *struct {
				CPUSeconds float64 `json:"cpuSeconds"`
				CPUPer1000 float64 `json:"cpuSecondsPer1000Sessions"`
				RedisBytes float64 `json:"redisBytesPerRunningSession"`
				SIMs       int     `json:"sims"`
			} `json:"gateway"`
		} `json:"runs"`
	}
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Target != "all-in-one" || len(rep.Runs) != 1 {
		t.Fatalf("report: %s", data)
	}
	r := rep.Runs[0]
	if r.Completed < 20 || len(r.Errors) != 0 {
		t.Errorf("completed %d, errors %v: every simulated user approves at once", r.Completed, r.Errors)
	}
	if g := r.Gateway; g == nil || g.CPUSeconds <= 0 || g.CPUPer1000 <= 0 || g.RedisBytes <= 0 || g.SIMs != 300 {
		t.Errorf("gateway figures missing: %s", data)
	}
	if st, err := os.Stat(filepath.Join(dir, "gw.pprof")); err != nil || st.Size() == 0 {
		t.Errorf("no CPU profile written: %v", err)
	}
	if !strings.Contains(out.String(), "gateway CPU") {
		t.Errorf("table lacks the gateway line:\n%s", out.String())
	}
}
