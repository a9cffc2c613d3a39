package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// Cards of the admin farm.
const (
	acLogin     = iota // suspend, resume, close, cancel
	acOldSIM           // the SIM before a swap (answers slowly)
	acNewSIM           // the SIM after it (its own ICCID and keys)
	acRevoke           // a certificate revoked while a session runs
	acLockout          // lockout and User ID resets
	acMove             // number change
	acNoAnswer         // portal cancel
	acNoAnswer2        // admin cancel
	numAdminCards
)

// movedTo is the number acMove's subscriber moves to: no card of the farm
// has it, the router sends its messages to acMove's card.
const movedTo = "994509999999"

// router is the operator's view of which card holds a number: the farm's
// by default, changed by a SIM swap or a number change.
type router struct {
	farm  *simcard.Farm
	mu    sync.Mutex
	route map[string]int // MSISDN → card
}

func (r *router) set(msisdn string, card int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.route[msisdn] = card
}

func (r *router) HandleMT(msisdn string, ud []byte, reply func([]byte)) error {
	r.mu.Lock()
	card, ok := r.route[msisdn]
	r.mu.Unlock()
	if !ok {
		return r.farm.HandleMT(msisdn, ud, reply)
	}
	return r.farm.HandleMT(r.farm.Card(card).MSISDN(), ud, reply)
}

// adminEnv is a complete gateway with the audit trail and the admin API
// over a real Redis (single server or Cluster).
type adminEnv struct {
	gw       *gateway.Gateway
	farm     *simcard.Farm
	router   *router
	records  []simcard.Record
	base     string
	admin    string
	registry *prometheus.Registry
	pub      ed25519.PublicKey
}

// adminTokens are the principals' bearer tokens by role.
var adminTokens = map[string]string{
	gateway.RoleCA: "tok-ca-0123456789", gateway.RoleSupport: "tok-support-0123456789",
	gateway.RoleAuditor: "tok-auditor-0123456789", gateway.RoleSRE: "tok-sre-0123456789",
}

func startAdminEnv(t *testing.T, addrs []string) *adminEnv {
	t.Helper()
	return startAdminEnvOn(t, addrs, "")
}

