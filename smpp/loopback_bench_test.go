package smpp_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// BenchmarkLoopbackSubmit measures one bind with window 64 against the test
// SMSC on 127.0.0.1: 64 submitters keep the window full; ns/op is the time
// per submit_sm at that concurrency and submits/s the throughput.
func BenchmarkLoopbackSubmit(b *testing.B) {
	srv := smsctest.Start(b, smsc.Options{Window: 64})
	cfg := smpp.BindConfig{Addr: srv.Addr(), SystemID: "esme", Password: "secret", Window: 64, SourceAddr: "9412"}
	c, err := smpp.NewClient(cfg, smpp.ClientOptions{})
	if err != nil {
		b.Fatal(err)
	}
	goRun(b, c.Run)
	for !c.Bound() {
		time.Sleep(time.Millisecond)
	}
	jobs := make(chan struct{}, 1024)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for range jobs {
				_, err := c.Submit(context.Background(), &smpp.SubmitSM{Message: smpp.Message{
					DestTON: 1, DestNPI: 1, DestAddr: "994501234567", ESMClass: 0x40, ProtocolID: 0x7F,
					DataCoding: 0xF6, ShortMessage: make([]byte, 140)}})
				if err != nil {
					b.Error(err)
				}
			}
		})
	}
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		jobs <- struct{}{}
		n++
	}
	close(jobs)
	wg.Wait()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "submits/s")
	if st := srv.Stats(); st.Throttled != 0 {
		b.Errorf("SMSC throttled %d submits: window exceeded", st.Throttled)
	}
}
