package sessions

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// goldenCerts is the stored form of sampleCert(1, personal) and
// sampleCert(2, business), written out field by field (certcodec.go).
const goldenCerts = "01" + "02" +
	"01" + "01" + "01" + "00" + "0000000067748580" + "000000006d182000" + "0007" + "3082010a010102" +
	"02" + "01" + "02" + "0a" + "31323334353637383930" + "0000000067748580" + "000000006d182000" + "0007" + "3082010a020102"

func TestCertificatesGolden(t *testing.T) {
	certs := []Certificate{sampleCert(1, CertPersonal), sampleCert(2, CertBusiness)}
	got := hex.EncodeToString(appendCertificates(nil, certs))
	if got != goldenCerts {
		t.Fatalf("encoded\n%s\nwant\n%s", got, goldenCerts)
	}
	b, _ := hex.DecodeString(goldenCerts)
	dec, err := decodeCertificates(b)
	if err != nil || !reflect.DeepEqual(dec, certs) {
		t.Fatalf("decoded %+v, %v", dec, err)
	}
}

func TestDecodeCertificatesRejects(t *testing.T) {
	valid, _ := hex.DecodeString(goldenCerts)
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version 3", append([]byte{3}, valid[1:]...)},
		{"version 2 without details", append([]byte{2}, valid[1:]...)},
		{"count too high", []byte{1, MaxCertificates + 1}},
		{"truncated header", valid[:4]},
		{"truncated der", valid[:len(valid)-1]},
		{"trailing octet", append(append([]byte{}, valid...), 0)},
		{"type code 4", func() []byte { b := bytes.Clone(valid); b[2] = 4; return b }()},
		{"status code 0", func() []byte { b := bytes.Clone(valid); b[3] = 0; return b }()},
		{"key ref 0", func() []byte { b := bytes.Clone(valid); b[4] = 0; return b }()},
		{"business without voen", func() []byte {
			b, _ := hex.DecodeString("0101" + "02010200" + "0000000067748580" + "000000006d182000" + "000101")
			return b
		}()},
		{"validity reversed", func() []byte {
			b, _ := hex.DecodeString("0101" + "01010100" + "000000006d182000" + "0000000067748580" + "000101")
			return b
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := decodeCertificates(tc.in); !errors.Is(err, ErrInvalid) {
				t.Fatalf("decodeCertificates = %v; want ErrInvalid", err)
			}
		})
	}
}

func FuzzDecodeCertificates(f *testing.F) {
	valid, _ := hex.DecodeString(goldenCerts)
	f.Add(valid)
	f.Add(appendCertificates(nil, nil))
	f.Add(appendCertificates(nil, []Certificate{sampleCert(15, CertGovernment)}))
	f.Add([]byte{1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := decodeCertificates(b)
		if err != nil {
			return
		}
		enc := appendCertificates(nil, certs)
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", enc, b)
		}
		again, err := decodeCertificates(enc)
		if err != nil || !reflect.DeepEqual(again, certs) {
			t.Fatalf("decode(encode(x)) = %+v, %v; want %+v", again, err, certs)
		}
	})
}

// goldenSubscriber is the stored record of a subscriber without
// certificates and with User ID HMAC 0x11×32.
const goldenSubscriber = "01" + "1111111111111111111111111111111111111111111111111111111111111111" +
	"0d" + "2b393934353031323334353637" + "13" + "38393939343031323334353637383930313233" +
	"01" + "08" + "617a657263656c6c" + "0100"