// startAdminEnvOn is startAdminEnv on the Sentinels of masterName when it
// is set; admin records then wait for the replica.
func startAdminEnvOn(t *testing.T, addrs []string, masterName string) *adminEnv {
	t.Helper()
	var master applet.MasterKeys
	for _, k := range []*[16]byte{&master.KIc, &master.KID, &master.KIcMO, &master.KIDMO} {
		_, _ = rand.Read(k[:])
	}
	farm, err := simcard.New(simcard.Options{Cards: numAdminCards, Seed: []byte("admin-e2e"), Master: master, Prefixes: []string{"99450"},
		Behaviour: func(i int) simcard.Behaviour {
			switch i {
			case acOldSIM, acRevoke:
				return simcard.Behaviour{Action: simcard.Approve, Delay: 1500 * time.Millisecond}
			case acNoAnswer, acNoAnswer2:
				return simcard.Behaviour{Action: simcard.NoAnswer}
			}
			return simcard.Behaviour{Action: simcard.Approve, Delay: 30 * time.Millisecond}
		},
		Profile: func(int) []simcard.SlotSpec {
			return []simcard.SlotSpec{
				{Ref: applet.KeyRefAuth, Alg: applet.SigECDSAP256, Kind: testca.Personal},
				{Ref: 0x02, Alg: applet.SigECDSAP256, Kind: testca.Personal},
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	e := &adminEnv{farm: farm, router: &router{farm: farm, route: map[string]int{}}, registry: prometheus.NewRegistry()}
	for i := range numAdminCards {
		rec, err := farm.Record(i)
		if err != nil {
			t.Fatal(err)
		}
		e.records = append(e.records, rec)
	}
	sm := smsctest.Start(t, smsc.Options{Accounts: map[string]string{"gw": "secret"}, Handset: e.router})
	rdb := redis.NewUniversalClient(sessions.ClientOptions(addrs, masterName))
	t.Cleanup(func() { rdb.Close() })
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	syncReplicas := -1 // the AOF only
	if masterName != "" {
		syncReplicas = 0 // the replica, when connected
	}
	e.pub = pub
	var principals []gateway.AdminPrincipal
	for role, tok := range adminTokens {
		principals = append(principals, gateway.AdminPrincipal{ID: role + "-desk", Roles: []string{role}, TokenSHA256: gateway.HashAPIKey(tok)})
	}
	e.gw, err = gateway.Start(t.Context(), gateway.Options{
		// The registry's word on certificates is what these tests change.
		Trust:    trust.Options{Mode: trust.ModeProvisionedOnly},
		HTTPAddr: "127.0.0.1:0", AdminAddr: "off", Redis: rdb, Pepper: bytes.Repeat([]byte{9}, 32), MasterKeys: master,
		Operators: []smpp.Operator{{Name: "azercell", Prefixes: []string{"99450"},
			Binds: []smpp.BindConfig{{Addr: sm.Addr(), SystemID: "gw", Password: "secret", SourceAddr: "9944000"}}}},
		Server: gateway.ServerOptions{
			Portals: []gateway.Portal{
				{ID: "p1", APIKeySHA256: gateway.HashAPIKey("key-p1"), RateLimit: 1000, Burst: 1000},
				{ID: "p2", APIKeySHA256: gateway.HashAPIKey("key-p2"), RateLimit: 1000, Burst: 1000},
			},
			UserTimeout: 10 * time.Second, DeliveryGrace: 2 * time.Second,
		},
		Audit:    gateway.AuditOptions{SigningKey: priv, PhoneKey: bytes.Repeat([]byte{5}, 32), Instance: "admin-e2e", SyncReplicas: syncReplicas},
		AdminAPI: gateway.AdminAPIOptions{Addr: "127.0.0.1:0", Principals: principals},
		Logger:   slog.New(slog.DiscardHandler), Registry: e.registry, ShutdownTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.gw.Shutdown(ctx)
	})
	e.base, e.admin = "http://"+e.gw.APIAddr(), "http://"+e.gw.AdminAPIAddr()
	waitReady(t, e.gw)
	return e
}

// request sends one request and decodes a JSON answer.
func request(t testing.TB, method, url, token string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, url, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// adm calls the admin API as role.
func (e *adminEnv) adm(t testing.TB, role, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return request(t, method, e.admin+path, adminTokens[role], body)
}

// portal calls the portal API as p1 (or p2).
func (e *adminEnv) portal(t testing.TB, p, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return request(t, method, e.base+path, "key-"+p, body)
}

// login starts a login for phone with userID and returns the answer.
func (e *adminEnv) login(t testing.TB, phone, userID string) (int, map[string]any) {
	t.Helper()
	return e.portal(t, "p1", "POST", "/v1/authentications", map[string]any{"phoneNumber": phone, "userId": userID,
		"hash": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)), "hashType": "SHA256"})
}

// finish long-polls a session to its result.
func (e *adminEnv) finish(t testing.TB, id string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, m := e.portal(t, "p1", "GET", "/v1/sessions/"+id+"?timeoutMs=15000", nil)
		if st != 200 {
			t.Fatalf("poll: %d %v", st, m)
		}
		if m["state"] == "COMPLETE" {
			return m["result"].(string)
		}
	}
	t.Fatal("session never completed")
	return ""
}

// loginResult logs in and waits for the result; it fails the test on a
// refused start.
func (e *adminEnv) loginResult(t testing.TB, phone, userID string) string {
	t.Helper()
	st, m := e.login(t, phone, userID)
	if st != 201 {
		t.Fatalf("login %s: %d %v", phone, st, m)
	}
	return e.finish(t, m["sessionId"].(string))
}

// certBody is card's certificate at ref as an admin request.
func (e *adminEnv) certBody(card int, ref byte) map[string]any {
	for _, c := range e.records[card].Certificates {
		if c.KeyRef == ref {
			typ := "personal"
			if ref == applet.KeyRefAuth {
				typ = "authentication"
			}
			return map[string]any{"certificate": base64.StdEncoding.EncodeToString(c.DER), "type": typ, "keyRef": int(ref)}
		}
	}
	return nil
}

// register registers card through the admin API as the CA.
func (e *adminEnv) register(t testing.TB, card int) {
	t.Helper()
	rec := e.records[card]
	st, m := e.adm(t, gateway.RoleCA, "POST", "/admin/v1/subscribers", map[string]any{
		"phone": "+" + rec.MSISDN, "iccid": rec.ICCID, "operator": "azercell", "userId": rec.UserID,
		"certificates": []any{e.certBody(card, applet.KeyRefAuth), e.certBody(card, 0x02)},
	})
	if st != 201 || m["userId"] != nil {
		t.Fatalf("register card %d: %d %v", card, st, m)
	}
}

func phoneOf(e *adminEnv, card int) string { return "+" + e.records[card].MSISDN }

func TestAdminEndToEndRedis(t *testing.T) {
	redistest.RequireBinaries(t)
	srv := redistest.Start(t)
	runAdminEndToEnd(t, startAdminEnv(t, []string{srv.Addr}))
}

func TestAdminEndToEndCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster start-up in -short mode")
	}
	redistest.RequireBinaries(t)
	cl := redistest.StartCluster(t)
	runAdminEndToEnd(t, startAdminEnv(t, cl.Addrs))
}

