package smpp

import (
	"errors"
	"testing"
)

func TestParseNetworkErrorCode(t *testing.T) {
	tests := []struct {
		in   []byte
		want NetworkError
		fail bool
	}{
		{[]byte{3, 0x00, 0x1B}, NetworkError{NetGSM, 27}, false},
		{[]byte{3, 0x00, 0x01}, NetworkError{NetGSM, 1}, false},
		{[]byte{1, 0x12, 0x34}, NetworkError{NetANSI136AccessDenied, 0x1234}, false},
		{[]byte{8, 0xFF, 0xFF}, NetworkError{NetMessageCenter, 0xFFFF}, false},
		{[]byte{0, 0x00, 0x1B}, NetworkError{}, true},
		{[]byte{3, 0x1B}, NetworkError{}, true},
		{[]byte{3, 0, 0x1B, 0}, NetworkError{}, true},
		{nil, NetworkError{}, true},
	}
	for _, tt := range tests {
		got, err := ParseNetworkErrorCode(tt.in)
		if tt.fail {
			if err == nil || !errors.Is(err, ErrBadValue) {
				t.Errorf("%x: %+v %v, want ErrBadValue", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%x: %+v %v, want %+v", tt.in, got, err, tt.want)
		}
	}
	if s := (NetworkError{NetGSM, 27}).String(); s != "3/27" {
		t.Errorf("String = %q", s)
	}
}

// A receipt carries the network_error_code TLV beside its text; the
// text's err: stays what it says, and without one the code fills it.
func TestParseReceiptNetworkError(t *testing.T) {
	var gsm27 TLVs
	gsm27.SetReceiptedMessageID("1f")
	gsm27.Set(TagNetworkErrorCode, []byte{3, 0, 27})
	r, err := ParseReceipt([]byte("id:1f sub:001 dlvrd:000 submit date:2401011200 done date:2401011201 stat:UNDELIV err:027 text:"), gsm27, IDHex)
	if err != nil || r.NetworkError != (NetworkError{NetGSM, 27}) || r.Err != "027" || r.Stat != "UNDELIV" {
		t.Fatalf("receipt %+v %v", r, err)
	}
	r, err = ParseReceipt([]byte("id:1f stat:UNDELIV"), gsm27, IDHex)
	if err != nil || r.Err != "027" {
		t.Fatalf("code without err: %+v %v", r, err)
	}
	var bad TLVs
	bad.Set(TagNetworkErrorCode, []byte{0, 0, 27})
	r, err = ParseReceipt([]byte("id:9 stat:EXPIRED"), bad, IDString)
	if err != nil || !r.NetworkError.IsZero() || r.Stat != "EXPIRED" {
		t.Fatalf("malformed code must not lose the receipt: %+v %v", r, err)
	}
}

// FuzzReceiptNetworkError: a receipt text with any network_error_code
// value never panics; a parsed code always has a network type, and one is
// parsed exactly when the value is 3 octets with a non-zero type.
func FuzzReceiptNetworkError(f *testing.F) {
	f.Add([]byte("id:1a stat:UNDELIV err:027"), []byte{3, 0, 27})
	f.Add([]byte("id:1a stat:EXPIRED"), []byte{0, 0, 0})
	f.Add([]byte("id:1a stat:DELIVRD err:000"), []byte{8})
	f.Add([]byte("stat:UNDELIV"), []byte{3, 0xFF, 0xFF, 0})
	f.Fuzz(func(t *testing.T, text, code []byte) {
		var tl TLVs
		tl.Set(TagNetworkErrorCode, code)
		r, err := ParseReceipt(text, tl, IDHex)
		if err != nil {
			return
		}
		valid := len(code) == 3 && code[0] != 0
		if r.NetworkError.IsZero() == valid {
			t.Fatalf("code %x parsed as %+v", code, r.NetworkError)
		}
		if valid && (byte(r.NetworkError.Type) != code[0] || r.NetworkError.Code != uint16(code[1])<<8|uint16(code[2])) {
			t.Fatalf("code %x parsed as %+v", code, r.NetworkError)
		}
	})
}
