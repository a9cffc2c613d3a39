package sessions

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"time"
)

func sampleCertStatus() *CertificateStatus {
	return &CertificateStatus{Status: CertStatusRevoked, Source: CertSourceCRL,
		CheckedAt: time.UnixMilli(0x0000019a_00000001).UTC(), RevokedAt: time.UnixMilli(0x00000199_ffffff00).UTC(), Reason: 1,
		Chain: [][]byte{{0x30, 0x82, 0x01}, {0x30, 0x03}}}
}

// goldenCertStatus is sampleCertStatus's stored form, field by field.
const goldenCertStatus = "01" + "72" + "63" + "0000019a00000001" + "00000199ffffff00" + "01" + "02" +
	"0003" + "308201" + "0002" + "3003"

func TestCertStatusGolden(t *testing.T) {
	cs := sampleCertStatus()
	if got := hex.EncodeToString(appendCertStatus(nil, cs)); got != goldenCertStatus {
		t.Fatalf("encoded\n%s\nwant\n%s", got, goldenCertStatus)
	}
	b, _ := hex.DecodeString(goldenCertStatus)
	dec, err := decodeCertStatus(b)
	if err != nil || !reflect.DeepEqual(dec, cs) {
		t.Fatalf("decoded %+v, %v", dec, err)
	}
	good := &CertificateStatus{Status: CertStatusGood, Source: CertSourceOCSP, CheckedAt: cs.CheckedAt}
	if got := hex.EncodeToString(appendCertStatus(nil, good)); got != "01676f0000019a00000001"+"0000000000000000"+"00"+"00" {
		t.Fatalf("good without a chain: %s", got)
	}
}

func TestCertStatusRejects(t *testing.T) {
	valid, _ := hex.DecodeString(goldenCertStatus)
	set := func(i int, v byte) []byte { b := bytes.Clone(valid); b[i] = v; return b }
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version 2", set(0, 2)},
		{"status x", set(1, 'x')},
		{"source x", set(2, 'x')},
		{"unknown with a source", set(1, 'u')},
		{"good with a revocation", set(1, 'g')},
		{"revoked without a source", set(2, '-')},
		{"checked zero", func() []byte { b := bytes.Clone(valid); copy(b[3:11], make([]byte, 8)); return b }()},
		{"reason 7", set(19, 7)},
		{"reason 11", set(19, 11)},
		{"nine certificates", set(20, 9)},
		{"truncated chain", valid[:len(valid)-1]},
		{"empty certificate", func() []byte { b := bytes.Clone(valid[:21]); b[20] = 1; return append(b, 0, 0) }()},
		{"trailing octet", append(bytes.Clone(valid), 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if cs, err := decodeCertStatus(tc.in); !errors.Is(err, ErrInvalid) {
				t.Fatalf("decodeCertStatus = %+v, %v; want ErrInvalid", cs, err)
			}
		})
	}
	if _, err := completeArgs("x", Result{Code: ResultOK, CertStatus: &CertificateStatus{Status: CertStatusGood}}, time.Now(), time.Minute, time.Hour); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a status without source and time was accepted: %v", err)
	}
}

func FuzzDecodeCertStatus(f *testing.F) {
	b, _ := hex.DecodeString(goldenCertStatus)
	f.Add(b)
	f.Add(appendCertStatus(nil, &CertificateStatus{Status: CertStatusUnknown, CheckedAt: time.UnixMilli(1)}))
	f.Add([]byte{1, 'g', 'p'})
	f.Fuzz(func(t *testing.T, in []byte) {
		cs, err := decodeCertStatus(in)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if out := appendCertStatus(nil, cs); !bytes.Equal(out, in) {
			t.Fatalf("re-encoded % x, read % x", out, in)
		}
	})
}

// testCertificateStatus: a status recorded with a result is read back by
// Get on any instance, by the completion itself, and by
// AcceptMOAndComplete; a result without one reads as nil.
func testCertificateStatus(t *testing.T, be backend) {
	e := newEnv(t, be, nil)
	ctx := context.Background()
	cs := sampleCertStatus()
	cs.Chain = [][]byte{bytes.Repeat([]byte{0x30}, 1500), bytes.Repeat([]byte{0x31}, 900), bytes.Repeat([]byte{0x32}, 700)}
	sess := e.start(newPhone())
	done, err := e.store.Complete(ctx, sess.ID, Result{Code: "CERTIFICATE_REVOKED", CertStatus: cs})
	if err != nil || !reflect.DeepEqual(done.CertStatus, cs) {
		t.Fatalf("Complete: status differs (%v)", err)
	}
	if got, err := e.peer().Get(ctx, sess.ID); err != nil || !reflect.DeepEqual(got.CertStatus, cs) || got.Result != "CERTIFICATE_REVOKED" {
		t.Fatalf("Get on a peer: status differs (%v)", err)
	}
	good := &CertificateStatus{Status: CertStatusGood, Source: CertSourceOCSP, CheckedAt: e.clock.Now().Truncate(time.Millisecond).UTC(), Chain: cs.Chain}
	sess = e.start(newPhone())
	done, _, err = e.store.AcceptMOAndComplete(ctx, "8999401234567890123", 5, sess.ID, Result{Code: ResultOK, SigAlg: "ECDSA_P256", Signature: []byte{1}, CertStatus: good})
	if err != nil || !reflect.DeepEqual(done.CertStatus, good) {
		t.Fatalf("AcceptMOAndComplete: status differs (%v)", err)
	}
	sess = e.start(newPhone())
	if done, err := e.store.Complete(ctx, sess.ID, Result{Code: ResultTimeout}); err != nil || done.CertStatus != nil {
		t.Fatalf("a result without a status: %v, %v", done.CertStatus != nil, err)
	}
}
