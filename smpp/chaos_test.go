package smpp_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// echoFarm answers each MT with a two-segment MO whose content is derived
// from the number, so a test can check every reply arrives whole.
type echoFarm struct{}

func echoReply(msisdn string) []byte {
	return append([]byte{0x02, 0x71, 0x00}, []byte("reply-from-"+msisdn)...)
}

func (echoFarm) HandleMT(msisdn string, _ []byte, reply func([]byte)) error {
	n, _ := strconv.Atoi(msisdn[len(msisdn)-4:])
	body := []byte("reply-from-" + msisdn)
	half := len(body) / 2
	ref := uint16(n)
	reply(udhConcat16(ref, 2, 1, []byte{0x71, 0x00}, body[:half]...))
	reply(udhConcat16(ref, 2, 2, nil, body[half:]...))
	return nil
}

// TestChaosNoSilentLoss: connections drop every 25 requests and the handler
// fails one call in four; every number whose submit was accepted still gets
// its reply, whole, at least once.
func TestChaosNoSilentLoss(t *testing.T) {
	srv := smsctest.Start(t, smsc.Options{Handset: echoFarm{}, RedeliveryDelay: 5 * time.Millisecond, MaxAttempts: 20,
		Faults: smsc.Faults{DisconnectAfter: 25}})
	rec := newRecorder()
	var fmu sync.Mutex
	calls := 0
	rec.moErr = func(int) error {
		fmu.Lock()
		defer fmu.Unlock()
		calls++
		if calls%4 == 0 {
			return errors.New("store hiccup")
		}
		return nil
	}
	b1, b2 := fastBind(srv.Addr()), fastBind(srv.Addr())
	b1.Name, b2.Name = "a", "b"
	p := startPool(t, rec, smpp.Operator{Name: "azercell", Prefixes: []string{"99450"},
		Binds: []smpp.BindConfig{b1, b2}, Breaker: smpp.BreakerConfig{Failures: 1 << 20}})

	const n = 60
	accepted := make(chan string, n)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := w; i < n; i += 6 {
				msisdn := fmt.Sprintf("9945000%05d", i)
				for attempt := 0; ; attempt++ {
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
					_, err := p.Submit(ctx, msisdn, [][]byte{seg(byte(i))})
					cancel()
					if err == nil {
						accepted <- msisdn
						break
					}
					if !errors.Is(err, smpp.ErrOutcomeUnknown) && !errors.Is(err, smpp.ErrOperatorUnavailable) || attempt > 50 {
						t.Errorf("%s: %v", msisdn, err)
						return
					}
					time.Sleep(5 * time.Millisecond) // binds are reconnecting
				}
			}
		})
	}
	wg.Wait()
	close(accepted)
	want := map[string]bool{}
	for m := range accepted {
		want[m] = true
	}
	if len(want) != n {
		t.Fatalf("%d of %d accepted", len(want), n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec.mu.Lock()
		got := map[string]bool{}
		for _, mo := range rec.mos {
			if !bytes.Equal(mo.UserData, echoReply(mo.Source)) {
				t.Errorf("reply from %s corrupted: %x", mo.Source, mo.UserData)
			}
			got[mo.Source] = true
		}
		rec.mu.Unlock()
		if len(got) == n {
			break
		}
		if time.Now().After(deadline) {
			var missing []string
			for m := range want {
				if !got[m] {
					missing = append(missing, m)
				}
			}
			t.Fatalf("%d replies missing: %v (stats %+v)", len(missing), missing, srv.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := srv.Stats(); st.Binds < 4 || st.Redeliveries == 0 {
		t.Errorf("faults not exercised: %+v", st)
	}
}
