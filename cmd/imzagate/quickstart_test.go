package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// readmeBlock returns the shell code between <!-- name:begin --> and
// <!-- name:end --> in the README.
func readmeBlock(t *testing.T, readme, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "<!-- "+name+":begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- "+name+":end -->")
	if !ok || !ok2 {
		t.Fatalf("README has no %s markers", name)
	}
	var script strings.Builder
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(block, -1) {
		script.WriteString(m[1])
	}
	return script.String()
}

// needTools skips when a tool is missing, except under CI where it fails.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found; CI is set, so this is a failure (make deps installs it)", tool)
			}
			t.Skipf("%s not found (make deps installs it)", tool)
		}
	}
}

// TestREADMEQuickstart runs the README's operator quick start as written,
// with real processes: redis-server, `imzagate secrets generate`, `config
// check`, `smscsim --sims`, `imzagate provision`, `imzagate serve` and
// `imzagate smoke`, which must end with a verified login and signature.
// Only the build is the test's own (`go build` as `make build` runs it, of
// the two commands used, into a temporary bin/), and the four ports are replaced by free
// ones, in the commands and in the quick-start configuration alike.
func TestREADMEQuickstart(t *testing.T) {
	redistest.RequireBinaries(t)
	needTools(t, "bash", "curl", "sed", "grep")
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	build := readmeBlock(t, readme, "quickstart-build")
	if build != "make build\nexport PATH=\"$PWD/bin:$PATH\"\n" {
		t.Fatalf("the build step changed; update this test:\n%s", build)
	}
	script := readmeBlock(t, readme, "quickstart")
	root := t.TempDir()
	gobuild := exec.Command("go", "build", "-o", filepath.Join(root, "bin")+"/", "./cmd/imzagate", "./cmd/smscsim")
	gobuild.Dir = "../.."
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cfg, err := os.ReadFile("../../deploy/imzagate.quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := string(cfg)
	// Through placeholders, so that a free port holding another's digits
	// is not replaced again.
	var frees []string
	for i, port := range []string{"6379", "2775", "8080", "9090"} {
		free, err := redistest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(script, port) || !strings.Contains(config, port) {
			t.Fatalf("port %s is not in both the README's commands and the quick-start configuration", port)
		}
		token := "\x00port" + strconv.Itoa(i) + "\x00"
		script, config = strings.ReplaceAll(script, port, token), strings.ReplaceAll(config, port, token)
		frees = append(frees, token, strconv.Itoa(free))
	}
	r := strings.NewReplacer(frees...)
	script, config = r.Replace(script), r.Replace(config)
	if err := os.MkdirAll(filepath.Join(root, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "deploy", "imzagate.quickstart.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", build[strings.Index(build, "export"):]+script)
	cmd.Dir = root
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "IMZAGATE_API_KEY=", "IMZAGATE_PEPPER=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	// Whatever happened, nothing the script started outlives the test.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	logs := func() string {
		var b strings.Builder
		for _, f := range []string{"imzagate.log", "smscsim.log", "redis.log"} {
			data, _ := os.ReadFile(filepath.Join(root, "quickstart", f))
			b.WriteString("--- " + f + "\n" + string(data))
		}
		return b.String()
	}
	if err != nil {
		t.Fatalf("quick start failed after %v: %v\nstdout:\n%s\nstderr:\n%s\n%s", time.Since(start), err, out.String(), errb.String(), logs())
	}
	t.Logf("quick start ran in %v:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	for _, want := range []string{
		"imzagate.yaml: no problems", "1000 subscribers imported",
		"login signature  ECDSA_P256 verified against the authentication certificate",
		"sign  signature  ECDSA_P256 verified against the personal certificate",
		"smoke: OK (login and signature verified)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	for _, re := range []string{`login submitted  \+\d+`, `login delivered  \+\d+`, `sign  completed  \+[\d.]+m?s  result OK`} {
		if !regexp.MustCompile(re).MatchString(out.String()) {
			t.Errorf("output lacks a stage matching %s:\n%s", re, out.String())
		}
	}
	gw, _ := os.ReadFile(filepath.Join(root, "quickstart", "imzagate.log"))
	if !strings.Contains(string(gw), `"msg":"gateway stopped"`) || strings.Contains(string(gw), "994501000000") {
		t.Errorf("gateway log: no clean stop, or a phone number in clear:\n%s", gw)
	}
	for _, line := range strings.Split(string(gw), "\n") {
		if n := strings.Count(line, `"session_id":`); n > 1 || (n == 0 && strings.Contains(line, `"msg":"session completed"`)) {
			t.Errorf("a log line names its session %d times: %s", n, line)
		}
	}
	if n := strings.Count(string(gw), `"msg":"session completed"`); n != 2 {
		t.Errorf("%d session completed lines, want 2", n)
	}
	if fi, err := os.Stat(filepath.Join(root, "quickstart", "secrets", "pepper")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("pepper file: %v %v", fi.Mode(), err)
	}
}
