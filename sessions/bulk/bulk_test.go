package bulk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCountLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{"empty", "", 0},
		{"one without newline", "{}", 1},
		{"blank lines skipped", "{}\n\n  \n{}\n", 2},
		{"long line", strings.Repeat("x", 3<<20) + "\n{}\n", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := countLines(strings.NewReader(tc.in))
			if err != nil || got != tc.want {
				t.Fatalf("countLines = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestBarRender(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	var out bytes.Buffer
	b := NewBar(&out, 1000)
	b.Now = func() time.Time { return now }
	b.Update(0)
	now = t0.Add(50 * time.Millisecond)
	b.Update(100) // within 100 ms of the last draw: skipped
	now = t0.Add(2 * time.Second)
	b.Update(500)
	b.Done(1000)
	want := "\r[>                             ]   0.0%        0/1000 " +
		"\r[===============>              ]  50.0%      500/1000      0.2k/s" +
		"\r[==============================] 100.0%     1000/1000      0.5k/s\n"
	if out.String() != want {
		t.Fatalf("bar output\n%q\nwant\n%q", out.String(), want)
	}
}

// fakeImporter reads the file as the store would and reports progress per
// line.
type fakeImporter struct {
	ImportFn func(ctx context.Context, r io.Reader, progress func(int)) (int, error)
}

func (f *fakeImporter) ImportSubscribers(ctx context.Context, r io.Reader, progress func(int)) (int, error) {
	return f.ImportFn(ctx, r, progress)
}

var _ Importer = (*fakeImporter)(nil)

func TestImportFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "subs.jsonl")
	var file strings.Builder
	for i := range 5 {
		fmt.Fprintf(&file, "{\"n\":%d}\n", i)
	}
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []byte
	imp := &fakeImporter{ImportFn: func(_ context.Context, r io.Reader, progress func(int)) (int, error) {
		var err error
		got, err = io.ReadAll(r)
		progress(5)
		return 5, err
	}}
	var out bytes.Buffer
	n, err := ImportFile(context.Background(), imp, path, &out)
	if err != nil || n != 5 || string(got) != file.String() {
		t.Fatalf("ImportFile = %d, %v; store read %q", n, err, got)
	}
	if !strings.Contains(out.String(), "5/5") || !strings.HasSuffix(out.String(), "\n") {
		t.Fatalf("progress output %q", out.String())
	}
	if _, err := ImportFile(context.Background(), imp, filepath.Join(t.TempDir(), "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