func TestSubscriberRecordGolden(t *testing.T) {
	sub := Subscriber{Phone: "+994501234567", ICCID: "8999401234567890123", KeyVersion: 1, Operator: "azercell"}
	uid := bytes.Repeat([]byte{0x11}, 32)
	if got := hex.EncodeToString(encodeSubscriber(&sub, uid)); got != goldenSubscriber {
		t.Fatalf("encoded\n%s\nwant\n%s", got, goldenSubscriber)
	}
	b, _ := hex.DecodeString(goldenSubscriber)
	dec, gotUID, err := decodeSubscriber(b)
	if err != nil || !reflect.DeepEqual(dec, sub) || !bytes.Equal(gotUID, uid) {
		t.Fatalf("decoded %+v %x, %v", dec, gotUID, err)
	}
	bad := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"version 3", append([]byte{3}, b[1:]...)},
		{"version 2 active", func() []byte { c := append([]byte{2}, b[1:len(b)-2]...); return append(c, 1, 1, 0) }()},
		{"short hmac", b[:20]},
		{"phone length past the end", append(bytes.Clone(b[:33]), 0xff)},
		{"no certificate list", b[:len(b)-2]},
		{"bad phone", func() []byte { c := bytes.Clone(b); c[34] = '0'; return c }()},
		{"key version 0", func() []byte { c := bytes.Clone(b); c[68] = 0; return c }()},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := decodeSubscriber(tc.in); !errors.Is(err, ErrInvalid) {
				t.Fatalf("decodeSubscriber = %v; want ErrInvalid", err)
			}
		})
	}
}

func FuzzDecodeSubscriber(f *testing.F) {
	b, _ := hex.DecodeString(goldenSubscriber)
	f.Add(b)
	full := sampleSubscriber("+994551234567")
	f.Add(encodeSubscriber(&full, make([]byte, 32)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sub, uid, err := decodeSubscriber(b)
		if err != nil {
			return
		}
		enc := encodeSubscriber(&sub, uid)
		if !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", enc, b)
		}
		again, uid2, err := decodeSubscriber(enc)
		if err != nil || !reflect.DeepEqual(again, sub) || !bytes.Equal(uid2, uid) {
			t.Fatalf("decode(encode(x)) = %+v, %v", again, err)
		}
	})
}

