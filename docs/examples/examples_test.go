package examples

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/gateway/demo"
)

// toolOrSkip skips when a language's toolchain is not installed: the
// examples are checked wherever it is, and a failure of an installed tool
// always fails the test.
func toolOrSkip(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: this example is not checked here", tool)
		}
	}
}

// startDemo runs a small demo whose users answer at once.
func startDemo(t *testing.T) *demo.Demo {
	t.Helper()
	d, err := demo.Start(t.Context(), demo.Options{HTTPAddr: "127.0.0.1:0", AdminAddr: "off", SIMs: 10, APIKey: "example-key",
		UserDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	return d
}

// runExample runs an example program against the demo; it returns its
// output and exit status.
func runExample(t *testing.T, d *demo.Demo, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "IMZAGATE_URL=http://"+d.APIAddr(), "IMZAGATE_API_KEY="+d.APIKey())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out.String(), 0
}

// TestJavaClient compiles the Java example and runs it against a demo: a
// login completes and its signature verifies in Java; a wrong User ID is
// reported with its problem code.
func TestJavaClient(t *testing.T) {
	toolOrSkip(t, "javac", "java")
	classes := t.TempDir()
	if out, err := exec.Command("javac", "-Xlint:all", "-Werror", "-d", classes, filepath.Join("java", "ImzagateClient.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	d := startDemo(t)
	sub := d.Subscribers()[0]
	out, code := runExample(t, d, "java", "-cp", classes, "ImzagateClient", sub.PhoneNumber, sub.UserID)
	if code != 0 || !strings.Contains(out, "verification code ") || !strings.Contains(out, "result OK") ||
		!strings.Contains(out, "signature verified: ECDSA_P256") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, code = runExample(t, d, "java", "-cp", classes, "ImzagateClient", d.Subscribers()[1].PhoneNumber, "000000")
	if code != 1 || !strings.Contains(out, "refused: 422 USER_UNKNOWN") {
		t.Fatalf("wrong User ID: exit %d:\n%s", code, out)
	}
}

// TestPHPClient syntax-checks the PHP example and, with the curl
// extension, runs it against a demo.
func TestPHPClient(t *testing.T) {
	toolOrSkip(t, "php")
	script := filepath.Join("php", "imzagate.php")
	if out, err := exec.Command("php", "-l", script).CombinedOutput(); err != nil {
		t.Fatalf("php -l: %v\n%s", err, out)
	}
	mods, err := exec.Command("php", "-m").Output()
	if err != nil {
		t.Fatalf("php -m: %v", err)
	}
	if !strings.Contains(string(mods), "\ncurl\n") {
		t.Skip("php has no curl extension: the example was syntax-checked only")
	}
	d := startDemo(t)
	sub := d.Subscribers()[0]
	out, code := runExample(t, d, "php", script, sub.PhoneNumber, sub.UserID)
	if code != 0 || !strings.Contains(out, "result OK") || !strings.Contains(out, "signed by ") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
