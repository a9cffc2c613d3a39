package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histograms hold microseconds from 1 µs to 10 minutes at 3 significant
// digits: finer than any latency here needs, and bounded memory.
const (
	histMin    = 1
	histMax    = int64(10 * time.Minute / time.Microsecond)
	histDigits = 3
)

// Stage names, in the order of a session.
const (
	StageStart    = "start"  // POST round trip seen by the portal
	StageSubmit   = "submit" // accepted → submit_sm done (gateway's stages)
	StageReply    = "reply"  // submitted → completed (gateway's stages)
	StageEndToEnd = "e2e"    // intended start → COMPLETE seen by the portal
)

// StageNames lists the stage names in report order.
func StageNames() []string { return []string{StageStart, StageSubmit, StageReply, StageEndToEnd} }

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// recorder collects one run's measurements. One mutex guards it: a record
// is a few array increments, far below the cost of the HTTP round trips
// around it, so contention stays negligible at the rates a 2-core box can
// drive.
type recorder struct {
	mu     sync.Mutex
	hists  [4]*hdrhistogram.Histogram
	ok     int64
	errors map[string]int64

	// progress: every completion, warm-up included, since the last tick.
	tickHist *hdrhistogram.Histogram
	tickOK   int64
	tickErr  int64
	totalOK  int64
	totalErr int64
}

func newRecorder() *recorder {
	r := &recorder{errors: map[string]int64{}, tickHist: newHist()}
	for i := range r.hists {
		r.hists[i] = newHist()
	}
	return r
}

// sample is one finished session.
type sample struct {
	measured bool
	code     string // "" for success
	start    time.Duration
	submit   time.Duration // <0 when the gateway gave no stage times
	reply    time.Duration
	e2e      time.Duration
}

func us(d time.Duration) int64 {
	v := d.Microseconds()
	if v < histMin {
		return histMin
	}
	if v > histMax {
		return histMax
	}
	return v
}

func (r *recorder) record(s sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.code != "" {
		r.tickErr++
		r.totalErr++
		if s.measured {
			r.errors[s.code]++
		}
		return
	}
	r.tickOK++
	r.totalOK++
	_ = r.tickHist.RecordValue(us(s.e2e))
	if !s.measured {
		return
	}
	r.ok++
	_ = r.hists[0].RecordValue(us(s.start))
	if s.submit >= 0 {
		_ = r.hists[1].RecordValue(us(s.submit))
	}
	if s.reply >= 0 {
		_ = r.hists[2].RecordValue(us(s.reply))
	}
	_ = r.hists[3].RecordValue(us(s.e2e))
}

// tick returns and resets the progress counters.
func (r *recorder) tick() (ok, errs int64, p99 time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok, errs = r.tickOK, r.tickErr
	if r.tickHist.TotalCount() > 0 {
		p99 = time.Duration(r.tickHist.ValueAtQuantile(99)) * time.Microsecond
	}
	r.tickOK, r.tickErr = 0, 0
	r.tickHist.Reset()
	return ok, errs, p99
}