func runAdminEndToEnd(t *testing.T, e *adminEnv) {
	for i := range numAdminCards {
		if i != acNewSIM {
			e.register(t, i)
		}
	}
	t.Run("every role is refused what it may not do", func(t *testing.T) { adminRolesDenied(t, e) })
	t.Run("lockout reset lets the user in at once", func(t *testing.T) {
		phone, uid := phoneOf(e, acLockout), e.records[acLockout].UserID
		for range 5 {
			e.login(t, phone, "000001")
		}
		if st, m := e.login(t, phone, uid); st != 423 || m["code"] != gateway.CodeUserLocked {
			t.Fatalf("locked phone: %d %v", st, m)
		}
		st, p := e.adm(t, gateway.RoleSupport, "GET", "/admin/v1/subscribers/"+phone, nil)
		if st != 200 || p["lockout"].(map[string]any)["locked"] != true {
			t.Fatalf("profile of a locked phone: %d %v", st, p)
		}
		if st, m := e.adm(t, gateway.RoleSupport, "POST", "/admin/v1/subscribers/"+phone+"/lockout", nil); st != 200 || m["failuresCleared"].(float64) < 5 {
			t.Fatalf("lockout reset: %d %v", st, m)
		}
		if r := e.loginResult(t, phone, uid); r != sessions.ResultOK {
			t.Fatalf("login after the reset: %s", r)
		}
	})
	t.Run("after a user id reset the old one fails as a wrong one does", func(t *testing.T) {
		phone, old := phoneOf(e, acLockout), e.records[acLockout].UserID
		st, m := e.adm(t, gateway.RoleSupport, "POST", "/admin/v1/subscribers/"+phone+"/user-id", nil)
		uid, _ := m["userId"].(string)
		if st != 200 || len(uid) != 6 {
			t.Fatalf("reset: %d %v", st, m)
		}
		wrong := "000002"
		if wrong == old || wrong == uid {
			wrong = "000003"
		}
		st1, m1 := e.login(t, phone, old)
		st2, m2 := e.login(t, phone, wrong)
		if st1 != 422 || st1 != st2 || m1["code"] != m2["code"] || m1["detail"] != m2["detail"] || m1["code"] != gateway.CodeUserUnknown {
			t.Fatalf("old User ID %d %v; wrong one %d %v", st1, m1, st2, m2)
		}
		if r := e.loginResult(t, phone, uid); r != sessions.ResultOK {
			t.Fatalf("login with the new User ID: %s", r)
		}
	})
	t.Run("a revoked certificate is refused at reply time and at start", func(t *testing.T) {
		phone, uid := phoneOf(e, acRevoke), e.records[acRevoke].UserID
		_, list := e.adm(t, gateway.RoleCA, "GET", "/admin/v1/subscribers/"+phone+"/certificates", nil)
		serial := ""
		for _, c := range list["certificates"].([]any) {
			if c := c.(map[string]any); c["type"] == "authentication" {
				serial = c["serial"].(string)
			}
		}
		st, m := e.login(t, phone, uid)
		if st != 201 {
			t.Fatalf("start: %d %v", st, m)
		}
		if st, r := e.adm(t, gateway.RoleCA, "POST", "/admin/v1/subscribers/"+phone+"/certificates/"+serial+"/status",
			map[string]any{"status": "revoked", "reason": "keyCompromise"}); st != 200 || r["status"] != "revoked" {
			t.Fatalf("revoke: %d %v", st, r)
		}
		if r := e.finish(t, m["sessionId"].(string)); r != gateway.ResultCertificateRevoked {
			t.Fatalf("reply after the revocation: %s, want %s", r, gateway.ResultCertificateRevoked)
		}
		if st, m := e.login(t, phone, uid); st != 422 || m["code"] != gateway.CodeCertificateRevoked {
			t.Fatalf("start with a revoked certificate: %d %v", st, m)
		}
	})
	t.Run("after a SIM swap the new card logs in and the old card's reply is refused", func(t *testing.T) {
		phone, uid := phoneOf(e, acOldSIM), e.records[acOldSIM].UserID
		st, m := e.login(t, phone, uid)
		if st != 201 {
			t.Fatalf("start: %d %v", st, m)
		}
		if st, r := e.adm(t, gateway.RoleSupport, "POST", "/admin/v1/subscribers/"+phone+"/sim-swap",
			map[string]any{"iccid": e.records[acNewSIM].ICCID}); st != 200 {
			t.Fatalf("swap: %d %v", st, r)
		}
		for _, ref := range []byte{applet.KeyRefAuth, 0x02} {
			body := e.certBody(acNewSIM, ref)
			body["replace"] = true
			if st, r := e.adm(t, gateway.RoleCA, "POST", "/admin/v1/subscribers/"+phone+"/certificates", body); st != 201 {
				t.Fatalf("new card's certificate %d: %d %v", ref, st, r)
			}
		}
		// The old card's reply no longer opens under the record's keys: it
		// settles nothing, and the session runs until it expires.
		if r := e.finish(t, m["sessionId"].(string)); r != sessions.ResultTimeout {
			t.Fatalf("the old card's reply changed the session: %s, want TIMEOUT", r)
		}
		e.router.set(e.records[acOldSIM].MSISDN, acNewSIM) // the operator moved the number to the new SIM
		if r := e.loginResult(t, phone, uid); r != sessions.ResultOK {
			t.Fatalf("login with the new card: %s", r)
		}
	})
	t.Run("after a number change the user logs in on the new number only", func(t *testing.T) {
		phone, uid := phoneOf(e, acMove), e.records[acMove].UserID
		st, m := e.adm(t, gateway.RoleSupport, "POST", "/admin/v1/subscribers/"+phone+"/number",
			map[string]any{"newPhone": "+" + movedTo, "userId": uid})
		if st != 200 || m["userId"] != nil {
			t.Fatalf("number change: %d %v", st, m)
		}
		e.router.set(movedTo, acMove)
		if r := e.loginResult(t, "+"+movedTo, uid); r != sessions.ResultOK {
			t.Fatalf("login on the new number: %s", r)
		}
		if st, m := e.login(t, phone, uid); st != 422 || m["code"] != gateway.CodeUserUnknown {
			t.Fatalf("old number: %d %v", st, m)
		}
	})
	t.Run("suspend, resume and close change what a start gets", func(t *testing.T) {
		phone, uid := phoneOf(e, acLogin), e.records[acLogin].UserID
		if st, m := e.adm(t, gateway.RoleSupport, "POST", "/admin/v1/subscribers/"+phone+"/suspend", map[string]any{"reason": "lost SIM"}); st != 200 {
			t.Fatalf("suspend: %d %v", st, m)
		}
		if st, m := e.login(t, phone, uid); st != 422 || m["code"] != gateway.CodeSubscriberSuspended {
			t.Fatalf("start while suspended: %d %v", st, m)
		}
		if st, m := e.login(t, phone, "000004"); st != 422 || m["code"] != gateway.CodeUserUnknown {
			t.Fatalf("wrong User ID while suspended: %d %v", st, m)
		}
		if st, m := e.adm(t, gateway.RoleSupport, "POST", "/admin/v1/subscribers/"+phone+"/suspend", nil); st != 409 || m["code"] != gateway.CodeConflict {
			t.Fatalf("second suspend: %d %v", st, m)
		}
		if st, m := e.adm(t, gateway.RoleSupport, "POST", "/admin/v1/subscribers/"+phone+"/resume", nil); st != 200 {
			t.Fatalf("resume: %d %v", st, m)
		}
		if r := e.loginResult(t, phone, uid); r != sessions.ResultOK {
			t.Fatalf("login after resume: %s", r)
		}
		if st, m := e.adm(t, gateway.RoleSupport, "POST", "/admin/v1/subscribers/"+phone+"/close", nil); st != 200 {
			t.Fatalf("close: %d %v", st, m)
		}
		if st, m := e.login(t, phone, uid); st != 422 || m["code"] != gateway.CodeUserUnknown {
			t.Fatalf("start on a closed number: %d %v", st, m)
		}
	})
	t.Run("portal and admin cancel", func(t *testing.T) {
		phone, uid := phoneOf(e, acNoAnswer), e.records[acNoAnswer].UserID
		st, m := e.login(t, phone, uid)
		if st != 201 {
			t.Fatalf("start: %d %v", st, m)
		}
		id := m["sessionId"].(string)
		if st, m := e.portal(t, "p2", "DELETE", "/v1/sessions/"+id, nil); st != 404 || m["code"] != gateway.CodeSessionNotFound {
			t.Fatalf("another portal's cancel: %d %v", st, m)
		}
		if st, m := e.adm(t, gateway.RoleSRE, "GET", "/admin/v1/sessions/"+id, nil); st != 200 || m["state"] != "RUNNING" || strings.Contains(fmt.Sprint(m), e.records[acNoAnswer].MSISDN) {
			t.Fatalf("admin session view: %d %v", st, m)
		}
		if st, m := e.portal(t, "p1", "DELETE", "/v1/sessions/"+id, nil); st != 200 || m["result"] != gateway.ResultCancelledByPortal {
			t.Fatalf("cancel: %d %v", st, m)
		}
		if st, m := e.portal(t, "p1", "DELETE", "/v1/sessions/"+id, nil); st != 200 || m["result"] != gateway.ResultCancelledByPortal {
			t.Fatalf("second cancel: %d %v", st, m)
		}
		// The first card still shows its prompt (a new command would find it
		// busy): the admin cancels another card's session.
		st, m = e.login(t, phoneOf(e, acNoAnswer2), e.records[acNoAnswer2].UserID)
		if st != 201 {
			t.Fatalf("second start: %d %v", st, m)
		}
		if st, m := e.adm(t, gateway.RoleSupport, "DELETE", "/admin/v1/sessions/"+m["sessionId"].(string), nil); st != 200 || m["result"] != gateway.ResultCancelledByAdmin {
			t.Fatalf("admin cancel: %d %v", st, m)
		}
	})
	t.Run("usage agrees with the completion counter", func(t *testing.T) {
		st, m := e.adm(t, gateway.RoleAuditor, "GET", "/admin/v1/usage", nil)
		if st != 200 {
			t.Fatalf("usage: %d %v", st, m)
		}
		got := map[string]float64{}
		for _, r := range m["usage"].([]any) {
			r := r.(map[string]any)
			got[r["result"].(string)] += r["count"].(float64)
			if r["operator"] != "azercell" || r["portal"] != "p1" {
				t.Fatalf("usage row %v", r)
			}
		}
		for _, res := range []string{sessions.ResultOK, sessions.ResultTimeout, gateway.ResultCertificateRevoked, gateway.ResultCancelledByPortal, gateway.ResultCancelledByAdmin} {
			want := metricSum(t, e.registry, "imzagate_sessions_completed_total", res)
			if got[res] != want || want == 0 {
				t.Errorf("usage %s = %v, imzagate_sessions_completed_total = %v", res, got[res], want)
			}
		}
	})
	t.Run("the audit trail verifies and holds every admin call", func(t *testing.T) { adminAuditVerifies(t, e) })
}

