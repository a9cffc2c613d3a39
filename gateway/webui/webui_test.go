package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	h := Handler(`key"</script><b>`)
	tests := []struct {
		name, method, path string
		status             int
		contains           string
	}{
		{"page, key escaped for the script", "GET", "/", 200, `const apiKey = "key\"\u003c/script\u003e\u003cb\u003e";`},
		{"head", "HEAD", "/", 200, ""},
		{"other path", "GET", "/admin", 404, ""},
		{"post", "POST", "/", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
				t.Fatalf("%d %q", rec.Code, rec.Body.String())
			}
			if tt.status == 200 && !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
			}
		})
	}
	// The page drives the API the way the README documents.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	for _, want := range []string{"/v1/authentications", "/v1/signatures", "timeoutMs=", `data-state`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}
