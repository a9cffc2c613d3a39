package compare

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Gateway names, as the report prints them.
const (
	Imzagate = "imzagate"
	Kannel   = "Kannel"
)

// SideRun is what one run of one gateway measured.
type SideRun struct {
	// Measured is the measured window (the run less its warm-up).
	Measured time.Duration
	// Submits counts the side's submit_sm accepted by the SMSC in the
	// measured window, and Rate is Submits per second of it.
	Submits int64
	Rate    float64
	// OK counts accepted HTTP answers to requests started in the window.
	OK int64
	// Errors counts failed requests started in the window, by code.
	Errors map[string]int64
	// P50 and P99 are the HTTP round trips of accepted requests, in ms.
	P50, P99 float64
	// CPU is the user+system seconds of the side's processes from the
	// start of the run until it settled, over CPUMessages submit_sm in
	// the same span; CPUPer1000 is CPU per 1,000 of them.
	CPU         float64
	CPUMessages int64
	CPUPer1000  float64
	// DriverCPU is this process's CPU seconds over the same span: the
	// load generator, the test SMSC and the DLR sink, which share the
	// machine with the gateway under test.
	DriverCPU float64
	// Backlog is the messages the side had accepted over HTTP but not yet
	// submitted when the window closed.
	Backlog int64
	// Settle is how long after the load the side took to send what it
	// had accepted and go quiet; Unsettled is set when it did not within
	// the bound, and the figures then leave out what came later.
	Settle    time.Duration
	Unsettled bool
}

// Pair is one imzagate run and one Kannel run, back to back.
type Pair struct {
	// First is the gateway run first; pairs alternate it.
	First              string
	Imzagate, Kannel   SideRun
	RateRatio          float64 // imzagate's submit_sm/s over Kannel's
	P50Ratio, P99Ratio float64 // imzagate's HTTP latency over Kannel's
	CPURatio           float64 // imzagate's CPU per message over Kannel's
}

func newPair(first string, imz, kan SideRun) Pair {
	return Pair{First: first, Imzagate: imz, Kannel: kan,
		RateRatio: Ratio(imz.Rate, kan.Rate), P50Ratio: Ratio(imz.P50, kan.P50),
		P99Ratio: Ratio(imz.P99, kan.P99), CPURatio: Ratio(imz.CPUPer1000, kan.CPUPer1000)}
}

// Medians are the medians over the pairs of every figure of a Pair; the
// ratios are medians of the per-pair ratios, not ratios of medians, so
// each ratio compares runs made under the same conditions.
type Medians struct {
	ImzagateRate, KannelRate, RateRatio float64
	ImzagateP50, KannelP50, P50Ratio    float64
	ImzagateP99, KannelP99, P99Ratio    float64
	ImzagateCPU, KannelCPU, CPURatio    float64
}

// medians computes Medians over pairs.
func medians(pairs []Pair) Medians {
	col := func(f func(Pair) float64) float64 {
		v := make([]float64, len(pairs))
		for i, p := range pairs {
			v[i] = f(p)
		}
		return Median(v)
	}
	return Medians{
		ImzagateRate: col(func(p Pair) float64 { return p.Imzagate.Rate }),
		KannelRate:   col(func(p Pair) float64 { return p.Kannel.Rate }),
		RateRatio:    col(func(p Pair) float64 { return p.RateRatio }),
		ImzagateP50:  col(func(p Pair) float64 { return p.Imzagate.P50 }),
		KannelP50:    col(func(p Pair) float64 { return p.Kannel.P50 }),
		P50Ratio:     col(func(p Pair) float64 { return p.P50Ratio }),
		ImzagateP99:  col(func(p Pair) float64 { return p.Imzagate.P99 }),
		KannelP99:    col(func(p Pair) float64 { return p.Kannel.P99 }),
		P99Ratio:     col(func(p Pair) float64 { return p.P99Ratio }),
		ImzagateCPU:  col(func(p Pair) float64 { return p.Imzagate.CPUPer1000 }),
		KannelCPU:    col(func(p Pair) float64 { return p.Kannel.CPUPer1000 }),
		CPURatio:     col(func(p Pair) float64 { return p.CPURatio }),
	}
}

// Shape is what the SMSC saw of one side's messages.
type Shape struct {
	Octets                           float64 // mean user data per submit_sm, UDH included
	ESMClass, ProtocolID, DataCoding byte
	Seen                             bool
}

// FullSession is the full-session CPU figure set against one ECDSA
// P-256 verification.
type FullSession struct {
	// Verify is one ecdsa.VerifyASN1 (P-256, SHA-256 digest) in this
	// process, the median of several timed rounds.
	Verify time.Duration
	// CPUPerSession is the all-in-one gateway's CPU per full session
	// (imzabench's "gateway CPU per 1,000 sessions" / 1,000); zero when
	// that run was skipped.
	CPUPerSession time.Duration
	// Sessions and Throughput are that run's.
	Sessions   int64
	Throughput float64
	// CPUHow says what the CPU figure covers.
	CPUHow string
	// Multiple is CPUPerSession in verifications.
	Multiple float64
}