// adminRolesDenied checks, for every role, an action of each other kind.
func adminRolesDenied(t *testing.T, e *adminEnv) {
	phone := phoneOf(e, acLogin)
	sub := "/admin/v1/subscribers/" + phone
	denied := []struct {
		role, method, path string
		body               any
	}{
		{gateway.RoleSupport, "POST", "/admin/v1/subscribers", map[string]any{"phone": "+994501111111"}},
		{gateway.RoleSupport, "POST", sub + "/certificates/1/status", map[string]any{"status": "revoked"}},
		{gateway.RoleSupport, "GET", "/admin/v1/usage", nil},
		{gateway.RoleCA, "POST", sub + "/lockout", nil},
		{gateway.RoleCA, "POST", sub + "/user-id", nil},
		{gateway.RoleCA, "POST", sub + "/sim-swap", map[string]any{"iccid": "8999400000000000000"}},
		{gateway.RoleCA, "GET", "/admin/v1/audit/verify", nil},
		{gateway.RoleAuditor, "GET", sub, nil},
		{gateway.RoleAuditor, "POST", sub + "/suspend", nil},
		{gateway.RoleAuditor, "DELETE", "/admin/v1/sessions/x", nil},
		{gateway.RoleSRE, "POST", sub + "/suspend", nil},
		{gateway.RoleSRE, "POST", sub + "/certificates", map[string]any{}},
		{gateway.RoleSRE, "GET", "/admin/v1/audit/export", nil},
		{gateway.RoleSRE, "POST", sub + "/number", map[string]any{"newPhone": "+994501111111"}},
		{gateway.RoleSRE, "DELETE", "/admin/v1/sessions/x", nil},
		{gateway.RoleSRE, "POST", sub + "/lockout", nil},
	}
	for _, d := range denied {
		st, m := e.adm(t, d.role, d.method, d.path, d.body)
		if st != 403 || m["code"] != gateway.CodeAdminForbidden || !strings.Contains(m["detail"].(string), d.role) {
			t.Errorf("%s %s %s: %d %v; want 403 ADMIN_FORBIDDEN", d.role, d.method, d.path, st, m)
		}
	}
	if st, m := request(t, "GET", e.admin+sub, "not-a-token", nil); st != 401 || m["code"] != gateway.CodeUnauthorized {
		t.Errorf("unknown token: %d %v", st, m)
	}
	// The sre view of a profile hides the ICCID and the certificate subjects.
	st, p := e.adm(t, gateway.RoleSRE, "GET", sub, nil)
	if st != 200 || strings.Contains(fmt.Sprint(p), e.records[acLogin].ICCID) || strings.Contains(fmt.Sprint(p), "subject") {
		t.Errorf("sre profile: %d %v", st, p)
	}
	st, p = e.adm(t, gateway.RoleSupport, "GET", sub, nil)
	if st != 200 || p["iccid"] != e.records[acLogin].ICCID || strings.Contains(fmt.Sprint(p), e.records[acLogin].UserID) {
		t.Errorf("support profile: %d %v", st, p)
	}
}

