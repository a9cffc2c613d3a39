package smpp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// An SMSC that keeps the bind and answers enquire_link but never answers
// submit_sm: every Submit returns within the operator's SubmitTimeout
// (not the bind's 30 s request timeout) with ErrOutcomeUnknown, the
// breaker counts each as a failure and opens, and the next Submit fails
// fast without reaching the SMSC.
func TestSilentSMSCOpensBreaker(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Faults: smsc.Faults{UnansweredSubmits: true}})
	cfg := fastBind(srv.Addr())
	cfg.RequestTimeout = 30 * time.Second
	cfg.EnquireLinkInterval = 20 * time.Millisecond
	reg := prometheus.NewRegistry()
	const bound = 200 * time.Millisecond
	p, err := smpp.NewPool(smpp.PoolOptions{Registerer: reg, Logger: testLogger(t), Operators: []smpp.Operator{{
		Name: "nar", Prefixes: []string{"99470"}, Binds: []smpp.BindConfig{cfg}, SubmitTimeout: bound,
		Breaker: smpp.BreakerConfig{Failures: 3, OpenTimeout: time.Minute},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, func(ctx context.Context) error { return p.Run(ctx, newRecorder()) })
	waitBound(t, p)
	for i := range 3 {
		start := time.Now()
		_, err := p.Submit(context.Background(), "994701234567", [][]byte{seg(1)})
		if took := time.Since(start); took > bound+time.Second {
			t.Fatalf("submit %d took %v, bound %v", i, took, bound)
		}
		if !errors.Is(err, smpp.ErrOutcomeUnknown) {
			t.Fatalf("submit %d: %v, want ErrOutcomeUnknown", i, err)
		}
		time.Sleep(50 * time.Millisecond) // enquire_links keep flowing in between
	}
	if s := p.BreakerState("nar"); s != "open" {
		t.Fatalf("breaker %s after three unanswered submits", s)
	}
	dropped := srv.Stats().Dropped
	start := time.Now()
	if _, err := p.Submit(context.Background(), "994701234567", [][]byte{seg(1)}); !errors.Is(err, smpp.ErrOperatorUnavailable) {
		t.Fatalf("open breaker: %v", err)
	}
	if time.Since(start) > 50*time.Millisecond || srv.Stats().Dropped != dropped {
		t.Fatal("the open breaker did not fail fast")
	}
	if v, _ := metricValue(t, reg, "imzagate_smpp_submits_total", map[string]string{"operator": "nar", "status": "outcome_unknown"}); v != 3 {
		t.Fatalf("outcome_unknown submits counted %v, want 3", v)
	}
	for _, st := range p.Status() {
		if !st.Bound {
			t.Fatalf("the silent SMSC's bind dropped: %+v", st)
		}
	}
}

// A submit whose time runs out while it waits for a window slot was never
// sent: ErrOperatorUnavailable, and it counts for the breaker (the window
// is full because the SMSC does not answer).
func TestSubmitWindowWaitBounded(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Faults: smsc.Faults{UnansweredSubmits: true}})
	cfg := fastBind(srv.Addr())
	cfg.Window = 1
	p, err := smpp.NewPool(smpp.PoolOptions{Logger: testLogger(t), Operators: []smpp.Operator{{
		Name: "nar", Prefixes: []string{"99470"}, Binds: []smpp.BindConfig{cfg}, SubmitTimeout: 300 * time.Millisecond,
		Breaker: smpp.BreakerConfig{Failures: 2, OpenTimeout: time.Minute},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, func(ctx context.Context) error { return p.Run(ctx, newRecorder()) })
	waitBound(t, p)
	first := make(chan error, 1)
	go func() {
		_, err := p.Submit(context.Background(), "994701234567", [][]byte{seg(1)})
		first <- err
	}()
	time.Sleep(50 * time.Millisecond) // the first holds the only slot
	// The second's time runs out before the first's frees the slot.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = p.Submit(ctx, "994701234567", [][]byte{seg(2)})
	if !errors.Is(err, smpp.ErrOperatorUnavailable) || errors.Is(err, smpp.ErrOutcomeUnknown) {
		t.Fatalf("waiting for the window: %v, want ErrOperatorUnavailable", err)
	}
	if err := <-first; !errors.Is(err, smpp.ErrOutcomeUnknown) {
		t.Fatalf("first: %v", err)
	}
	if s := p.BreakerState("nar"); s != "open" {
		t.Fatalf("breaker %s", s)
	}
}