// Report is a whole comparison.
type Report struct {
	KannelVersion string
	Concurrency   int
	Run, Warmup   time.Duration
	Pairs         []Pair
	Medians       Medians
	Window        int
	Phones        int
	PhonesUsed    int
	Provision     time.Duration // provisioning them through `imzagate provision`, all batches
	KannelDLR     bool
	// DLRCallbacks counts the delivery reports Kannel called back with.
	DLRCallbacks int64
	Imzagate     Shape
	Kannel       Shape
	Full         *FullSession
	// FullErr says why the full-session figure is missing, if it is.
	FullErr string
	// VerifyCPU tells that the verification was timed in thread CPU time
	// (false: wall-clock time).
	VerifyCPU bool
	// WorkDir is the kept working directory (Options.Keep), else "".
	WorkDir string
	// Wall is the comparison's wall time, start to report.
	Wall time.Duration
}

// Targets the project holds itself to, printed beside the figures.
const (
	targetRateRatio = 1.0 // imzagate's submit_sm/s at least Kannel's
	targetP99Ratio  = 1.0 // imzagate's HTTP p99 at most Kannel's
	targetMultiple  = 6.0 // a full session at most 6 ECDSA verifications of CPU
)

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	kv := "Kannel"
	if r.KannelVersion != "" {
		kv += " " + r.KannelVersion
	}
	fmt.Fprintf(&b, "imzagate vs %s, send path: HTTP request → submit_sm accepted at one test SMSC (loopback)\n", kv)
	fmt.Fprintf(&b, "load        closed loop, %d HTTP workers per side; %s of %s runs (first %s warm-up), the side run first alternating\n",
		r.Concurrency, plural(len(r.Pairs), "pair"), r.Run, r.Warmup)
	fmt.Fprintf(&b, "SMPP        one transceiver bind each, window %d; imzagate: %d phones provisioned in %s, %d used (a fresh phone per request)\n",
		r.Window, r.Phones, r.Provision.Round(100*time.Millisecond), r.PhonesUsed)
	fmt.Fprintf(&b, "message     imzagate: AUTHENTICATE, sealed OTA command, %s\n", r.Imzagate.describe())
	dlr := "no DLR"
	if r.KannelDLR {
		dlr = fmt.Sprintf("DLR requested (%d called back)", r.DLRCallbacks)
	}
	fmt.Fprintf(&b, "            Kannel: binary sendsms, %s, %s\n\n", r.Kannel.describe(), dlr)
	r.writeTable(&b)
	r.writeNotes(&b)
	_, err := io.WriteString(w, b.String())
	return err
}

func (s Shape) describe() string {
	if !s.Seen {
		return "no submit_sm seen"
	}
	return fmt.Sprintf("%.0f octets per submit_sm (esm_class 0x%02X, protocol_id 0x%02X, data_coding 0x%02X)",
		s.Octets, s.ESMClass, s.ProtocolID, s.DataCoding)
}

// writeTable prints one column per pair and one for the medians, one row
// per gateway and figure.
func (r *Report) writeTable(b *strings.Builder) {
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	head := []string{"", ""}
	order := []string{"first", ""}
	for i, p := range r.Pairs {
		head = append(head, fmt.Sprintf("pair %d", i+1))
		order = append(order, p.First)
	}
	row(append(head, "median")...)
	row(append(order, "")...)
	m := r.Medians
	block := func(title, unit string, imz, kan, ratio func(Pair) float64, mi, mk, mr float64, f func(float64) string) {
		lines := []struct {
			name string
			get  func(Pair) float64
			med  float64
			fmt  func(float64) string
		}{{Imzagate, imz, mi, f}, {Kannel, kan, mk, f}, {"ratio", ratio, mr, fmtRatio}}
		for i, l := range lines {
			label := ""
			switch i {
			case 0:
				label = title
			case 1:
				label = unit
			}
			cells := []string{label, l.name}
			for _, p := range r.Pairs {
				cells = append(cells, l.fmt(l.get(p)))
			}
			row(append(cells, l.fmt(l.med))...)
		}
	}
	block("submit_sm/s", "at the SMSC", func(p Pair) float64 { return p.Imzagate.Rate }, func(p Pair) float64 { return p.Kannel.Rate },
		func(p Pair) float64 { return p.RateRatio }, m.ImzagateRate, m.KannelRate, m.RateRatio, fmtRate)
	block("HTTP p50", "ms", func(p Pair) float64 { return p.Imzagate.P50 }, func(p Pair) float64 { return p.Kannel.P50 },
		func(p Pair) float64 { return p.P50Ratio }, m.ImzagateP50, m.KannelP50, m.P50Ratio, fmtMs)
	block("HTTP p99", "ms", func(p Pair) float64 { return p.Imzagate.P99 }, func(p Pair) float64 { return p.Kannel.P99 },
		func(p Pair) float64 { return p.P99Ratio }, m.ImzagateP99, m.KannelP99, m.P99Ratio, fmtMs)
	block("CPU s per", "1,000 msgs", func(p Pair) float64 { return p.Imzagate.CPUPer1000 }, func(p Pair) float64 { return p.Kannel.CPUPer1000 },
		func(p Pair) float64 { return p.CPURatio }, m.ImzagateCPU, m.KannelCPU, m.CPURatio, fmtCPU)
	tw.Flush()
}

