package bulk

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Importer is what ImportFile needs of *sessions.Store.
type Importer interface {
	ImportSubscribers(ctx context.Context, r io.Reader, progress func(n int)) (int, error)
}

// ImportFile imports the subscribers in the file at path into st, drawing a
// progress bar on out (nil draws nothing).
func ImportFile(ctx context.Context, st Importer, path string, out io.Writer) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	total, err := countLines(f)
	if err != nil {
		return 0, fmt.Errorf("bulk: count lines: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	if out == nil {
		out = io.Discard
	}
	bar := NewBar(out, total)
	n, err := st.ImportSubscribers(ctx, bufio.NewReaderSize(f, 1<<20), bar.Update)
	bar.Done(n)
	return n, err
}

// countLines counts the non-blank lines of r.
func countLines(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	n := 0
	blank := true
	for {
		chunk, err := br.ReadSlice('\n')
		if len(bytes.TrimSpace(chunk)) > 0 {
			blank = false
		}
		if err == bufio.ErrBufferFull {
			continue // a long line: keep reading it
		}
		if len(chunk) > 0 && (err == nil || err == io.EOF) {
			if !blank {
				n++
			}
			blank = true
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// Bar is a one-line terminal progress bar.
type Bar struct {
	w     io.Writer
	total int
	// Now is the clock (time.Now); tests replace it.
	Now   func() time.Time
	start time.Time
	last  time.Time
}

// redrawEvery limits redraws, so a fast import does not spend its time
// writing to the terminal.
const redrawEvery = 100 * time.Millisecond

const barWidth = 30

// NewBar returns a bar for total items (0 when unknown) drawn on w.
func NewBar(w io.Writer, total int) *Bar {
	return &Bar{w: w, total: total, Now: time.Now}
}

// Update redraws the bar for n items done, at most every 100 ms.
func (b *Bar) Update(n int) {
	now := b.Now()
	if b.start.IsZero() {
		b.start = now
	}
	if !b.last.IsZero() && now.Sub(b.last) < redrawEvery {
		return
	}
	b.last = now
	fmt.Fprint(b.w, "\r"+b.render(n, now))
}

// Done draws the final state and ends the line.
func (b *Bar) Done(n int) {
	now := b.Now()
	if b.start.IsZero() {
		b.start = now
	}
	fmt.Fprint(b.w, "\r"+b.render(n, now)+"\n")
}

func (b *Bar) render(n int, now time.Time) string {
	rate := ""
	if el := now.Sub(b.start).Seconds(); el > 0 {
		rate = fmt.Sprintf("%8.1fk/s", float64(n)/el/1000)
	}
	if b.total <= 0 {
		return fmt.Sprintf("%10d %s", n, rate)
	}
	frac := min(float64(n)/float64(b.total), 1)
	filled := int(frac * barWidth)
	bar := strings.Repeat("=", filled)
	if filled < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-filled-1)
	}
	return fmt.Sprintf("[%s] %5.1f%% %8d/%d %s", bar, frac*100, n, b.total, rate)
}
