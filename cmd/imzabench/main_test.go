package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestHelpDocumentsEveryFlag(t *testing.T) {
	var out bytes.Buffer
	if code := run(t.Context(), []string{"--help"}, &out, &out); code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	fs, _ := newFlags(&bytes.Buffer{})
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(out.String(), "  -"+f.Name) || f.Usage == "" {
			t.Errorf("--help does not document -%s", f.Name)
		}
	})
	if n < 20 {
		t.Errorf("only %d flags", n)
	}
	for _, want := range []string{"--concurrency", "--rate", "--target", "coordinated", "intended"} {
		if !strings.Contains(out.String(), want) && !strings.Contains(out.String(), strings.TrimPrefix(want, "-")) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--nope"}, "flag provided but not defined"},
		{"extra argument", []string{"extra"}, "unexpected arguments"},
		{"bad mix", []string{"--mix", "auth=x"}, "mix"},
		{"bad sweep", []string{"--sweep", "0"}, "rates"},
		{"bad plot format", []string{"--plot-format", "gif"}, "plot-format"},
		{"target without key", []string{"--target", "http://127.0.0.1:1"}, "api-key"},
		{"bad user delay", []string{"--user-delay", "soon"}, "user-delay"},
		{"bad sims", []string{"--sims", "0"}, "sims"},
	}
	t.Setenv("IMZABENCH_API_KEY", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(t.Context(), tt.args, &out, &errOut); code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, errOut.String())
			}
			if !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tt.want)
			}
		})
	}
}

// portal is a minimal portal API completing every session at once.
func portal(t *testing.T) (url string, starts *atomic.Int64) {
	starts = new(atomic.Int64)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/authentications", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer key-1" {
			w.WriteHeader(401)
			return
		}
		n := starts.Add(1)
		w.WriteHeader(201)
		fmt.Fprintf(w, `{"sessionId":"s%d"}`, n)
	})
	mux.HandleFunc("GET /v1/sessions/{id}", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UTC()
		fmt.Fprintf(w, `{"state":"COMPLETE","result":"OK","stages":{"accepted":%q,"submitted":%q,"completed":%q}}`,
			now.Add(-3*time.Millisecond).Format(time.RFC3339Nano), now.Add(-2*time.Millisecond).Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL, starts
}

func TestTargetRunWritesReportAndPlots(t *testing.T) {
	url, starts := portal(t)
	dir := t.TempDir()
	users := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(users, []byte("+994501234567,123456\n+994501234568,123457\n+994501234569,123458\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	jsonOut := filepath.Join(dir, "out", "report.json")
	plots := filepath.Join(dir, "plots")
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"--target", url, "--api-key", "key-1", "--users", users,
		"--sweep", "40,80", "--duration", "250ms", "--warmup", "0s", "--progress", "100ms",
		"--json", jsonOut, "--plots", plots}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, errOut.String())
	}
	var rep struct {
		Target string `json:"target"`
		Runs   []struct {
			OfferedRate float64 `json:"offeredRate"`
			Completed   int64   `json:"completed"`
		} `json:"runs"`
	}
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Target != url || len(rep.Runs) != 2 || rep.Runs[0].OfferedRate != 40 || rep.Runs[1].OfferedRate != 80 {
		t.Fatalf("report: %s", data)
	}
	// 40/s and 80/s for 250 ms schedule 10 and 20 sessions.
	if got := rep.Runs[0].Completed + rep.Runs[1].Completed; got != 30 || starts.Load() != 30 {
		t.Errorf("completed %d, server saw %d starts; want 30", got, starts.Load())
	}
	for _, f := range []string{"latency-histogram.svg", "latency-vs-load.svg"} {
		b, err := os.ReadFile(filepath.Join(plots, f))
		if err != nil || !bytes.HasPrefix(b, []byte("<?xml")) {
			t.Errorf("plot %s: %v", f, err)
		}
	}
	if !strings.Contains(out.String(), "throughput") || !strings.Contains(out.String(), "p99.9") {
		t.Errorf("no table on stdout:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "ok") {
		t.Errorf("no progress line on stderr:\n%s", errOut.String())
	}
}