// writeNotes prints what qualifies the table: errors, backlogs, runs that
// did not settle, then the targets and the full-session figure.
func (r *Report) writeNotes(b *strings.Builder) {
	b.WriteString("\nCPU: user+system time from /proc of bearerbox+smsbox (Kannel) and imzagate serve+its redis-server (imzagate),\n")
	b.WriteString("     from the start of each run until the side had sent all it accepted and went quiet.\n")
	var di, dk []float64
	for _, p := range r.Pairs {
		di = append(di, perThousand(p.Imzagate.DriverCPU, p.Imzagate.CPUMessages))
		dk = append(dk, perThousand(p.Kannel.DriverCPU, p.Kannel.CPUMessages))
	}
	fmt.Fprintf(b, "     The load generator, test SMSC and DLR sink (this process) used a median %s s per 1,000 messages\n", fmtCPU(Median(di)))
	fmt.Fprintf(b, "     while driving imzagate and %s s while driving Kannel, on the same cores.\n", fmtCPU(Median(dk)))
	for i, p := range r.Pairs {
		for _, s := range []struct {
			name string
			run  SideRun
		}{{Imzagate, p.Imzagate}, {Kannel, p.Kannel}} {
			if n := len(s.run.Errors); n > 0 {
				fmt.Fprintf(b, "pair %d %s: failed requests %s (of %d accepted)\n", i+1, s.name, fmtErrors(s.run.Errors), s.run.OK)
			}
			if s.run.Backlog > 0 {
				fmt.Fprintf(b, "pair %d %s: %d accepted messages not yet at the SMSC when the window closed (sent within %s)\n",
					i+1, s.name, s.run.Backlog, s.run.Settle.Round(10*time.Millisecond))
			}
			if s.run.Unsettled {
				fmt.Fprintf(b, "pair %d %s: still busy %s after the load; CPU counted up to then\n", i+1, s.name, s.run.Settle.Round(time.Second))
			}
		}
	}
	m := r.Medians
	fmt.Fprintf(b, "\ntargets     imzagate ≥ %.1f× Kannel's submit_sm/s: %s (median ratio %s); HTTP p99 ≤ Kannel's: %s (median ratio %s)\n",
		targetRateRatio, met(m.RateRatio >= targetRateRatio), fmtRatio(m.RateRatio), met(m.P99Ratio <= targetP99Ratio), fmtRatio(m.P99Ratio))
	switch f := r.Full; {
	case f != nil && f.CPUPerSession > 0:
		fmt.Fprintf(b, "full session = %.1f × one ECDSA P-256 verify (gateway CPU %.3f ms/session, verify %.1f µs); target ≤ %.0f×: %s\n",
			f.Multiple, float64(f.CPUPerSession)/float64(time.Millisecond), float64(f.Verify)/float64(time.Microsecond), targetMultiple, met(f.Multiple <= targetMultiple))
		fmt.Fprintf(b, "            verify: %s; session: an all-in-one closed loop of %d full sessions at %.0f/s, CPU of %s\n",
			r.verifyHow(), f.Sessions, f.Throughput, f.CPUHow)
	case f != nil:
		fmt.Fprintf(b, "one ECDSA P-256 verify: %.1f µs; full session figure skipped: %s\n", float64(f.Verify)/float64(time.Microsecond), r.FullErr)
	}
	if r.WorkDir != "" {
		fmt.Fprintf(b, "configurations and logs kept in %s\n", r.WorkDir)
	}
	fmt.Fprintf(b, "wall time   %s\n", r.Wall.Round(time.Second))
}

func (r *Report) verifyHow() string {
	if r.VerifyCPU {
		return "ecdsa.VerifyASN1 in thread CPU time, median of 5 rounds"
	}
	return "ecdsa.VerifyASN1 in wall-clock time (no thread CPU clock here), median of 5 rounds"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

func fmtErrors(errs map[string]int64) string {
	codes := make([]string, 0, len(errs))
	for c := range errs {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s=%d", c, errs[c])
	}
	return strings.Join(parts, " ")
}

func fmtRate(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtMs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtCPU(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.3f", v)
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}
