package gateway

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/sessions"
)

// fakeAdminStore has one function field per AdminStore method (nil:
// unexpected call).
type fakeAdminStore struct {
	RegisterSubscriberFn func(ctx context.Context, sub sessions.Subscriber, userID string) (string, error)
	SubscriberProfileFn  func(ctx context.Context, phone string) (sessions.Profile, error)
	UpdateSubscriberFn   func(ctx context.Context, phone string, fn func(*sessions.Subscriber) error) (sessions.Subscriber, error)
	SetSubscriberStateFn func(ctx context.Context, phone, state string) error
	ResetUserIDFn        func(ctx context.Context, phone string) (string, error)
	ResetLockoutFn       func(ctx context.Context, phone string) (int, error)
	SwapSIMFn            func(ctx context.Context, phone, iccid string, keyVersion int) error
	ChangeNumberFn       func(ctx context.Context, phone, newPhone, userID string) (string, error)
	UsageFn              func(ctx context.Context, from, to time.Time) ([]sessions.UsageRow, error)
}

func (f *fakeAdminStore) RegisterSubscriber(ctx context.Context, sub sessions.Subscriber, userID string) (string, error) {
	if f.RegisterSubscriberFn == nil {
		return "", errUnexpected
	}
	return f.RegisterSubscriberFn(ctx, sub, userID)
}
func (f *fakeAdminStore) SubscriberProfile(ctx context.Context, phone string) (sessions.Profile, error) {
	if f.SubscriberProfileFn == nil {
		return sessions.Profile{}, errUnexpected
	}
	return f.SubscriberProfileFn(ctx, phone)
}
func (f *fakeAdminStore) UpdateSubscriber(ctx context.Context, phone string, fn func(*sessions.Subscriber) error) (sessions.Subscriber, error) {
	if f.UpdateSubscriberFn == nil {
		return sessions.Subscriber{}, errUnexpected
	}
	return f.UpdateSubscriberFn(ctx, phone, fn)
}
func (f *fakeAdminStore) SetSubscriberState(ctx context.Context, phone, state string) error {
	if f.SetSubscriberStateFn == nil {
		return errUnexpected
	}
	return f.SetSubscriberStateFn(ctx, phone, state)
}
func (f *fakeAdminStore) ResetUserID(ctx context.Context, phone string) (string, error) {
	if f.ResetUserIDFn == nil {
		return "", errUnexpected
	}
	return f.ResetUserIDFn(ctx, phone)
}
func (f *fakeAdminStore) ResetLockout(ctx context.Context, phone string) (int, error) {
	if f.ResetLockoutFn == nil {
		return 0, errUnexpected
	}
	return f.ResetLockoutFn(ctx, phone)
}
func (f *fakeAdminStore) SwapSIM(ctx context.Context, phone, iccid string, kv int) error {
	if f.SwapSIMFn == nil {
		return errUnexpected
	}
	return f.SwapSIMFn(ctx, phone, iccid, kv)
}
func (f *fakeAdminStore) ChangeNumber(ctx context.Context, phone, newPhone, userID string) (string, error) {
	if f.ChangeNumberFn == nil {
		return "", errUnexpected
	}
	return f.ChangeNumberFn(ctx, phone, newPhone, userID)
}
func (f *fakeAdminStore) Usage(ctx context.Context, from, to time.Time) ([]sessions.UsageRow, error) {
	if f.UsageFn == nil {
		return nil, errUnexpected
	}
	return f.UsageFn(ctx, from, to)
}

// fakeTrail records what the admin API appends; AppendSyncFn, when set,
// decides the outcome.
type fakeTrail struct {
	mu           sync.Mutex
	recs         []audit.Record
	AppendSyncFn func(rec audit.Record) error
}

func (f *fakeTrail) AppendSync(_ context.Context, rec audit.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.AppendSyncFn != nil {
		if err := f.AppendSyncFn(rec); err != nil {
			return err
		}
	}
	f.recs = append(f.recs, rec)
	return nil
}
func (f *fakeTrail) Phone(msisdn string) audit.Phone {
	return audit.Phone{HMAC: strings.Repeat("ab", 16), Masked: audit.MaskPhone(msisdn)}
}
func (f *fakeTrail) Export(context.Context, io.Writer, time.Time, time.Time) error { return nil }
func (f *fakeTrail) Verify(context.Context, time.Time, time.Time) (*audit.Report, error) {
	return &audit.Report{}, nil
}
func (f *fakeTrail) outcomes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.recs {
		out = append(out, r.Outcome)
	}
	return out
}

