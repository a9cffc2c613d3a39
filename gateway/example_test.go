package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
)

// ExampleNewServer builds the portal API over its three dependencies (here
// the test fakes; Start wires *sessions.Store, *smpp.Pool and the applet's
// codec) and shows a problem answer.
func ExampleNewServer() {
	s, err := NewServer(ServerOptions{
		Store: &fakeStore{}, Sender: &fakeSender{}, OTA: &fakeOTA{},
		Portals: []Portal{{ID: "etaxes", DisplayName: "e-taxes", APIKeySHA256: HashAPIKey("secret-key")}},
	})
	if err != nil {
		panic(err)
	}
	defer s.Close(context.Background())
	req := httptest.NewRequest("POST", "/v1/authentications", strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer wrong-key")
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output: 401 application/problem+json
}
