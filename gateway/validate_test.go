package gateway

import (
	"net/http"
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"international", "+994501234567", "+994501234567", true},
		{"without plus", "994501234567", "+994501234567", true},
		{"national", "0501234567", "+994501234567", true},
		{"spaced", "+994 50 123-45-67", "+994501234567", true},
		{"national spaced", "050 123 45 67", "+994501234567", true},
		{"too short", "+99450123456", "", false},
		{"too long", "+9945012345678", "", false},
		{"other country", "+37255512345", "", false},
		{"German mobile", "+4915112345678", "", false},
		{"national too short", "050123456", "", false},
		{"plus national", "+0501234567", "", false},
		{"letters", "+99450123456a", "", false},
		{"leading space", " +994501234567", "", false},
		{"zero after code", "+994001234567", "", false},
		{"empty", "", "", false},
		{"huge", strings.Repeat("9", 40), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normalizePhone(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("normalizePhone(%q) = %q, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestMaskPhone(t *testing.T) {
	if got := maskPhone("+994501234567"); got != "+99450***4567" {
		t.Fatalf("maskPhone = %q", got)
	}
	if got := maskPhone("+9945"); got != "***" {
		t.Fatalf("maskPhone short = %q", got)
	}
}

// validAuth is a valid login body; rows replace one field each.
const validHash = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=" // SHA-256 of "test"

// TestStartBadInput checks every field of every endpoint: each row breaks one
// thing and expects its status, code and field, before any store call.
func TestStartBadInput(t *testing.T) {
	st := &fakeStore{} // every call is unexpected: validation must stop first
	s, _ := newTestServer(t, st, &fakeSender{}, &fakeOTA{})
	auth := func(repl ...string) string {
		return strings.NewReplacer(repl...).Replace(`{"phoneNumber":"+994501234567","userId":"123456","hash":"` + validHash + `","hashType":"SHA256"}`)
	}
	sign := func(cert string) string {
		return `{"phoneNumber":"+994501234567","userId":"123456","hash":"` + validHash + `","hashType":"SHA256","certificate":` + cert + `}`
	}
	long := strings.Repeat("x", 60)
	tests := []struct {
		name, method, path, key, body string
		hdr                           []string
		status                        int
		code, field                   string
	}{
		{"no key", "POST", "/v1/authentications", "", auth(), nil, 401, CodeUnauthorized, ""},
		{"wrong key", "POST", "/v1/authentications", "nope", auth(), nil, 401, CodeUnauthorized, ""},
		{"no content type", "POST", "/v1/authentications", key1, "", nil, 415, CodeUnsupportedMediaType, ""},
		{"empty body", "POST", "/v1/authentications", key1, " ", nil, 400, CodeInvalidRequest, ""},
		{"not json", "POST", "/v1/authentications", key1, "{nope", nil, 400, CodeInvalidRequest, ""},
		{"trailing data", "POST", "/v1/authentications", key1, auth() + "{}", nil, 400, CodeInvalidRequest, ""},
		{"array", "POST", "/v1/authentications", key1, "[]", nil, 400, CodeInvalidRequest, ""},
		{"too large", "POST", "/v1/authentications", key1, `{"phoneNumber":"` + strings.Repeat("1", 9000) + `"}`, nil, 413, CodeRequestTooLarge, ""},
		{"unknown field", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","pin":"1234"}`), nil, 400, CodeInvalidRequest, "pin"},
		{"certificate on login", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","certificate":{"type":"personal"}}`), nil, 400, CodeInvalidRequest, "certificate"},
		{"phone wrong type", "POST", "/v1/authentications", key1, auth(`"+994501234567"`, `994501234567`), nil, 400, CodeInvalidRequest, "phoneNumber"},
		{"phone missing", "POST", "/v1/authentications", key1, auth(`"phoneNumber":"+994501234567",`, ``), nil, 400, CodeInvalidRequest, "phoneNumber"},
		{"phone foreign", "POST", "/v1/authentications", key1, auth(`+994501234567`, `+4915112345678`), nil, 400, CodeInvalidRequest, "phoneNumber"},
		{"user id short", "POST", "/v1/authentications", key1, auth(`"123456"`, `"12345"`), nil, 400, CodeInvalidRequest, "userId"},
		{"user id letters", "POST", "/v1/authentications", key1, auth(`"123456"`, `"12345a"`), nil, 400, CodeInvalidRequest, "userId"},
		{"user id missing", "POST", "/v1/authentications", key1, auth(`"userId":"123456",`, ``), nil, 400, CodeInvalidRequest, "userId"},
		{"hash type unknown", "POST", "/v1/authentications", key1, auth(`"SHA256"`, `"MD5"`), nil, 400, CodeInvalidRequest, "hashType"},
		{"hash type lower case", "POST", "/v1/authentications", key1, auth(`"SHA256"`, `"sha256"`), nil, 400, CodeInvalidRequest, "hashType"},
		{"hash not base64", "POST", "/v1/authentications", key1, auth(validHash, "@@@@"), nil, 400, CodeInvalidRequest, "hash"},
		{"hash url base64", "POST", "/v1/authentications", key1, auth(validHash, strings.NewReplacer("+", "-", "/", "_").Replace(validHash)), nil, 400, CodeInvalidRequest, "hash"},
		{"hash length mismatch", "POST", "/v1/authentications", key1, auth(`"SHA256"`, `"SHA384"`), nil, 400, CodeInvalidRequest, "hash"},
		{"hash missing", "POST", "/v1/authentications", key1, auth(`"hash":"`+validHash+`",`, ``), nil, 400, CodeInvalidRequest, "hash"},
		{"display text empty", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","displayText":""}`), nil, 400, CodeInvalidRequest, "displayText"},
		{"display text too long", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","displayText":"`+long+`"}`), nil, 400, CodeInvalidRequest, "displayText"},
		{"display text wrong type", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","displayText":5}`), nil, 400, CodeInvalidRequest, "displayText"},
		{"callback http", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","callbackUrl":"http://portal.example/cb"}`), nil, 400, CodeInvalidRequest, "callbackUrl"},
		{"callback foreign host", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","callbackUrl":"https://evil.example/cb"}`), nil, 400, CodeInvalidRequest, "callbackUrl"},
		{"callback relative", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","callbackUrl":"/cb"}`), nil, 400, CodeInvalidRequest, "callbackUrl"},
		{"callback credentials", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","callbackUrl":"https://u:p@portal.example/cb"}`), nil, 400, CodeInvalidRequest, "callbackUrl"},
		{"callback without allowlist", "POST", "/v1/authentications", key2, auth(`"SHA256"}`, `"SHA256","callbackUrl":"https://portal.example/cb"}`), nil, 400, CodeInvalidRequest, "callbackUrl"},
		{"callback fragment", "POST", "/v1/authentications", key1, auth(`"SHA256"}`, `"SHA256","callbackUrl":"https://portal.example/cb#x"}`), nil, 400, CodeInvalidRequest, "callbackUrl"},
		{"idempotency key bad", "POST", "/v1/authentications", key1, auth(), []string{"Idempotency-Key", "a b"}, 400, CodeInvalidRequest, "Idempotency-Key"},
		{"sign without certificate", "POST", "/v1/signatures", key1, auth(), nil, 400, CodeInvalidRequest, "certificate"},
		{"sign type unknown", "POST", "/v1/signatures", key1, sign(`{"type":"royal"}`), nil, 400, CodeInvalidRequest, "certificate.type"},
		{"sign personal with tax id", "POST", "/v1/signatures", key1, sign(`{"type":"personal","taxId":"1234567891"}`), nil, 400, CodeInvalidRequest, "certificate.taxId"},
		{"sign bad tax id", "POST", "/v1/signatures", key1, sign(`{"type":"business","taxId":"12ab"}`), nil, 400, CodeInvalidRequest, "certificate.taxId"},
		{"sign certificate unknown field", "POST", "/v1/signatures", key1, sign(`{"type":"business","company":"x"}`), nil, 400, CodeInvalidRequest, "company"},
		{"sign not allowed for portal", "POST", "/v1/signatures", key2, sign(`{"type":"personal"}`), nil, 403, CodeForbidden, ""},
		{"get without key", "GET", "/v1/sessions/00112233445566778899aabbccddeeff", "", "", nil, 401, CodeUnauthorized, ""},
		{"get bad id", "GET", "/v1/sessions/bad!id", key1, "", nil, 404, CodeSessionNotFound, ""},
		{"get negative timeout", "GET", "/v1/sessions/00112233445566778899aabbccddeeff?timeoutMs=-1", key1, "", nil, 400, CodeInvalidRequest, "timeoutMs"},
		{"get huge timeout", "GET", "/v1/sessions/00112233445566778899aabbccddeeff?timeoutMs=120001", key1, "", nil, 400, CodeInvalidRequest, "timeoutMs"},
		{"get timeout not a number", "GET", "/v1/sessions/00112233445566778899aabbccddeeff?timeoutMs=1s", key1, "", nil, 400, CodeInvalidRequest, "timeoutMs"},
		{"certs without key", "GET", "/v1/certificates?phoneNumber=0501234567&userId=123456", "", "", nil, 401, CodeUnauthorized, ""},
		{"certs bad phone", "GET", "/v1/certificates?phoneNumber=12&userId=123456", key1, "", nil, 400, CodeInvalidRequest, "phoneNumber"},
		{"certs bad user id", "GET", "/v1/certificates?phoneNumber=0501234567&userId=1", key1, "", nil, 400, CodeInvalidRequest, "userId"},
		{"certs unknown parameter", "GET", "/v1/certificates?phoneNumber=0501234567&userId=123456&x=1", key1, "", nil, 400, CodeInvalidRequest, "x"},
		{"unknown endpoint", "GET", "/v1/nothing", key1, "", nil, 404, CodeNotFound, ""},
		{"login with GET", "GET", "/v1/authentications", key1, "", nil, 405, CodeMethodNotAllowed, ""},
		{"put a session", "PUT", "/v1/sessions/00112233445566778899aabbccddeeff", key1, "{}", nil, 405, CodeMethodNotAllowed, ""},
		{"post certificates", "POST", "/v1/certificates", key1, "{}", nil, 405, CodeMethodNotAllowed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, m := call(t, s.Handler(), tt.method, tt.path, tt.key, tt.body, tt.hdr...)
			if tt.name == "no content type" {
				// call sets the type whenever there is a body; send one without.
				req, _ := http.NewRequest("POST", "/v1/authentications", strings.NewReader(auth()))
				req.Header.Set("Authorization", "Bearer "+key1)
				resp, m = serve(s, req)
			}
			if resp.StatusCode != tt.status || m["code"] != tt.code {
				t.Fatalf("status %d code %v, want %d %s (%v)", resp.StatusCode, m["code"], tt.status, tt.code, m)
			}
			if f, _ := m["field"].(string); f != tt.field {
				t.Fatalf("field %q, want %q (%v)", f, tt.field, m)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
		})
	}
}
