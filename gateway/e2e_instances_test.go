package gateway_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/internal/simstack"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// TestTwoInstancesAndStoreOutage runs two gateways on one Redis and one
// SMSC account: sessions started on one complete through MOs the SMSC hands
// to either, and either answers the poll. Then Redis goes down while a
// reply is on its way: the gateway answers deliver_sm with a temporary
// error, the SMSC redelivers, and once Redis is back the reply is applied,
// not lost.
func TestTwoInstancesAndStoreOutage(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.StartWith(t, redistest.Options{AppendOnly: true})
	const cards = 7
	st := startStack(t, multiInstance(simstack.Options{
		Redis: simstack.Redis{Addrs: []string{srv.Addr}},
		SIMs:  cards, Seed: "two", Prefixes: []string{"99450"},
		Behaviour: func(i int) simcard.Behaviour {
			d := 20 * time.Millisecond
			if i == cards-1 {
				d = 500 * time.Millisecond // the outage card: time to stop Redis first
			}
			return simcard.Behaviour{Action: simcard.Approve, Delay: d}
		},
		SMSC:   smsc.Options{MaxAttempts: 100, RedeliveryDelay: 50 * time.Millisecond},
		Pepper: bytes.Repeat([]byte{9}, 32), ShutdownTimeout: 5 * time.Second,
		Server:    gateway.ServerOptions{UserTimeout: 10 * time.Second, DeliveryGrace: 20 * time.Second},
		SimLogger: testLogger(t),
	}))
	sm := st.SMSC()
	a, regA := startInstance(t, st, "a", nil)
	b, regB := startInstance(t, st, "b", nil)
	records := records(t, st)
	ea := &env{base: "http://" + a.APIAddr(), keys: map[string]string{"p1": "key-p1"}, records: records}
	eb := &env{base: "http://" + b.APIAddr(), keys: map[string]string{"p1": "key-p1"}, records: records}

	t.Run("started on one, answered on the other", func(t *testing.T) {
		ids := make([]string, cards-1)
		for i := range cards - 1 {
			st, m, _ := ea.do(t, "p1", "POST", "/v1/authentications", ea.startReq(i, "SHA256", nil))
			if st != 201 {
				t.Fatalf("start %d: %d %v", i, st, m)
			}
			ids[i] = m["sessionId"].(string)
		}
		for i, id := range ids {
			if got := eb.finish(t, "p1", id); got["result"] != sessions.ResultOK {
				t.Fatalf("session %d: %v", i, got)
			}
		}
		ra := metricSum(t, regA, "imzagate_mo_received_total", "reply")
		rb := metricSum(t, regB, "imzagate_mo_received_total", "reply")
		if ra+rb != cards-1 || rb == 0 || ra == 0 {
			t.Fatalf("replies handled: a=%v b=%v, want both > 0 and %d in all", ra, rb, cards-1)
		}
	})

	t.Run("Redis down while the reply arrives", func(t *testing.T) {
		before := sm.Stats().Redeliveries
		st, m, _ := ea.do(t, "p1", "POST", "/v1/authentications", ea.startReq(cards-1, "SHA256", nil))
		if st != 201 {
			t.Fatalf("start: %d %v", st, m)
		}
		srv.Stop()
		// The card answers; the gateway cannot store it and asks the SMSC to retry.
		deadline := time.Now().Add(15 * time.Second)
		for sm.Stats().Redeliveries < before+2 {
			if time.Now().After(deadline) {
				t.Fatalf("no redelivery while Redis was down: %+v", sm.Stats())
			}
			time.Sleep(20 * time.Millisecond)
		}
		srv.Restart(t)
		if got := eb.finish(t, "p1", m["sessionId"].(string)); got["result"] != sessions.ResultOK {
			t.Fatalf("after the outage: %v", got)
		}
		if lost := sm.Stats().Lost; lost != 0 {
			t.Fatalf("%d deliveries lost", lost)
		}
	})
}

// multiInstance completes the options of a multi-instance test: no
// gateway until startInstance, every one binding with the account gw/pw
// of the operator azercell and accepting portal p1.
func multiInstance(o simstack.Options) simstack.Options {
	o.NoGateway = true
	o.Operator, o.SystemID, o.Password = "azercell", "gw", "pw"
	o.Portals = []simstack.Portal{{Portal: gateway.Portal{ID: "p1", RateLimit: 1000, Burst: 1000}, APIKey: "key-p1"}}
	return o
}

// startInstance starts one more gateway of st, its binds named name, with
// a registry of its own and, when hook is set, its own Redis calls hooked.
func startInstance(t *testing.T, st *simstack.Stack, name string, hook redis.Hook) (*gateway.Gateway, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	gw, err := st.StartInstance(t.Context(), simstack.Instance{Name: name, Registry: reg, RedisHook: hook})
	if err != nil {
		t.Fatal(err)
	}
	return gw, reg
}

// metricSum reads a counter series with one label value from a registry.
func metricSum(t *testing.T, g prometheus.Gatherer, name, labelValue string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == labelValue {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