func FuzzSubscriberLine(f *testing.F) {
	f.Add([]byte(importLine("+994501234567", "123456")))
	f.Add([]byte(`{"phone":"+994551234567","iccid":"89994012345678901234","user_id_hmac":"` + strings.Repeat("ab", 32) + `","key_version":15}`))
	f.Add([]byte(`{"phone":"+994501234567","iccid":"8999401234567890123","user_id":"000001","key_version":1,"certificates":[{"type":"business","tax_id":"1234567890","key_ref":2,"der":"AQ==","not_before":"2025-01-01T00:00:00.5Z","not_after":"2028-01-01T00:00:00+04:00","status":"revoked"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		sub, uid, uidMAC, err := parseSubscriberLine(line)
		// The import's chunk decoder must agree with the single-line one.
		if bytes.IndexByte(line, '\n') < 0 && len(bytes.TrimSpace(line)) > 0 {
			calls := 0
			cerr := parseChunk(append(bytes.Clone(line), '\n'), 1, func(csub Subscriber, cuid string, cmac []byte) {
				calls++
				if err == nil && (!reflect.DeepEqual(csub, sub) || cuid != uid || !bytes.Equal(cmac, uidMAC)) {
					t.Fatalf("parseChunk gave %+v, parseSubscriberLine %+v", csub, sub)
				}
			})
			if (cerr == nil) != (err == nil) || (err == nil && calls != 1) {
				t.Fatalf("parseChunk err %v (%d values), parseSubscriberLine err %v", cerr, calls, err)
			}
		}
		if err != nil {
			return
		}
		if uid != "" {
			uidMAC = bytes.Repeat([]byte{7}, 32) // export writes the HMAC, never the clear value
		}
		out, err := appendSubscriberLine(nil, &sub, uidMAC)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		sub2, uid2, mac2, err := parseSubscriberLine(bytes.TrimSuffix(out, []byte("\n")))
		if err != nil || uid2 != "" || !bytes.Equal(mac2, uidMAC) || !reflect.DeepEqual(sub2, sub) {
			t.Fatalf("round trip of %s: %+v %v", out, sub2, err)
		}
	})
}

// FuzzDecodeSession feeds decodeSession arbitrary records: fields and
// values separated by 0x00. A record that decodes must re-encode (as a new
// session plus its stages) to one that decodes to the same value.
func FuzzDecodeSession(f *testing.F) {
	seed := func(sess *Session, extra ...string) []byte {
		fields := encodeSession(sess)
		var parts []string
		for _, v := range fields {
			switch v := v.(type) {
			case string:
				parts = append(parts, v)
			case []byte:
				parts = append(parts, string(v))
			}
		}
		return []byte(strings.Join(append(parts, extra...), "\x00"))
	}
	s := sampleSession("+994501234567")
	s.ID, s.TxnID, s.Accepted, s.ExpiresAt = strings.Repeat("0", idLen), [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, time.UnixMilli(1e12), time.UnixMilli(1e12+60000)
	f.Add(seed(s))
	f.Add(seed(s, sState, stComplete, sResult, "OK", sComplete, "1000000001000", sSig, "\x01\x02", sSigAlg, "Ed25519", sMsgIDs, "a\nb"))
	f.Add([]byte("st\x00R"))
	s.AdES = []byte{1, 0, 0xff}
	f.Add(seed(s, sState, stComplete, sResult, "OK", sComplete, "1000000001000", sContain, "\x30\x03\x02\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parts := strings.Split(string(b), "\x00")
		if len(parts)%2 != 0 {
			return
		}
		m := map[string]string{}
		for i := 0; i < len(parts); i += 2 {
			m[parts[i]] = parts[i+1]
		}
		sess, err := decodeSession("id", m)
		if err != nil {
			return
		}
		m2 := map[string]string{}
		fields := encodeSession(&sess)
		for i := 0; i < len(fields); i += 2 {
			switch v := fields[i+1].(type) {
			case string:
				m2[fields[i].(string)] = v
			case []byte:
				m2[fields[i].(string)] = string(v)
			}
		}
		for _, k := range []string{sState, sResult, sSig, sSigAlg, sMsgIDs, sSubmit, sDeliver, sComplete, sContain} {
			if v, ok := m[k]; ok {
				m2[k] = v
			}
		}
		again, err := decodeSession("id", m2)
		if err != nil || !reflect.DeepEqual(again, sess) {
			t.Fatalf("re-decode = %+v, %v\nwant %+v", again, err, sess)
		}
	})
}

func TestSessionIDs(t *testing.T) {
	s, err := New(clientFor(t, "127.0.0.1:1"), Options{Pepper: randomPepper()})
	if err != nil {
		t.Fatal(err)
	}
	ref := s.phone("+994501234567")
	for range 100 {
		id, txn := newIDs(ref)
		got, err := refFromID(id)
		if err != nil || got != ref {
			t.Fatalf("refFromID(%s) = %+v, %v; want %+v", id, got, err, ref)
		}
		if !strings.HasPrefix(txnKey(txn), ref.tag) {
			t.Fatalf("txn %x indexes under %s; want the phone's tag %s", txn, txnKey(txn), ref.tag)
		}
	}
	tests := []struct{ name, id string }{
		{"empty", ""},
		{"short", "abc"},
		{"upper case", strings.ToUpper(strings.Repeat("a", idLen))},
		{"outside base32hex", strings.Repeat("w", idLen)},
		{"glob character", strings.Repeat("a", idLen-1) + "*"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := refFromID(tc.id); !errors.Is(err, ErrInvalid) {
				t.Fatalf("refFromID(%q) = %v; want ErrInvalid", tc.id, err)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
	}{
		{"no pepper", Options{}},
		{"short pepper", Options{Pepper: make([]byte, MinPepperLen-1)}},
		{"negative attempts", Options{Pepper: make([]byte, 32), LockoutAttempts: -1}},
		{"tiny retention", Options{Pepper: make([]byte, 32), Retention: time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(clientFor(t, "127.0.0.1:1"), tc.opts); !errors.Is(err, ErrInvalid) {
				t.Fatalf("New = %v; want ErrInvalid", err)
			}
		})
	}
	if _, err := New(nil, Options{Pepper: make([]byte, 32)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("New(nil) = %v", err)
	}
}

func TestErrorsMatch(t *testing.T) {
	if !errors.Is(ErrExpired, ErrDuplicate) || errors.Is(ErrDuplicate, ErrExpired) {
		t.Fatal("ErrExpired must match ErrDuplicate, not the reverse")
	}
	var err error = &LockedError{RetryAfter: time.Minute}
	if !errors.Is(err, ErrLocked) || errors.Is(err, ErrBadUserID) {
		t.Fatal("LockedError must match ErrLocked only")
	}
	if e := storeErr("x", errors.New("boom")); !errors.Is(e, ErrUnavailable) {
		t.Fatalf("storeErr = %v", e)
	}
}
