package applet

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

var testNow = time.Unix(1_800_000_000, 0)

func FuzzParseCommand(f *testing.F) {
	c := sampleCommand()
	b, _ := c.AppendBinary(nil)
	f.Add(b)
	c.DisplayText = "ə"
	b, _ = c.AppendBinary(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		_ = TxnIDOf(in)
		c, err := ParseCommand(in)
		if err != nil {
			return
		}
		out, err := c.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		c2, err := ParseCommand(out)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("reparse %+v %v", c2, err)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	r := Response{TxnID: [8]byte{1}, Status: StatusOK, SigAlg: SigECDSAP256, Signature: make([]byte, 64), PINTriesLeft: 3}
	b, _ := r.AppendBinary(nil)
	f.Add(b)
	r = Response{Status: StatusBadRequest, PINTriesLeft: -1}
	b, _ = r.AppendBinary(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseResponse(in)
		if err != nil {
			return
		}
		out, err := r.AppendBinary(nil)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		r2, err := ParseResponse(out)
		if err != nil || r2.Status != r.Status || r2.PINTriesLeft != r.PINTriesLeft || !bytes.Equal(r2.Signature, r.Signature) || r2.TxnID != r.TxnID {
			t.Fatalf("reparse %+v %v", r2, err)
		}
	})
}

func FuzzOpenMO(f *testing.F) {
	keys := testKeys(f)
	r := Response{Status: StatusUserCancelled, PINTriesLeft: 2}
	segs, _ := SealMO(keys, 3, &r, 0)
	f.Add(segs[0])
	f.Add([]byte{2, 0x71, 0, 0, 0x0b, 0x0a, 0xa5, 0x10, 0x01, 0, 0, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, in []byte) {
		mo, err := OpenMO(keys, in)
		if err != nil || mo.Kind != MOReply {
			return
		}
		again, err := SealMO(keys, mo.Counter, &mo.Response, 0)
		if err != nil {
			t.Fatal(err)
		}
		mo2, err := OpenMO(keys, again[0])
		if err != nil || mo2.Counter != mo.Counter || mo2.Response.Status != mo.Response.Status {
			t.Fatalf("reopen %+v %v", mo2, err)
		}
	})
}
