package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what one run measured. Latency histograms hold microseconds.
type Result struct {
	Mode        string        `json:"mode"` // "closed" or "open"
	Concurrency int           `json:"concurrency,omitempty"`
	OfferedRate float64       `json:"offeredRate,omitempty"` // sessions/s, open loop
	Mix         string        `json:"mix"`
	Warmup      time.Duration `json:"warmupNs"`
	Duration    time.Duration `json:"durationNs"`
	// Measured is the measured window actually run: Duration, or less
	// when the run was cancelled.
	Measured time.Duration `json:"measuredNs"`
	// Completed counts the measured sessions that ended COMPLETE with OK.
	Completed int64 `json:"completed"`
	// Failed counts the measured sessions that did not.
	Failed int64 `json:"failed"`
	// Throughput is Completed per second of the measured window.
	Throughput float64 `json:"throughput"`
	// Errors tallies the failures by code: the gateway's problem codes,
	// non-OK session results, and the generator's CLIENT_* codes.
	Errors map[string]int64 `json:"errors"`
	// Sessions counts every session that finished, warm-up included, for
	// per-session resource figures taken over the whole run.
	Sessions int64 `json:"sessions"`
	// Latency summarises each stage (keys: StageNames).
	Latency map[string]Summary `json:"latency"`
	// Gateway holds resource figures when the run knows them (all-in-one).
	Gateway *GatewayStats `json:"gateway,omitempty"`

	hists map[string]*hdrhistogram.Histogram
}

// Summary is one stage's latency distribution, in milliseconds.
type Summary struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"meanMs"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	P999  float64 `json:"p999Ms"`
	Max   float64 `json:"maxMs"`
}

// GatewayStats are the gateway's resource figures over a run.
type GatewayStats struct {
	// CPUSeconds is the gateway's CPU time (user+system) over the run.
	CPUSeconds float64 `json:"cpuSeconds"`
	// Sessions is the number of sessions (all runs, warm-ups included)
	// the CPU time was spent on.
	Sessions int64 `json:"sessions"`
	// CPUPer1000 is CPUSeconds per 1,000 finished sessions.
	CPUPer1000 float64 `json:"cpuSecondsPer1000Sessions"`
	// CPUHow says how the CPU time was measured.
	CPUHow string `json:"cpuHow"`
	// GeneratorCPUSeconds is the load generator's own CPU time over the
	// run, and RedisCPUSeconds redis-server's: with the gateway's, where
	// the machine's cores went.
	GeneratorCPUSeconds float64 `json:"generatorCpuSeconds,omitempty"`
	RedisCPUSeconds     float64 `json:"redisCpuSeconds,omitempty"`
	// RedisBytesPerSession is Redis memory per running session.
	RedisBytesPerSession float64 `json:"redisBytesPerRunningSession"`
	// RedisCommandsPerSession is Redis commands processed per session:
	// each is a round trip unless pipelined.
	RedisCommandsPerSession float64 `json:"redisCommandsPerSession,omitempty"`
	// RedisHow says how the memory was measured.
	RedisHow string `json:"redisHow"`
	// SIMs is the number of simulated SIMs provisioned.
	SIMs int `json:"sims,omitempty"`
	// Profile names the CPU profile written, if any.
	Profile string `json:"profile,omitempty"`
}

// Histogram returns the stage's latency histogram (microseconds), or nil
// for an unknown stage.
func (r *Result) Histogram(stage string) *hdrhistogram.Histogram { return r.hists[stage] }

func summarise(h *hdrhistogram.Histogram) Summary {
	ms := func(v int64) float64 { return float64(v) / 1000 }
	return Summary{
		Count: h.TotalCount(), Mean: h.Mean() / 1000,
		P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)), P99: ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()),
	}
}

