package gateway_test

import (
	"context"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/internal/simstack"
)

// BenchmarkLoginRoundTrip measures one login through the whole system on
// loopback: HTTP start → Redis → SMPP submit → test SMSC → simulated SIM
// (answering at once) → MO deliver_sm → correlator → Redis → long-poll
// answer. Cards rotate so each has one session at a time.
func BenchmarkLoginRoundTrip(b *testing.B) {
	const cards = 16
	st, err := simstack.Start(context.Background(), simstack.Options{SIMs: cards,
		Portals: []simstack.Portal{{Portal: gateway.Portal{ID: "p1", RateLimit: 1e6, Burst: 1e6}, APIKey: "k"}}})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Shutdown(context.Background())
	e := &env{base: "http://" + st.APIAddr(), keys: map[string]string{"p1": "k"}}
	for _, s := range st.Subscribers() {
		e.records = append(e.records, simcard.Record{MSISDN: s.Phone[1:], UserID: s.UserID})
	}
	i := 0
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		st, m, _ := e.do(b, "p1", "POST", "/v1/authentications", e.startReq(i%cards, "SHA256", nil))
		if st != 201 {
			b.Fatalf("start: %d %v", st, m)
		}
		_, got, _ := e.do(b, "p1", "GET", "/v1/sessions/"+m["sessionId"].(string)+"?timeoutMs=20000", nil)
		if got["result"] != "OK" {
			b.Fatalf("%v", got)
		}
		i++
	}
	b.ReportMetric(float64(i)/time.Since(start).Seconds(), "logins/s")
}