// Admin tokens of the unit tests: one principal per role and one with all.
const (
	tokCA      = "ca-token-0123456789"
	tokSupport = "support-token-0123456789"
	tokAuditor = "auditor-token-0123456789"
	tokSRE     = "sre-token-0123456789"
)

func newTestAdmin(t *testing.T, st *fakeAdminStore, tr *fakeTrail) http.Handler {
	t.Helper()
	c, err := newCore(ServerOptions{Store: &fakeStore{}, OTA: &fakeOTA{}, Registerer: prometheus.NewRegistry(),
		Portals: []Portal{{ID: "p1", APIKeySHA256: HashAPIKey(key1)}}, Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.done.close(context.Background()) })
	a, err := newAdminAPI(AdminAPIOptions{Addr: "127.0.0.1:0", Principals: []AdminPrincipal{
		{ID: "ca", Roles: []string{RoleCA}, TokenSHA256: HashAPIKey(tokCA)},
		{ID: "support", Roles: []string{RoleSupport}, TokenSHA256: HashAPIKey(tokSupport)},
		{ID: "auditor", Roles: []string{RoleAuditor}, TokenSHA256: HashAPIKey(tokAuditor)},
		{ID: "sre", Roles: []string{RoleSRE}, TokenSHA256: HashAPIKey(tokSRE)},
	}}, st, c, tr, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return a.Handler()
}

// testCertPEM is a certificate as PEM and base64 DER.
func testCertPEM(t *testing.T) (string, string) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der := makeCert(t, k, testNow.AddDate(-1, 0, 0), testNow.AddDate(1, 0, 0))
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), base64.StdEncoding.EncodeToString(der)
}

