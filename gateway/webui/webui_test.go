package webui

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/imzagate/imzagate/gateway"
)

// apiCall is one request the fake API saw.
type apiCall struct {
	method, path, query, auth, cookie, body string
}

func testHandler(t *testing.T) (http.Handler, *[]apiCall) {
	t.Helper()
	var calls []apiCall
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, apiCall{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Cookie"), string(b)})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"sessionId":"abc"}`))
	})
	users := []User{
		{PhoneNumber: "+994501000000", UserID: "437234", Behaviour: "approve", Certificates: []gateway.CertificateInfo{
			{Type: "authentication", Subject: "C=AZ, CN=Elvin Hüseynova, serialNumber=PNOAZ-542D78H, GN=Elvin, SN=Hüseynova"},
			{Type: "personal"}, {Type: "business", TaxID: "1234567890"}}},
		{PhoneNumber: "+994551000002", UserID: "111111", Behaviour: "cancel"},
	}
	for i := range 5 {
		users = append(users, User{PhoneNumber: "+99470100000" + string(rune('3'+i)), UserID: "222222", Behaviour: "approve"})
	}
	return Handler(Options{API: api, APIKey: "secret-demo-key", Users: func() []User { return users }}), &calls
}

func TestPageHoldsNoKey(t *testing.T) {
	h, _ := testHandler(t)
	for _, tt := range []struct {
		method, path string
		status       int
	}{{"GET", "/", 200}, {"HEAD", "/", 200}, {"POST", "/", 405}, {"GET", "/admin", 404}, {"GET", "/demo/api/nothing", 404}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	if strings.Contains(body, "secret-demo-key") || strings.Contains(body, "Bearer") || strings.Contains(body, "Authorization") {
		t.Fatal("the page carries an API key or sets an Authorization header")
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || rec.Header().Get("Content-Security-Policy") == "" {
		t.Fatalf("headers %v", rec.Header())
	}
	// Every link the page has answers without a key: none to an endpoint that needs one.
	for _, href := range strings.Split(body, `href="`)[1:] {
		if link := href[:strings.IndexByte(href, '"')]; link != "/v1/openapi.yaml" {
			t.Errorf("link %q", link)
		}
	}
	for _, want := range []string{`"/demo/api/"`, "timeoutMs=", "data-state", "Start over", "Expires in"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestProxyAddsKeyForDemoUsersOnly: starts for a simulated user reach the
// API with the demo portal's key, whatever form the number is in; others
// are refused without reaching it; session reads pass with their query.
func TestProxyAddsKeyForDemoUsersOnly(t *testing.T) {
	h, calls := testHandler(t)
	post := func(path, phone string) *httptest.ResponseRecorder {
		body := `{"phoneNumber":"` + phone + `","userId":"437234"}`
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Cookie", "session=x")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i, phone := range []string{"+994501000000", "994501000000", "0501000000", "+994 50 100 00 00"} {
		if rec := post("/demo/api/authentications", phone); rec.Code != 201 || !strings.Contains(rec.Body.String(), "abc") {
			t.Fatalf("%s: %d %s", phone, rec.Code, rec.Body.String())
		}
		c := (*calls)[i]
		if c.method != "POST" || c.path != "/v1/authentications" || c.auth != "Bearer secret-demo-key" || c.cookie != "" || !strings.Contains(c.body, phone) {
			t.Fatalf("forwarded %+v", c)
		}
	}
	if rec := post("/demo/api/signatures", "+994501000000"); rec.Code != 201 || (*calls)[4].path != "/v1/signatures" {
		t.Fatalf("signature: %d %+v", rec.Code, (*calls)[4])
	}
	n := len(*calls)
	for _, phone := range []string{"+994509999999", "", "+1 555 0100", "not a phone"} {
		rec := post("/demo/api/authentications", phone)
		var p map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &p)
		if rec.Code != 403 || p["code"] != "DEMO_USERS_ONLY" || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%q: %d %s", phone, rec.Code, rec.Body.String())
		}
	}
	if len(*calls) != n {
		t.Fatal("a start for someone else reached the API")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/demo/api/sessions/0123abc?timeoutMs=25000", nil))
	if c := (*calls)[n]; rec.Code != 201 || c.path != "/v1/sessions/0123abc" || c.query != "timeoutMs=25000" || c.auth != "Bearer secret-demo-key" {
		t.Fatalf("session read forwarded as %+v", c)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/demo/api/authentications", strings.NewReader(strings.Repeat("x", maxBody+1))))
	if rec.Code != 413 {
		t.Fatalf("large body: %d", rec.Code)
	}
}

func TestUsersByBehaviour(t *testing.T) {
	h, _ := testHandler(t)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/demo/api/users", nil))
	var got struct {
		Groups []struct {
			Key, Title string
			Users      []struct {
				PhoneNumber, UserID, Name string
				Certificates              []string
			}
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, g := range got.Groups {
		keys = append(keys, g.Key)
	}
	if strings.Join(keys, " ") != "approve wrong-pin-1x-then-approve cancel wrong-pin-until-blocked no-answer" {
		t.Fatalf("groups %v", keys)
	}
	approve := got.Groups[0].Users
	if len(approve) != usersPerGroup || approve[0].Name != "Elvin Hüseynova" || strings.Join(approve[0].Certificates, ",") != "personal,business" {
		t.Fatalf("approve group %+v", approve)
	}
	if len(got.Groups[2].Users) != 1 || got.Groups[2].Users[0].PhoneNumber != "+994551000002" {
		t.Fatalf("cancel group %+v", got.Groups[2].Users)
	}
}

func TestHolderName(t *testing.T) {
	for subject, want := range map[string]string{
		"C=AZ, CN=Leyla Məmmədova, serialNumber=PNOAZ-1, GN=Leyla, SN=Məmmədova":           "Leyla Məmmədova",
		"C=AZ, CN=Orxan Quliyev, O=Şirkət 5, MMC, organizationIdentifier=VATAZ-1234567890": "Orxan Quliyev",
		"CN=Only A Common Name": "Only A Common Name",
		"":                      "",
	} {
		if got := holderName(subject); got != want {
			t.Errorf("holderName(%q) = %q, want %q", subject, got, want)
		}
	}
	if o := subjectAttrs("C=AZ, O=Şirkət 5, MMC, 2.5.4.97=VATAZ-1")["O"]; o != "Şirkət 5, MMC" {
		t.Errorf("O = %q", o)
	}
}
