package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp"
)

func TestServeBindsAndSubmits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"-listen", "127.0.0.1:0", "-accounts", "esme:secret", "-undeliv", "994500000000"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	if !sc.Scan() {
		t.Fatal("no output")
	}
	addr, ok := strings.CutPrefix(sc.Text(), "listening on ")
	if !ok {
		t.Fatalf("first line %q", sc.Text())
	}
	go io.Copy(io.Discard, pr)
	c, err := smpp.NewClient(smpp.BindConfig{Addr: addr, SystemID: "esme", Password: "secret"}, smpp.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- c.Run(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !c.Bound() {
		if time.Now().After(deadline) {
			t.Fatalf("not bound: %+v", c.Status())
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := c.Submit(ctx, &smpp.SubmitSM{Message: smpp.Message{DestAddr: "994501234567", ShortMessage: []byte{1}}})
	if err != nil || resp.MessageID == "" {
		t.Fatalf("submit: %+v %v", resp, err)
	}
	stopRun()
	if err := <-ran; err != nil {
		t.Errorf("client Run: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestParseAccounts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
		ok   bool
	}{
		{"one", "esme:secret", map[string]string{"esme": "secret"}, true},
		{"two", "a:1, b:2", map[string]string{"a": "1", "b": "2"}, true},
		{"empty", "", nil, false},
		{"no colon", "esme", nil, false},
		{"password too long", "esme:123456789", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAccounts(tt.in)
			if (err == nil) != tt.ok || len(got) != len(tt.want) {
				t.Fatalf("parseAccounts(%q) = %v, %v", tt.in, got, err)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// TestServeWithSIMs: --sims puts a farm behind the SMSC, keyed from the
// gateway's master-keys file, and writes the cards' provisioning file (which
// the store imports, User IDs included) and their CA's certificate (which
// every card certificate chains to), before it listens.
func TestServeWithSIMs(t *testing.T) {
	redistest.RequireBinaries(t)
	dir := t.TempDir()
	master := applet.GenerateMasterKeys()
	keys := filepath.Join(dir, "master-keys")
	if err := os.WriteFile(keys, applet.FormatMasterKeys(master), 0o600); err != nil {
		t.Fatal(err)
	}
	subs, caFile, interFile := filepath.Join(dir, "subscribers.jsonl"), filepath.Join(dir, "ca.pem"), filepath.Join(dir, "issuing.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"-listen", "127.0.0.1:0", "-accounts", "gw:pw", "--sims", "20", "--master-keys", keys,
			"--export-subscribers", subs, "--export-ca", caFile, "--export-issuing-ca", interFile, "--ca-listen", "127.0.0.1:0",
			"--operator", "sim"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "listening on ") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	want := []string{"wrote 20 subscribers to " + subs, "wrote the simulated CA's root certificate to " + caFile,
		"wrote the simulated CA's issuing CA certificate to " + interFile,
		"20 simulated SIMs; try +994501000000 with User ID 437234 (approve)"}
	if len(lines) != 6 || strings.Join(lines[:4], "\n") != strings.Join(want, "\n") ||
		!strings.HasPrefix(lines[4], "certification authority: OCSP and CRLs on http://127.0.0.1:") {
		t.Fatalf("output %q", lines)
	}
	// Every exported certificate chains to the root through the issuing CA.
	pool, inters := x509.NewCertPool(), x509.NewCertPool()
	caPEM, _ := os.ReadFile(caFile)
	interPEM, _ := os.ReadFile(interFile)
	if !pool.AppendCertsFromPEM(caPEM) || !inters.AppendCertsFromPEM(interPEM) {
		t.Fatal("no certificate in a CA file")
	}
	// The store imports the file; the User IDs in it are the cards'.
	srv := redistest.Start(t)
	rdb := redis.NewUniversalClient(sessions.ClientOptions([]string{srv.Addr}, ""))
	defer rdb.Close()
	st, err := sessions.New(rdb, sessions.Options{Pepper: []byte(strings.Repeat("p", 32))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, _ := os.Open(subs)
	n, err := st.ImportSubscribers(ctx, f, nil)
	f.Close()
	if err != nil || n != 20 {
		t.Fatalf("imported %d: %v", n, err)
	}
	farm, _ := simcard.New(simcard.Options{Cards: 20, Seed: []byte(simcard.DemoSeed), Master: master})
	for _, i := range []int{0, 7, 19} {
		card := farm.Card(i)
		sub, err := st.CheckUserID(ctx, "+"+card.MSISDN(), card.UserID())
		if err != nil || sub.ICCID != card.ICCID() || sub.Operator != "sim" || len(sub.Certificates) < 2 {
			t.Fatalf("card %d: %+v %v", i, sub, err)
		}
		for _, c := range sub.Certificates {
			x, _ := x509.ParseCertificate(c.DER)
			if len(x.OCSPServer) != 1 || !strings.HasPrefix(x.OCSPServer[0], strings.TrimPrefix(lines[4], "certification authority: OCSP and CRLs on ")) {
				t.Fatalf("card %d certificate %02x names OCSP %v, not the served CA", i, c.KeyRef, x.OCSPServer)
			}
			if _, err := x.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Fatalf("card %d certificate %02x does not chain to the exported CA: %v", i, c.KeyRef, err)
			}
		}
	}
	if fi, _ := os.Stat(subs); fi.Mode().Perm() != 0o600 {
		t.Errorf("provisioning file mode %v: it holds User IDs", fi.Mode())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestSIMFlagErrors: the farm's flags fail with what to do.
func TestSIMFlagErrors(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "master-keys")
	_ = os.WriteFile(keys, []byte("KIc=00\n"), 0o600)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--sims", "5"}, "needs --master-keys"},
		{[]string{"--sims", "5", "--master-keys", keys + ".missing"}, "imzagate secrets generate writes one"},
		{[]string{"--sims", "5", "--master-keys", keys}, "line 1: KIc must be 32 hex digits"},
		{[]string{"--export-subscribers", "x.jsonl"}, "need --sims N"},
		{[]string{"--sims", "-1", "--master-keys", keys}, "want 1–100000"},
	} {
		err := serve(context.Background(), append([]string{"-listen", "127.0.0.1:0", "-accounts", "gw:pw"}, tt.args...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
}
