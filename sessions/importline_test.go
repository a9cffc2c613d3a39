package sessions

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestAppendImportLine: a written line parses back to the same subscriber
// with the User ID in clear; what the import would refuse is refused when
// writing.
func TestAppendImportLine(t *testing.T) {
	sub := Subscriber{Phone: "+994501000000", ICCID: "8999400000000000003", KeyVersion: 1, Operator: "sim",
		Certificates: []Certificate{{Type: "personal", KeyRef: 1, DER: []byte{0x30, 0x03, 0x02, 0x01, 0x01},
			NotBefore: time.Unix(1_700_000_000, 0).UTC(), NotAfter: time.Unix(1_800_000_000, 0).UTC(), Status: StatusActive}}}
	b, err := AppendImportLine([]byte("prefix\n"), sub, "437234")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"phone":"+994501000000","iccid":"8999400000000000003","user_id":"437234","key_version":1,"operator":"sim",` +
		`"certificates":[{"type":"personal","key_ref":1,"der":"MAMCAQE=","not_before":"2023-11-14T22:13:20Z","not_after":"2027-01-15T08:00:00Z","status":"active"}]}` + "\n"
	if got := string(b); got != "prefix\n"+want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, uid, mac, err := parseSubscriberLine(bytes.TrimSpace([]byte(want)))
	if err != nil || uid != "437234" || mac != nil || back.Phone != sub.Phone || len(back.Certificates) != 1 {
		t.Fatalf("parsed %+v %q %v", back, uid, err)
	}
	for _, tt := range []struct {
		name   string
		mutate func(*Subscriber) string
		want   string
	}{
		{"bad User ID", func(*Subscriber) string { return "12345" }, "user id"},
		{"bad phone", func(s *Subscriber) string { s.Phone = "0501000000"; return "437234" }, "phone"},
		{"bad operator", func(s *Subscriber) string { s.Operator = "Sim Operator"; return "437234" }, "operator"},
	} {
		s := sub
		uid := tt.mutate(&s)
		if _, err := AppendImportLine(nil, s, uid); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
