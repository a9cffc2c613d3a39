package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// startDemo runs a small demo on free ports with quick users.
func startDemo(t *testing.T, sims int) *Demo {
	t.Helper()
	d, err := Start(t.Context(), Options{HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", SIMs: sims,
		APIKey: "demo-key", UserDelay: 100 * time.Millisecond, UserTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return d
}

// need skips when a tool is missing, except under CI where it fails.
func need(t *testing.T, tools ...string) {
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

func TestDemoSubscribers(t *testing.T) {
	d := startDemo(t, 20)
	req, _ := http.NewRequest("GET", "http://"+d.APIAddr()+"/v1/demo/subscribers", nil)
	req.Header.Set("Authorization", "Bearer demo-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got struct {
		Subscribers []struct {
			PhoneNumber, UserID, Behaviour string
			Certificates                   []struct{ Type, TaxID, Status string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if len(got.Subscribers) != 20 {
		t.Fatalf("%d subscribers", len(got.Subscribers))
	}
	behaviours := map[string]bool{}
	for _, s := range got.Subscribers {
		behaviours[s.Behaviour] = true
		if !regexp.MustCompile(`^\+994\d{9}$`).MatchString(s.PhoneNumber) || len(s.UserID) != 6 || len(s.Certificates) < 2 {
			t.Fatalf("subscriber %+v", s)
		}
	}
	for _, b := range []string{"approve", "cancel", "wrong-pin-1x-then-approve", "wrong-pin-until-blocked", "no-answer"} {
		if !behaviours[b] {
			t.Errorf("no %s user in %v", b, behaviours)
		}
	}
	// The list is a demo-only endpoint behind the API key.
	resp2, _ := http.Get("http://" + d.APIAddr() + "/v1/demo/subscribers")
	resp2.Body.Close()
	if resp2.StatusCode != 401 {
		t.Fatalf("without key: %d", resp2.StatusCode)
	}
}

// TestREADMEWalkthrough runs the README's curl walk-through, as written,
// against a demo (only the address is changed to the test's free port).
func TestREADMEWalkthrough(t *testing.T) {
	need(t, "bash", "curl", "openssl", "base64")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- walkthrough:begin -->")
	block, _, ok2 := strings.Cut(rest, "<!-- walkthrough:end -->")
	if !ok || !ok2 {
		t.Fatal("README has no walk-through markers")
	}
	var script strings.Builder
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(block, -1) {
		script.WriteString(m[1])
	}
	if !strings.Contains(script.String(), "127.0.0.1:8080") {
		t.Fatal("walk-through does not talk to the demo's default address")
	}
	// The README names card 0 of the default seed; the demo must agree.
	d := startDemo(t, 10)
	first := d.Subscribers()[0]
	if !strings.Contains(script.String(), "PHONE="+first.PhoneNumber+" USERID="+first.UserID) {
		t.Fatalf("README's phone/User ID differ from the demo's card 0 (%s, %s)", first.PhoneNumber, first.UserID)
	}
	src := strings.ReplaceAll(script.String(), "127.0.0.1:8080", d.APIAddr())
	cmd := exec.CommandContext(t.Context(), "bash", "-euo", "pipefail", "-c", src)
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("walk-through failed: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
	}
	if n := strings.Count(out.String(), `"result":"OK"`); n != 2 {
		t.Fatalf("%d OK results, want 2:\n%s\n%s", n, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), `"certificates":[`) || !strings.Contains(out.String(), `"algorithm":"ECDSA_P256"`) {
		t.Fatalf("output lacks certificates or signature:\n%s", out.String())
	}
}

// TestDemoWithRedisURL runs the demo on a real redis-server (--redis) and
// completes a login through it.
func TestDemoWithRedisURL(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	d, err := Start(t.Context(), Options{HTTPAddr: "127.0.0.1:0", AdminAddr: "off", SIMs: 5, APIKey: "k",
		RedisURL: "redis://" + srv.Addr + "/0", UserDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown(context.Background())
	if keys, err := srv.Do("DBSIZE"); err != nil || keys == "0" {
		t.Fatalf("nothing provisioned in the real Redis: %q %v", keys, err)
	}
	sub := d.Subscribers()[0]
	body := `{"phoneNumber":"` + sub.PhoneNumber + `","userId":"` + sub.UserID + `","hash":"` + strings.Repeat("A", 43) + `=","hashType":"SHA256"}`
	req, _ := http.NewRequest("POST", "http://"+d.APIAddr()+"/v1/authentications", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("%d %v", resp.StatusCode, started)
	}
	req, _ = http.NewRequest("GET", "http://"+d.APIAddr()+"/v1/sessions/"+started["sessionId"].(string)+"?timeoutMs=20000", nil)
	req.Header.Set("Authorization", "Bearer k")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got["result"] != "OK" {
		t.Fatalf("%v", got)
	}
}