func (g *generator) result() *Result {
	g.rec.mu.Lock()
	defer g.rec.mu.Unlock()
	r := &Result{
		Mode: g.mode(), Mix: g.o.Mix.String(), Warmup: g.o.Warmup, Duration: g.o.Duration,
		Completed: g.rec.ok, Errors: map[string]int64{}, Latency: map[string]Summary{},
		Sessions: g.rec.totalOK + g.rec.totalErr, hists: map[string]*hdrhistogram.Histogram{},
	}
	if g.o.Rate > 0 {
		r.OfferedRate = g.o.Rate
	} else {
		r.Concurrency = g.o.Concurrency
	}
	for code, n := range g.rec.errors {
		r.Errors[code] = n
		r.Failed += n
	}
	r.Measured = g.o.Duration
	if !g.stopped.IsZero() {
		r.Measured = max(0, g.stopped.Sub(g.measure))
	}
	if r.Measured > 0 {
		r.Throughput = float64(r.Completed) / r.Measured.Seconds()
	}
	for i, name := range StageNames() {
		h := hdrhistogram.Import(g.rec.hists[i].Export())
		r.hists[name] = h
		r.Latency[name] = summarise(h)
	}
	return r
}

// stageTitle is the table's wording of each stage.
var stageTitle = map[string]string{
	StageStart:    "start (POST round trip)",
	StageSubmit:   "submit (accepted→submit_sm)",
	StageReply:    "reply (submitted→completed)",
	StageEndToEnd: "end to end (→COMPLETE seen)",
}

// WriteTable prints the run as a human table.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	load := fmt.Sprintf("closed loop, %d workers", r.Concurrency)
	if r.Mode == "open" {
		load = fmt.Sprintf("open loop, %.0f sessions/s offered (latency from intended start)", r.OfferedRate)
	}
	measured := r.Duration.String()
	if r.Measured != r.Duration {
		measured = fmt.Sprintf("%s of %s (cancelled)", r.Measured.Round(time.Millisecond), r.Duration)
	}
	fmt.Fprintf(&b, "load        %s, mix %s, warm-up %s, measured %s\n", load, r.Mix, r.Warmup, measured)
	fmt.Fprintf(&b, "throughput  %.1f completed sessions/s (%d OK, %d failed)\n", r.Throughput, r.Completed, r.Failed)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tcount\tp50\tp90\tp99\tp99.9\tmax\t")
	for _, st := range StageNames() {
		s := r.Latency[st]
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", stageTitle[st], s.Count,
			fmtMs(s.P50), fmtMs(s.P90), fmtMs(s.P99), fmtMs(s.P999), fmtMs(s.Max))
	}
	tw.Flush()
	if len(r.Errors) == 0 {
		b.WriteString("errors      none\n")
	} else {
		codes := make([]string, 0, len(r.Errors))
		for c := range r.Errors {
			codes = append(codes, c)
		}
		sort.Slice(codes, func(i, j int) bool {
			if r.Errors[codes[i]] != r.Errors[codes[j]] {
				return r.Errors[codes[i]] > r.Errors[codes[j]]
			}
			return codes[i] < codes[j]
		})
		b.WriteString("errors     ")
		for _, c := range codes {
			fmt.Fprintf(&b, " %s=%d", c, r.Errors[c])
		}
		b.WriteByte('\n')
	}
	if gs := r.Gateway; gs != nil {
		fmt.Fprintf(&b, "gateway CPU %.2f s per 1,000 sessions (%.1f s over %d sessions; %s)\n", gs.CPUPer1000, gs.CPUSeconds, gs.Sessions, gs.CPUHow)
		if gs.GeneratorCPUSeconds > 0 || gs.RedisCPUSeconds > 0 {
			fmt.Fprintf(&b, "other CPU   load generator %.1f s, redis-server %.1f s over the same run\n", gs.GeneratorCPUSeconds, gs.RedisCPUSeconds)
		}
		fmt.Fprintf(&b, "Redis       %.0f bytes per running session (%s)\n", gs.RedisBytesPerSession, gs.RedisHow)
		if gs.RedisCommandsPerSession > 0 {
			fmt.Fprintf(&b, "Redis       %.1f commands per session\n", gs.RedisCommandsPerSession)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Report is the JSON document imzabench writes: the runs and, for a
// sweep, one run per offered rate.
type Report struct {
	Version   int       `json:"version"`
	Generated time.Time `json:"generated"`
	Machine   string    `json:"machine,omitempty"`
	Target    string    `json:"target"`
	Runs      []*Result `json:"runs"`
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func fmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2fs", ms/1000)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	}
	return fmt.Sprintf("%.2fms", ms)
}

func fmtDur(d time.Duration) string { return fmtMs(float64(d.Microseconds()) / 1000) }
