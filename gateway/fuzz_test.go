package gateway

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/imzagate/imzagate/applet"
)

// FuzzDecodeStart fuzzes the JSON decoding of start requests: decoding
// never panics, and what decodes re-encodes and decodes to an equal value.
// Validation runs on every decoded request and must not panic either.
func FuzzDecodeStart(f *testing.F) {
	f.Add([]byte(`{"phoneNumber":"+994501234567","userId":"123456","hash":"` + validHash + `","hashType":"SHA256"}`))
	f.Add([]byte(`{"phoneNumber":"0501234567","userId":"123456","hash":"` + validHash + `","hashType":"SHA256","displayText":"Giriş","callbackUrl":"https://portal.example/cb"}`))
	f.Add([]byte(`{"phoneNumber":"994501234567","userId":"123456","hash":"` + validHash + `","hashType":"SHA256","certificate":{"type":"business","taxId":"1234567891"}}`))
	f.Add([]byte(`{"certificate":null,"displayText":null}`))
	f.Add([]byte(`{"phoneNumber":"\u0000","userId":1}`))
	f.Add([]byte(`[]`))
	s, err := NewServer(ServerOptions{Store: &fakeStore{}, Sender: &fakeSender{}, OTA: &fakeOTA{},
		Portals: []Portal{{ID: "p", APIKeySHA256: HashAPIKey("k"), CallbackHosts: []string{"portal.example"}}}})
	if err != nil {
		f.Fatal(err)
	}
	p := s.portals.list[0]
	f.Fuzz(func(t *testing.T, data []byte) {
		var req signRequest
		if err := decodeBody(data, &req); err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("decode error %T is not an *Error", err)
			}
			return
		}
		again, err := json.Marshal(&req)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var req2 signRequest
		if err := decodeBody(again, &req2); err != nil {
			t.Fatalf("decode of re-encoded %q: %v", again, err)
		}
		if !reflect.DeepEqual(req, req2) {
			t.Fatalf("round trip changed the request: %+v vs %+v", req, req2)
		}
		_, _ = validateStart(applet.OpSign, &req.authRequest, req.Certificate, &req.formatRequest, defaultMaxDocuments, p)
		_, _ = validateStart(applet.OpAuthenticate, &req.authRequest, nil, &req.formatRequest, defaultMaxDocuments, p)
	})
}