// TestAdminBadInput sends every kind of bad input to every endpoint that
// takes input and checks the status, code, field and message; the store
// is never called.
func TestAdminBadInput(t *testing.T) {
	tr := &fakeTrail{}
	h := newTestAdmin(t, &fakeAdminStore{}, tr)
	certPEM, certB64 := testCertPEM(t)
	const sub = "/admin/v1/subscribers/+994501234567"
	reg := func(extra string) string {
		return `{"phone":"+994501234567","iccid":"8999401234567890123","operator":"azercell"` + extra + `}`
	}
	tests := []struct {
		name, tok, method, path, ctype, body string
		status                               int
		code, field, detail                  string
	}{
		{"no token", "", "GET", sub, "", "", 401, CodeUnauthorized, "", "admin bearer token"},
		{"unknown token", "nope", "GET", sub, "", "", 401, CodeUnauthorized, "", "admin bearer token"},
		{"unknown endpoint", tokCA, "GET", "/admin/v1/nothing", "", "", 404, CodeNotFound, "", "no such admin endpoint"},
		{"register: malformed json", tokCA, "POST", "/admin/v1/subscribers", "application/json", `{"phone":`, 400, CodeInvalidRequest, "", "malformed JSON"},
		{"register: unknown field", tokCA, "POST", "/admin/v1/subscribers", "application/json", reg(`,"pin":"1234"`), 400, CodeInvalidRequest, "pin", "unknown field"},
		{"register: wrong type", tokCA, "POST", "/admin/v1/subscribers", "application/json", `{"keyVersion":"one"}`, 400, CodeInvalidRequest, "keyVersion", "wrong JSON type"},
		{"register: text/plain", tokCA, "POST", "/admin/v1/subscribers", "text/plain", reg(""), 415, CodeUnsupportedMediaType, "", "application/json"},
		{"register: bad phone", tokCA, "POST", "/admin/v1/subscribers", "application/json", `{"phone":"+1-202-555","iccid":"8999401234567890123"}`, 400, CodeInvalidRequest, "phone", "want +994XXXXXXXXX"},
		{"register: bad iccid", tokCA, "POST", "/admin/v1/subscribers", "application/json", `{"phone":"+994501234567","iccid":"89994"}`, 400, CodeInvalidRequest, "iccid", "19 or 20 digits"},
		{"register: bad user id", tokCA, "POST", "/admin/v1/subscribers", "application/json", reg(`,"userId":"12345"`), 400, CodeInvalidRequest, "userId", "exactly 6 digits"},
		{"register: bad operator", tokCA, "POST", "/admin/v1/subscribers", "application/json", `{"phone":"+994501234567","iccid":"8999401234567890123","operator":"Azer Cell"}`, 400, CodeInvalidRequest, "operator", "routing name"},
		{"register: key version", tokCA, "POST", "/admin/v1/subscribers", "application/json", reg(`,"keyVersion":16`), 400, CodeInvalidRequest, "keyVersion", "1–15"},
		{"register: certificate not base64", tokCA, "POST", "/admin/v1/subscribers", "application/json", reg(`,"certificates":[{"certificate":"%%%","type":"personal","keyRef":2}]`), 400, CodeInvalidRequest, "certificates[0].certificate", "neither PEM nor base64 DER"},
		{"register: certificate not X.509", tokCA, "POST", "/admin/v1/subscribers", "application/json", reg(`,"certificates":[{"certificate":"MAMCAQE=","type":"personal","keyRef":2}]`), 400, CodeInvalidRequest, "certificates[0].certificate", "not an X.509 certificate"},
		{"register: oversize body", tokCA, "POST", "/admin/v1/subscribers", "application/json", reg(`,"x":"` + strings.Repeat("a", maxAdminBody) + `"`), 413, CodeRequestTooLarge, "", "exceeds"},
		{"sim swap: bad iccid", tokSupport, "POST", sub + "/sim-swap", "application/json", `{"iccid":"89994012345678901234567"}`, 400, CodeInvalidRequest, "iccid", "19 or 20 digits"},
		{"sim swap: bad phone", tokSupport, "POST", "/admin/v1/subscribers/12345/sim-swap", "application/json", `{"iccid":"8999401234567890123"}`, 400, CodeInvalidRequest, "phone", "want +994XXXXXXXXX"},
		{"sim swap: key version", tokSupport, "POST", sub + "/sim-swap", "application/json", `{"iccid":"8999401234567890123","keyVersion":99}`, 400, CodeInvalidRequest, "keyVersion", "1–15"},
		{"sim swap: empty body", tokSupport, "POST", sub + "/sim-swap", "application/json", ``, 400, CodeInvalidRequest, "", "empty body"},
		{"number: bad new phone", tokSupport, "POST", sub + "/number", "application/json", `{"newPhone":"abc"}`, 400, CodeInvalidRequest, "newPhone", "only digits"},
		{"number: same phone", tokSupport, "POST", sub + "/number", "application/json", `{"newPhone":"0501234567"}`, 400, CodeInvalidRequest, "newPhone", "the same as the current number"},
		{"number: bad user id", tokSupport, "POST", sub + "/number", "application/json", `{"newPhone":"+994551234567","userId":"abcdef"}`, 400, CodeInvalidRequest, "userId", "exactly 6 digits"},
		{"suspend: unknown field", tokSupport, "POST", sub + "/suspend", "application/json", `{"why":"x"}`, 400, CodeInvalidRequest, "why", "unknown field"},
		{"suspend: reason with a number", tokSupport, "POST", sub + "/suspend", "application/json", `{"reason":"call +994501234567"}`, 400, CodeInvalidRequest, "reason", "no phone numbers"},
		{"suspend: long reason", tokSupport, "POST", sub + "/suspend", "application/json", `{"reason":"` + strings.Repeat("x", 200) + `"}`, 400, CodeInvalidRequest, "reason", "at most 128"},
		{"close: bad phone", tokSupport, "POST", "/admin/v1/subscribers/+99450123/close", "", "", 400, CodeInvalidRequest, "phone", "want +994XXXXXXXXX"},
		{"user id reset: bad phone", tokSupport, "POST", "/admin/v1/subscribers/x/user-id", "", "", 400, CodeInvalidRequest, "phone", "only digits"},
		{"lockout reset: bad phone", tokSupport, "POST", "/admin/v1/subscribers/+994001234567/lockout", "", "", 400, CodeInvalidRequest, "phone", "cannot start with 0"},
		{"cert add: bad PEM", tokCA, "POST", sub + "/certificates", "application/json", `{"certificate":"-----BEGIN PUBLIC KEY-----\nMAMCAQE=\n-----END PUBLIC KEY-----\n","type":"personal","keyRef":2}`, 400, CodeInvalidRequest, "certificate", "without a CERTIFICATE block"},
		{"cert add: two PEM blocks", tokCA, "POST", sub + "/certificates", "application/json", `{"certificate":` + jsonString(certPEM+certPEM) + `,"type":"personal","keyRef":2}`, 400, CodeInvalidRequest, "certificate", "more than one PEM block"},
		{"cert add: missing", tokCA, "POST", sub + "/certificates", "application/json", `{"type":"personal","keyRef":2}`, 400, CodeInvalidRequest, "certificate", "missing"},
		{"cert add: bad type", tokCA, "POST", sub + "/certificates", "application/json", `{"certificate":"` + certB64 + `","type":"qualified","keyRef":2}`, 400, CodeInvalidRequest, "type", "want authentication, personal"},
		{"cert add: authentication on key 2", tokCA, "POST", sub + "/certificates", "application/json", `{"certificate":"` + certB64 + `","type":"authentication","keyRef":2}`, 400, CodeInvalidRequest, "keyRef", "key reference 1"},
		{"cert add: key ref 16", tokCA, "POST", sub + "/certificates", "application/json", `{"certificate":"` + certB64 + `","type":"personal","keyRef":16}`, 400, CodeInvalidRequest, "keyRef", "1–15"},
		{"cert add: business without VÖEN", tokCA, "POST", sub + "/certificates", "application/json", `{"certificate":"` + certB64 + `","type":"business","keyRef":3}`, 400, CodeInvalidRequest, "taxId", "needs the company's VÖEN"},
		{"cert add: bad VÖEN", tokCA, "POST", sub + "/certificates", "application/json", `{"certificate":"` + certB64 + `","type":"business","keyRef":3,"taxId":"12"}`, 400, CodeInvalidRequest, "taxId", "exactly 10 digits"},
		{"cert status: bad serial", tokCA, "POST", sub + "/certificates/xyz/status", "application/json", `{"status":"revoked"}`, 400, CodeInvalidRequest, "serial", "serial number in hex"},
		{"cert status: bad status", tokCA, "POST", sub + "/certificates/0a1b/status", "application/json", `{"status":"expired"}`, 400, CodeInvalidRequest, "status", "want revoked, suspended or active"},
		{"session get: bad id", tokSRE, "GET", "/admin/v1/sessions/a%20b", "", "", 400, CodeInvalidRequest, "id", "a session id"},
		{"usage: bad from", tokAuditor, "GET", "/admin/v1/usage?from=yesterday", "", "", 400, CodeInvalidRequest, "from", "YYYY-MM-DD"},
		{"usage: to before from", tokAuditor, "GET", "/admin/v1/usage?from=2026-02-02&to=2026-02-01", "", "", 400, CodeInvalidRequest, "to", "before the first"},
		{"usage: too long", tokAuditor, "GET", "/admin/v1/usage?from=2024-01-01&to=2026-01-01", "", "", 400, CodeInvalidRequest, "to", "at most 366 days"},
		{"usage: bad format", tokAuditor, "GET", "/admin/v1/usage?format=xml", "", "", 400, CodeInvalidRequest, "format", "json or csv"},
		{"usage: unknown parameter", tokAuditor, "GET", "/admin/v1/usage?portal=p1", "", "", 400, CodeInvalidRequest, "portal", "unknown query parameter"},
		{"audit verify: bad to", tokAuditor, "GET", "/admin/v1/audit/verify?to=2026-13-01", "", "", 400, CodeInvalidRequest, "to", "YYYY-MM-DD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			if tc.tok != "" {
				req.Header.Set("Authorization", "Bearer "+tc.tok)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var p problem
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
			if rec.Code != tc.status || p.Code != tc.code || p.Field != tc.field || !strings.Contains(p.Detail, tc.detail) {
				t.Fatalf("%d %+v; want %d %s field %q detail containing %q", rec.Code, p, tc.status, tc.code, tc.field, tc.detail)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
	// Every refused call that named a principal was recorded, with its code.
	for _, o := range tr.outcomes() {
		if o == "ok" || o == "requested" {
			t.Fatalf("a refused call recorded as %q", o)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestAdminAuditFirst: a change whose intent the trail cannot record is
// not made; a change whose outcome it cannot record answers 503 although
// the change was made; a read answers only after its record.
func TestAdminAuditFirst(t *testing.T) {
	called := 0
	st := &fakeAdminStore{SetSubscriberStateFn: func(context.Context, string, string) error { called++; return nil }}
	failOn := ""
	tr := &fakeTrail{AppendSyncFn: func(rec audit.Record) error {
		if rec.Outcome == failOn {
			return errors.Join(audit.ErrNotDurable, errors.New("redis down"))
		}
		return nil
	}}
	h := newTestAdmin(t, st, tr)
	suspend := func() (int, problem) {
		req := httptest.NewRequest("POST", "/admin/v1/subscribers/+994501234567/suspend", nil)
		req.Header.Set("Authorization", "Bearer "+tokSupport)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var p problem
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		return rec.Code, p
	}
	failOn = "requested"
	if code, p := suspend(); code != 503 || p.Code != CodeAuditUnavailable || called != 0 {
		t.Fatalf("intent not recorded: %d %+v, store called %d times", code, p, called)
	}
	failOn = "ok"
	if code, p := suspend(); code != 503 || p.Code != CodeAuditUnavailable || called != 1 {
		t.Fatalf("outcome not recorded: %d %+v, store called %d times", code, p, called)
	}
	failOn = ""
	if code, _ := suspend(); code != 200 || called != 2 {
		t.Fatalf("recorded: %d, store called %d times", code, called)
	}
	recs := tr.recs
	last := recs[len(recs)-1]
	if last.Kind != audit.KindAdminCall || last.Actor.ID != "support" || last.Actor.Role != RoleSupport ||
		last.Subject.Ref != "POST /admin/v1/subscribers/{phone}/suspend" || last.Phone.Masked != "+99450***4567" || last.Details["action"] != "subscriber.suspend" {
		t.Fatalf("record %+v", last)
	}
	if prev := recs[len(recs)-2]; prev.Outcome != "requested" || last.Outcome != "ok" {
		t.Fatalf("outcomes %q then %q; want requested then ok", prev.Outcome, last.Outcome)
	}
	// A read whose record fails gives no data.
	st.SubscriberProfileFn = func(context.Context, string) (sessions.Profile, error) {
		return sessions.Profile{Subscriber: sessions.Subscriber{Phone: "+994501234567", ICCID: "8999401234567890123"}}, nil
	}
	failOn = "ok"
	req := httptest.NewRequest("GET", "/admin/v1/subscribers/+994501234567", nil)
	req.Header.Set("Authorization", "Bearer "+tokSupport)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 503 || bytes.Contains(rec.Body.Bytes(), []byte("8999401234567890123")) {
		t.Fatalf("read without its record: %d %s", rec.Code, rec.Body)
	}
}

// TestAdminPrincipalConfig checks the principals' configuration errors.
func TestAdminPrincipalConfig(t *testing.T) {
	h := HashAPIKey("x")
	tests := []struct {
		name string
		p    []AdminPrincipal
		want string
	}{
		{"none", nil, "at least one principal"},
		{"bad role", []AdminPrincipal{{ID: "a", Roles: []string{"root"}, TokenSHA256: h}}, `unknown role "root"`},
		{"no role", []AdminPrincipal{{ID: "a", TokenSHA256: h}}, "no roles"},
		{"no credential", []AdminPrincipal{{ID: "a", Roles: []string{RoleSRE}}}, "set tokenSHA256 or clientCertSHA256"},
		{"bad token hash", []AdminPrincipal{{ID: "a", Roles: []string{RoleSRE}, TokenSHA256: "abc"}}, "tokenSHA256 must be 64 hex digits"},
		{"bad cert hash", []AdminPrincipal{{ID: "a", Roles: []string{RoleSRE}, ClientCertSHA256: "zz"}}, "clientCertSHA256 must be 64 hex digits"},
		{"bad id", []AdminPrincipal{{ID: "a b", Roles: []string{RoleSRE}, TokenSHA256: h}}, "admin principal id"},
		{"twice", []AdminPrincipal{{ID: "a", Roles: []string{RoleSRE}, TokenSHA256: h}, {ID: "a", Roles: []string{RoleCA}, TokenSHA256: h}}, "listed twice"},
	}
	for _, tc := range tests {
		if _, err := newAdminPrincipals(tc.p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
}

// TestAdminOpenAPICoversRoutes: the admin OpenAPI document parses and
// documents every route with its method, and nothing else.
func TestAdminOpenAPICoversRoutes(t *testing.T) {
	b, err := adminOpenAPIFS.ReadFile("admin-openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	routes := (&adminAPI{}).actions()
	for pattern := range routes {
		if !documented[pattern] {
			t.Errorf("route %s is not in admin-openapi.yaml", pattern)
		}
	}
	for op := range documented {
		if _, ok := routes[op]; !ok {
			t.Errorf("admin-openapi.yaml documents %s, which is no route", op)
		}
	}
}
