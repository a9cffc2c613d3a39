package applet

import (
	"errors"
	"testing"
)

func TestKeyVersionsValidate(t *testing.T) {
	if err := DefaultKeyVersions.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := (KeyVersions{MO: 3}).WithDefaults(); got != (KeyVersions{MT: 1, MO: 3}) {
		t.Fatalf("defaults %+v", got)
	}
	for _, tt := range []struct {
		v    KeyVersions
		want string
	}{
		{KeyVersions{MT: 0, MO: 2}, "MT key version 0 outside 1..15"},
		{KeyVersions{MT: 1, MO: 16}, "MO key version 16 outside 1..15"},
		{KeyVersions{MT: 4, MO: 4}, "MT and MO key versions are both 4"},
	} {
		err := tt.v.Validate()
		if !errors.Is(err, ErrKeyVersion) || err.Error() != "applet: bad key version: "+tt.want+func() string {
			if tt.v.MT == tt.v.MO {
				return "; the directions need different key sets"
			}
			return ""
		}() {
			t.Errorf("%+v: %v", tt.v, err)
		}
	}
	if _, err := NewTransport(KeyVersions{MT: 5, MO: 5}); !errors.Is(err, ErrKeyVersion) {
		t.Fatalf("NewTransport: %v", err)
	}
}

// A reply sealed with MO key version 3 carries KIc and KID 32, opens with
// a transport of that version, and is refused by the default one (and the
// other way round), before anything is deciphered.
func TestTransportKeyVersions(t *testing.T) {
	keys, err := DeriveCardKeys(MasterKeys{KIc: [16]byte{1}, KID: [16]byte{2}, KIcMO: [16]byte{3}, KIDMO: [16]byte{4}}, "8999401000000000017")
	if err != nil {
		t.Fatal(err)
	}
	v3, err := NewTransport(KeyVersions{MT: 4, MO: 3})
	if err != nil {
		t.Fatal(err)
	}
	if p := v3.MOParams(); p.KIc != 0x32 || p.KID != 0x32 || v3.MTParams().KIc != 0x42 || v3.Versions() != (KeyVersions{MT: 4, MO: 3}) {
		t.Fatalf("params MO %+v MT %+v", p.Header, v3.MTParams().Header)
	}
	r := &Response{TxnID: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, Status: StatusUserCancelled, PINTriesLeft: 3}
	segs, err := v3.SealMO(keys, 7, r, 0)
	if err != nil {
		t.Fatal(err)
	}
	// UDH 02 70 00, CPL (2), CHL, SPI (2), then KIc and KID.
	if len(segs) != 1 || segs[0][8] != 0x32 || segs[0][9] != 0x32 {
		t.Fatalf("segment % x", segs[0][:12])
	}
	mo, err := v3.OpenMO(keys, segs[0])
	if err != nil || mo.Kind != MOReply || mo.Counter != 7 || mo.Response.Status != StatusUserCancelled {
		t.Fatalf("open with version 3: %+v, %v", mo, err)
	}
	if _, err := OpenMO(keys, segs[0]); !errors.Is(err, ErrWrongKeySet) {
		t.Fatalf("default transport opened a version 3 reply: %v", err)
	}
	segs, _ = SealMO(keys, 8, r, 0)
	if _, err := v3.OpenMO(keys, segs[0]); !errors.Is(err, ErrWrongKeySet) {
		t.Fatalf("version 3 transport opened a version 2 reply: %v", err)
	}
	cmd, err := v3.SealCommand(keys, 9, &Command{TxnID: r.TxnID, Operation: OpAuthenticate, KeyRef: KeyRefAuth, HashAlg: HashSHA256,
		Hash: make([]byte, 32), VerificationCode: 1234, DisplayText: "x", UserTimeout: 60}, 0)
	if err != nil || cmd[0][8] != 0x42 || cmd[0][9] != 0x42 {
		t.Fatalf("command % x: %v", cmd[0][:12], err)
	}
}
