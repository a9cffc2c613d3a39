package gateway_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// TestAdminRecordsSurviveRestart: every admin call answered before a kill
// and restart of Redis (AOF, fsync always) is still in the trail after it,
// and the trail verifies.
func TestAdminRecordsSurviveRestart(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.StartWith(t, redistest.Options{AppendOnly: true})
	e := startAdminEnv(t, []string{srv.Addr})
	checkAdminRecordsSurvive(t, e, func() { srv.Restart(t) })
}

// TestAdminRecordsSurviveSentinelFailover: every admin call answered
// before the master dies is on the promoted replica (admin records wait
// for the replica before the call is answered), and the trail verifies.
func TestAdminRecordsSurviveSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover in -short mode")
	}
	set := redistest.StartSentinel(t)
	e := startAdminEnvOn(t, set.SentinelAddrs, redistest.SentinelMasterName)
	checkAdminRecordsSurvive(t, e, func() {
		set.Master.Stop()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if addr, err := set.MasterAddr(); err == nil && addr == set.Replica.Addr {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("no failover to the replica")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// checkAdminRecordsSurvive makes acknowledged admin changes, runs the
// fault, waits for the admin API to answer again, and finds every change's
// outcome record in a verified export.
func checkAdminRecordsSurvive(t *testing.T, e *adminEnv, fault func()) {
	t.Helper()
	e.register(t, acLogin)
	phone := "/admin/v1/subscribers/" + phoneOf(e, acLogin)
	acked := 0
	for i := range 10 {
		verb := "/suspend"
		if i%2 == 1 {
			verb = "/resume"
		}
		if st, m := e.adm(t, gateway.RoleSupport, "POST", phone+verb, nil); st != 200 {
			t.Fatalf("%s: %d %v", verb, st, m)
		}
		acked++
	}
	fault()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := e.adm(t, gateway.RoleSupport, "GET", phone, nil)
		if st == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the admin API did not recover after the fault: %d", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.admin+"/admin/v1/audit/export", nil)
	req.Header.Set("Authorization", "Bearer "+adminTokens[gateway.RoleAuditor])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rep, err := audit.VerifyFile(bytes.NewReader(body), e.pub); err != nil || !rep.OK() {
		t.Fatalf("the trail does not verify after the fault: %v", err)
	}
	found := 0
	for _, line := range bytes.Split(body, []byte("\n")) {
		rec, _, err := audit.ParseLine(line)
		if err == nil && rec.Kind == audit.KindAdminCall && rec.Outcome == "ok" &&
			(rec.Details["action"] == "subscriber.suspend" || rec.Details["action"] == "subscriber.resume") {
			found++
		}
	}
	if found != acked {
		t.Fatalf("%d acknowledged state changes, %d outcome records after the fault", acked, found)
	}
}

// TestWrongPepperStopsTheGateway: a gateway whose pepper does not match
// the registry's canary stops instead of calling every User ID wrong.
func TestWrongPepperStopsTheGateway(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	rdb := redis.NewUniversalClient(sessions.ClientOptions([]string{srv.Addr}, ""))
	t.Cleanup(func() { rdb.Close() })
	st, err := sessions.New(rdb, sessions.Options{Pepper: bytes.Repeat([]byte{1}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CheckPepper(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	sm := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"gw": "secret"}})
	gw, err := gateway.Start(t.Context(), gateway.Options{
		// The registry's word on certificates is what these tests change.
		Trust:    trust.Options{Mode: trust.ModeProvisionedOnly},
		HTTPAddr: "127.0.0.1:0", AdminAddr: "off", Redis: rdb, Pepper: bytes.Repeat([]byte{2}, 32),
		Operators: []smpp.Operator{{Name: "azercell", Prefixes: []string{"99450"},
			Binds: []smpp.BindConfig{{Addr: sm.Addr(), SystemID: "gw", Password: "secret"}}}},
		Server: gateway.ServerOptions{Portals: []gateway.Portal{{ID: "p1", APIKeySHA256: gateway.HashAPIKey("k")}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	deadline := time.Now().Add(10 * time.Second)
	for gw.Ready(ctx) == nil || !strings.Contains(fmt.Sprint(gw.Ready(ctx)), "draining") {
		if time.Now().After(deadline) {
			t.Fatal("the gateway kept serving with a wrong pepper")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := gw.Shutdown(ctx); !errors.Is(err, sessions.ErrWrongPepper) {
		t.Fatalf("Shutdown = %v, want ErrWrongPepper", err)
	}
}