// adminAuditVerifies verifies the trail online and as an export, and
// finds the admin calls in it.
func adminAuditVerifies(t *testing.T, e *adminEnv) {
	var rep map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st int
		st, rep = e.adm(t, gateway.RoleAuditor, "GET", "/admin/v1/audit/verify", nil)
		if st == 200 && rep["ok"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("verify: %d %v", st, rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.admin+"/admin/v1/audit/export", nil)
	req.Header.Set("Authorization", "Bearer "+adminTokens[gateway.RoleAuditor])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r, err := audit.VerifyFile(bytes.NewReader(body), e.pub)
	if err != nil || !r.OK() {
		t.Fatalf("export does not verify: %v", err)
	}
	kinds := map[string]int{}
	for _, line := range bytes.Split(body, []byte("\n")) {
		rec, _, err := audit.ParseLine(line)
		if err == nil {
			kinds[string(rec.Kind)+"/"+rec.Details["action"]]++
		}
	}
	for _, k := range []string{"admin.call/subscriber.register", "admin.call/lockout.reset", "admin.call/userid.reset",
		"admin.call/subscriber.swap_sim", "admin.call/cert.status", "admin.call/subscriber.change_number", "config.reload/"} {
		if kinds[k] == 0 {
			t.Errorf("no %s record in the export: %v", k, kinds)
		}
	}
	if kinds["session.start/"] == 0 || kinds["session.complete/"] == 0 {
		t.Errorf("no session records: %v", kinds)
	}
	if bytes.Contains(body, []byte(e.records[acLogin].MSISDN)) {
		t.Error("a phone number in clear in the trail")
	}
}
