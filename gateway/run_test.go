package gateway

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/smpp"
)

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// offlineGateway builds a gateway whose Redis and SMSC are never reached:
// enough to serve the API's static answers and the admin listener.
func offlineGateway(t *testing.T) *Gateway {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: refusedAddr(t), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	g, err := newGateway(t.Context(), Options{
		HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", Redis: rdb, Pepper: bytes.Repeat([]byte{1}, 32), MemorySegments: true,
		Operators:       []smpp.Operator{{Name: "op", Prefixes: []string{"994"}, Binds: []smpp.BindConfig{{Addr: refusedAddr(t), SystemID: "gw"}}}},
		Server:          ServerOptions{Portals: []Portal{{ID: "p", APIKeySHA256: HashAPIKey("k")}}},
		Trust:           trust.Options{Mode: trust.ModeProvisionedOnly},
		ShutdownTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// waitServing polls url until it answers.
func waitServing(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered: %v", url, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunReturnsWhenAListenerDies: a listener closed from under a running
// gateway makes run (and so Run) return its error, and the rest is shut
// down: the other listener stops answering.
func TestRunReturnsWhenAListenerDies(t *testing.T) {
	for _, tt := range []struct {
		name  string
		kill  func(g *Gateway) error
		other func(g *Gateway) string
	}{
		{"api", func(g *Gateway) error { return g.apiLn.Close() }, func(g *Gateway) string { return "http://" + g.AdminAddr() + "/healthz" }},
		{"admin", func(g *Gateway) error { return g.adminLn.Close() }, func(g *Gateway) string { return "http://" + g.APIAddr() + "/v1/openapi.yaml" }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := offlineGateway(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- g.run(ctx) }()
			other := tt.other(g)
			waitServing(t, other)
			waitServing(t, "http://"+g.APIAddr()+"/v1/openapi.yaml")
			if err := tt.kill(g); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("run returned nil after its listener died")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("run did not notice that its listener died")
			}
			if resp, err := http.Get(other); err == nil {
				resp.Body.Close()
				t.Fatalf("%s still answers after the gateway stopped", other)
			}
			if err := g.Ready(t.Context()); err == nil {
				t.Fatal("ready after the gateway stopped")
			}
		})
	}
}

// TestRunStopsWhenContextEnds: the ordinary end: run returns nil once its
// context ends, both listeners closed.
func TestRunStopsWhenContextEnds(t *testing.T) {
	g := offlineGateway(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.run(ctx) }()
	api := "http://" + g.APIAddr() + "/v1/openapi.yaml"
	waitServing(t, api)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
	for _, url := range []string{api, "http://" + g.AdminAddr() + "/healthz"} {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			t.Fatalf("%s still answers", url)
		}
	}
}

// TestOptionsValidate: the zero values get their defaults; bad values are
// refused with an error naming them.
func TestOptionsValidate(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	ops := []smpp.Operator{{Name: "op"}}
	o := Options{Redis: rdb, Operators: ops}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	if o.HTTPAddr != "127.0.0.1:8080" || o.AdminAddr != "127.0.0.1:9090" || o.ShutdownTimeout != 20*time.Second || o.Logger == nil || o.Registry == nil {
		t.Fatalf("defaults %+v", o)
	}
	for _, bad := range []Options{
		{Operators: ops},
		{Redis: rdb},
		{Redis: rdb, Operators: ops, InboundWorkers: 257},
		{Redis: rdb, Operators: ops, ShutdownTimeout: -time.Second},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	so := ServerOptions{Store: &fakeStore{}, OTA: &fakeOTA{}, Portals: []Portal{{ID: "p"}}}
	if err := so.validate(); err != nil {
		t.Fatal(err)
	}
	if so.UserTimeout != time.Minute || so.DeliveryGrace != 30*time.Second || so.MaxLongPoll != 2*time.Minute ||
		len(so.LogKey) != 32 || so.Callbacks.Workers != 8 || so.Callbacks.Queue != 1024 || so.Callbacks.Client == nil {
		t.Fatalf("server defaults %+v", so)
	}
	for _, bad := range []ServerOptions{
		{OTA: &fakeOTA{}, Portals: []Portal{{ID: "p"}}},
		{Store: &fakeStore{}, OTA: &fakeOTA{}},
		{Store: &fakeStore{}, OTA: &fakeOTA{}, Portals: []Portal{{ID: "p"}}, UserTimeout: 9 * time.Second},
		{Store: &fakeStore{}, OTA: &fakeOTA{}, Portals: []Portal{{ID: "p"}}, UserTimeout: 256 * time.Second},
		{Store: &fakeStore{}, OTA: &fakeOTA{}, Portals: []Portal{{ID: "p"}}, MaxLongPoll: -1},
		{Store: &fakeStore{}, OTA: &fakeOTA{}, Portals: []Portal{{ID: "p"}}, Callbacks: CallbackOptions{Workers: -1}},
		{Store: &fakeStore{}, OTA: &fakeOTA{}, Portals: []Portal{{ID: "p"}}, Callbacks: CallbackOptions{Queue: maxCallbackQueue + 1}},
	} {
		if err := bad.validate(); err == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
	if _, err := NewServer(so); err == nil {
		t.Error("NewServer without a Sender accepted")
	}
}
