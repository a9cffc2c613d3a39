package gateway

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
)

func ExampleNormalizePhone() {
	for _, in := range []string{"+994501234567", "994501234567", "050 123 45 67", "+4915112345678"} {
		p, err := NormalizePhone(in)
		fmt.Println(p, err != nil)
	}
	// Output:
	// +994501234567 false
	// +994501234567 false
	// +994501234567 false
	//  true
}

// ExampleNewServer builds the portal API over its three dependencies (here
// the test fakes; Start wires the real ones) and shows a problem answer.
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
