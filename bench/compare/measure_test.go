package compare

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/bench"
	"github.com/imzagate/imzagate/smpp"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name, line string
		want       time.Duration
		ok         bool
	}{
		{"plain", "1234 (bearerbox) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 9 0 100 0 0", 3250 * time.Millisecond, true},
		// A command name may hold spaces and parentheses: fields are
		// counted after the last ')'.
		{"odd name", "77 (a) b (c) R 1 77 77 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 5 0 0", 100 * time.Millisecond, true},
		{"no name", "1234 bearerbox S 1", 0, false},
		{"short", "1 (x) S 1 2 3", 0, false},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 abc 3 0", 0, false},
	}
	for _, tt := range tests {
		got, err := parseStatCPU(tt.line)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: %v, %v; want %v (ok %v)", tt.name, got, err, tt.want, tt.ok)
		}
	}
}

// TestProcCPUCountsChildWork burns CPU in a child process and reads it
// back from /proc while the child still runs.
func TestProcCPUCountsChildWork(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux only")
	}
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; read x`)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	var got time.Duration
	err = waitFor(context.Background(), 30*time.Second, "the child's CPU time to show", func() (bool, error) {
		d, err := cpuOf([]int{cmd.Process.Pid, os.Getpid()})
		got = d
		self, _ := ProcCPU(os.Getpid())
		return err == nil && d-self >= 100*time.Millisecond, err
	})
	if err != nil {
		t.Fatalf("%v (last %v)", err, got)
	}
	if _, err := ProcCPU(1 << 30); err == nil {
		t.Fatal("a process that does not exist has a CPU time")
	}
}

func TestMedianAndRatio(t *testing.T) {
	nan := math.NaN()
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5}, 5},
		{[]float64{nan, 7, 1, nan}, 4},
	} {
		if got := Median(tt.in); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if !math.IsNaN(Median(nil)) || !math.IsNaN(Median([]float64{nan})) {
		t.Error("median of nothing is a number")
	}
	if Ratio(3, 2) != 1.5 || !math.IsNaN(Ratio(1, 0)) || !math.IsNaN(Ratio(nan, 1)) || !math.IsNaN(Ratio(math.Inf(1), 1)) {
		t.Error("Ratio")
	}
	if perThousand(2, 4000) != 0.5 || !math.IsNaN(perThousand(1, 0)) {
		t.Error("perThousand")
	}
}

// TestMediansOfRatios: the headline ratio is the median of the per-pair
// ratios, which differs from the ratio of the medians when the machine's
// speed drifts between pairs.
func TestMediansOfRatios(t *testing.T) {
	run := func(rate, p99, cpu float64) SideRun {
		return SideRun{Rate: rate, P50: p99 / 2, P99: p99, CPUPer1000: cpu}
	}
	pairs := []Pair{
		newPair(Imzagate, run(100, 10, 1), run(50, 20, 2)),  // ratio 2
		newPair(Kannel, run(300, 10, 1), run(200, 5, 1)),    // ratio 1.5
		newPair(Imzagate, run(600, 10, 1), run(100, 40, 4)), // ratio 6
	}
	m := medians(pairs)
	if m.RateRatio != 2 || m.ImzagateRate != 300 || m.KannelRate != 100 {
		t.Errorf("rate medians %+v (ratio of medians would be 3)", m)
	}
	if m.P99Ratio != 0.5 || m.P50Ratio != 0.5 || m.CPURatio != 0.5 || m.ImzagateCPU != 1 || m.KannelCPU != 2 {
		t.Errorf("latency/CPU medians %+v", m)
	}
}

// TestSMSCCountsPerSystemID binds two ESMEs with different system_ids and
// checks each one's submit_sm are counted apart, with their octets and
// shape; a wrong password binds nothing.
func TestSMSCCountsPerSystemID(t *testing.T) {
	sm, err := startSMSC(10, imzagateSystemID, kannelSystemID)
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	submit := func(id, pw string, n int, ud []byte, esm byte) error {
		nc, err := net.Dial("tcp", sm.Addr())
		if err != nil {
			return err
		}
		s := smpp.NewSession(nc, smpp.SessionOptions{EnquireLinkInterval: -1, RequestTimeout: 5 * time.Second})
		defer s.Abort()
		if _, err := s.Bind(ctx, &smpp.Bind{Type: smpp.BindTransceiver, SystemID: id, Password: pw}); err != nil {
			return err
		}
		for range n {
			if _, err := s.Submit(ctx, &smpp.SubmitSM{Message: smpp.Message{SourceAddr: "9944000", DestAddr: "994501000001",
				ESMClass: esm, ProtocolID: 0x7F, DataCoding: 0xF6, ShortMessage: ud}}); err != nil {
				return err
			}
		}
		return nil
	}
	if err := submit(imzagateSystemID, sm.Password(imzagateSystemID), 3, make([]byte, 109), 0x40); err != nil {
		t.Fatal(err)
	}
	if err := submit(kannelSystemID, sm.Password(kannelSystemID), 5, make([]byte, 20), 0x43); err != nil {
		t.Fatal(err)
	}
	if err := submit(kannelSystemID, "wrong", 1, []byte{1}, 0); err == nil {
		t.Fatal("a wrong password bound")
	}
	imz, kan := sm.Tally(imzagateSystemID), sm.Tally(kannelSystemID)
	if imz.Submits != 3 || imz.Octets != 3*109 || !imz.Seen || imz.ESMClass != 0x40 || imz.ProtocolID != 0x7F || imz.DataCoding != 0xF6 {
		t.Errorf("imzagate tally %+v", imz)
	}
	if kan.Submits != 5 || kan.Octets != 100 || kan.ESMClass != 0x43 {
		t.Errorf("Kannel tally %+v", kan)
	}
	if (sm.Tally("other") != Tally{}) {
		t.Error("an unknown account has counts")
	}
}

func TestParseFullSession(t *testing.T) {
	rep := bench.Report{Version: 1, Runs: []*bench.Result{{Completed: 9000, Throughput: 900,
		Gateway: &bench.GatewayStats{CPUSeconds: 6, Sessions: 10000, CPUPer1000: 0.6, CPUHow: "child process"}}}}
	data, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseFullSession(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.CPUPerSession != 600*time.Microsecond || f.Sessions != 10000 || f.Throughput != 900 || f.CPUHow != "child process" {
		t.Errorf("%+v: 0.6 s per 1,000 sessions is 0.6 ms per session", f)
	}
	rep.Runs[0].Failed, rep.Runs[0].Errors = 3, map[string]int64{"TIMEOUT": 3}
	data, _ = json.Marshal(rep)
	if _, err := parseFullSession(data); err == nil || !strings.Contains(err.Error(), "failed") {
		t.Errorf("failed sessions not reported: %v", err)
	}
	for _, bad := range []string{`{`, `{"runs":[]}`, `{"runs":[{"completed":1}]}`} {
		if _, err := parseFullSession([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestTimeVerify(t *testing.T) {
	d, cpu, err := timeVerify(100 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if cpu != (runtime.GOOS == "linux") {
		t.Errorf("timed in CPU time: %v on %s", cpu, runtime.GOOS)
	}
	// One P-256 verification takes tens of microseconds on any machine
	// this runs on; a broken loop gives nanoseconds or whole rounds.
	if d < 5*time.Microsecond || d > 20*time.Millisecond {
		t.Fatalf("one verification timed at %v", d)
	}
}
