package main

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

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
