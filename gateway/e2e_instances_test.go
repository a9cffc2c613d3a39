package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/demo"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
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
	var master applet.MasterKeys
	for _, k := range []*[16]byte{&master.KIc, &master.KID, &master.KIcMO, &master.KIDMO} {
		_, _ = rand.Read(k[:])
	}
	const cards = 7
	farm, err := simcard.New(simcard.Options{Cards: cards, Seed: []byte("two"), Master: master, Prefixes: []string{"99450"},
		Behaviour: func(i int) simcard.Behaviour {
			d := 20 * time.Millisecond
			if i == cards-1 {
				d = 500 * time.Millisecond // the outage card: time to stop Redis first
			}
			return simcard.Behaviour{Action: simcard.Approve, Delay: d}
		}})
	if err != nil {
		t.Fatal(err)
	}
	sm := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"gw": "pw"}, Handset: farm,
		MaxAttempts: 100, RedeliveryDelay: 50 * time.Millisecond})
	pepper := bytes.Repeat([]byte{9}, 32)
	start := func(name string) (*gateway.Gateway, *prometheus.Registry) {
		return startInstance(t, instance{name: name, redisAddr: srv.Addr, smscAddr: sm.Addr(), pepper: pepper, master: master,
			shutdown: 5 * time.Second})
	}
	a, regA := start("a")
	b, regB := start("b")
	records := provision(t, farm, a.Store(), cards)
	waitReady(t, a, b)
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

// metricSum reads a counter series with one label value from a registry.
// instance is one gateway of a multi-instance test: its own Redis client and
// registry, one transceiver bind of the shared account "gw", portal p1.
type instance struct {
	name, redisAddr, smscAddr string
	pepper                    []byte
	master                    applet.MasterKeys
	hook                      redis.Hook // optional: observe or break this instance's Redis calls
	shutdown                  time.Duration
	server                    func(*gateway.ServerOptions) // optional: more portal API settings
}

// provision stores the first n cards of farm as subscribers of operator
// azercell and returns their records.
func provision(t *testing.T, farm *simcard.Farm, st *sessions.Store, n int) []simcard.Record {
	t.Helper()
	records := make([]simcard.Record, 0, n)
	for i := range n {
		rec, err := farm.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		sub, err := demo.SubscriberFromRecord(rec, "azercell")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutSubscriber(t.Context(), sub, rec.UserID); err != nil {
			t.Fatal(err)
		}
		records = append(records, rec)
	}
	return records
}

// startInstance starts in and shuts it down when the test ends.
func startInstance(t *testing.T, in instance) (*gateway.Gateway, *prometheus.Registry) {
	t.Helper()
	rdb := redis.NewUniversalClient(sessions.ClientOptions([]string{in.redisAddr}, ""))
	if in.hook != nil {
		rdb.AddHook(in.hook)
	}
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewRegistry()
	server := gateway.ServerOptions{
		Portals:     []gateway.Portal{{ID: "p1", APIKeySHA256: gateway.HashAPIKey("key-p1"), RateLimit: 1000, Burst: 1000}},
		UserTimeout: 10 * time.Second, DeliveryGrace: 20 * time.Second,
	}
	if in.server != nil {
		in.server(&server)
	}
	gw, err := gateway.Start(t.Context(), gateway.Options{
		HTTPAddr: "127.0.0.1:0", AdminAddr: "off", Redis: rdb, Pepper: in.pepper, MasterKeys: in.master,
		Operators: []smpp.Operator{{Name: "azercell", Prefixes: []string{"994"},
			Binds: []smpp.BindConfig{{Name: in.name, Addr: in.smscAddr, SystemID: "gw", Password: "pw", SourceAddr: "9944000"}}}},
		Server:   server,
		Registry: reg, ShutdownTimeout: in.shutdown,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*in.shutdown)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return gw, reg
}

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
