package gateway

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// The hand-written view must know every field of the types it writes: a
// field added to one of them fails here until appendSessionJSON writes it.
func TestSessionJSONFields(t *testing.T) {
	for _, tc := range []struct {
		typ  reflect.Type
		want int
	}{
		{reflect.TypeFor[sessionJSON](), 10}, {reflect.TypeFor[signatureJSON](), 7}, {reflect.TypeFor[stagesJSON](), 4},
		{reflect.TypeFor[CertificateInfo](), 12}, {reflect.TypeFor[RevocationInfo](), 5},
	} {
		if n := tc.typ.NumField(); n != tc.want {
			t.Errorf("%s has %d fields, appendSessionJSON writes %d", tc.typ, n, tc.want)
		}
	}
}

// encodingJSON is what writeJSON writes for v.
func encodingJSON(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// awkward strings exercise every escape encoding/json applies.
var awkward = []string{"", "plain", `quo"te\back`, "<tag>&amp;", "\x00\x01\b\f\n\r\t\x1f\x7f", "ünïcødé ✓ 𝄞",
	"bad \xff\xfe utf-8", "line\u2028sep\u2029", "\xed\xa0\x80 surrogate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}

func randomTime(r *rand.Rand) time.Time {
	t := time.Unix(r.Int64N(4e9), 0).UTC()
	switch r.IntN(3) {
	case 0:
		t = t.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
	case 1:
		t = t.Add(time.Duration(r.IntN(1e9)))
	}
	return t
}

func randomString(r *rand.Rand) string {
	if r.IntN(2) == 0 {
		return awkward[r.IntN(len(awkward))]
	}
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

func randomCertificate(r *rand.Rand) CertificateInfo {
	c := CertificateInfo{Type: randomString(r), Subject: randomString(r), SerialNumber: randomString(r),
		NotBefore: randomTime(r), NotAfter: randomTime(r), Status: randomString(r), RenewalOpen: r.IntN(2) == 0, PEM: randomString(r)}
	if r.IntN(2) == 0 {
		c.TaxID = randomString(r)
	}
	if r.IntN(2) == 0 {
		c.Refusal = randomString(r)
	}
	if r.IntN(2) == 0 {
		rv := &RevocationInfo{Status: randomString(r), CheckedAt: randomTime(r)}
		if r.IntN(2) == 0 {
			rv.Source, rv.Reason = randomString(r), randomString(r)
		}
		if r.IntN(2) == 0 {
			at := randomTime(r)
			rv.RevokedAt = &at
		}
		c.Revocation = rv
	}
	for range r.IntN(3) {
		c.Chain = append(c.Chain, randomString(r))
	}
	if c.Chain == nil && r.IntN(2) == 0 {
		c.Chain = []string{}
	}
	return c
}

func randomView(r *rand.Rand) sessionJSON {
	j := sessionJSON{SessionID: randomString(r), State: randomString(r), Operation: randomString(r),
		VerificationCode: randomString(r), ExpiresAt: randomTime(r)}
	if r.IntN(2) == 0 {
		j.Result = randomString(r)
	}
	if r.IntN(2) == 0 {
		j.Signature = &signatureJSON{Algorithm: randomString(r), Value: randomString(r)}
		if r.IntN(2) == 0 {
			j.Signature.DER, j.Signature.Format = randomString(r), randomString(r)
		}
		if r.IntN(2) == 0 {
			at := randomTime(r)
			j.Signature.CAdES, j.Signature.ASiCManifest, j.Signature.SigningTime = randomString(r), randomString(r), &at
		}
	}
	if r.IntN(2) == 0 {
		c := randomCertificate(r)
		j.Certificate = &c
	}
	switch r.IntN(3) {
	case 0:
		for range 1 + r.IntN(4) {
			j.Certificates = append(j.Certificates, randomCertificate(r))
		}
	case 1:
		j.Certificates = []CertificateInfo{}
	}
	for _, p := range []**time.Time{&j.Stages.Accepted, &j.Stages.Submitted, &j.Stages.Delivered, &j.Stages.Completed} {
		if r.IntN(2) == 0 {
			t := randomTime(r)
			*p = &t
		}
	}
	return j
}

// TestSessionJSONMatchesEncodingJSON compares the hand-written view with
// encoding/json's over varied sessions, byte for byte.
func TestSessionJSONMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		j := randomView(r)
		want := encodingJSON(t, &j)
		got := append(appendSessionJSON(nil, &j), '\n')
		if !bytes.Equal(got, want) {
			t.Fatalf("view %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// FuzzSessionJSON: for any strings and times, the hand-written view is
// byte for byte encoding/json's.
func FuzzSessionJSON(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, s, int64(1700000000123456789), true)
	}
	f.Fuzz(func(t *testing.T, a, b string, ns int64, login bool) {
		at := time.Unix(0, ns).UTC()
		if at.Year() < 0 || at.Year() > 9999 {
			return // outside what RFC 3339 (and MarshalJSON) can write
		}
		j := sessionJSON{SessionID: a, State: b, Operation: a + b, Result: b, VerificationCode: a, ExpiresAt: at,
			Signature: &signatureJSON{Algorithm: b, Value: a, DER: b, Format: a, CAdES: b, ASiCManifest: a, SigningTime: &at},
			Stages:    stagesJSON{Accepted: &at, Completed: &at}}
		c := CertificateInfo{Type: a, TaxID: b, Subject: a, SerialNumber: b, NotBefore: at, NotAfter: at, Status: a, PEM: b,
			Revocation: &RevocationInfo{Status: a, Source: b, CheckedAt: at, RevokedAt: &at, Reason: a}, Chain: []string{a, b}, Refusal: b}
		j.Certificate = &c
		if login {
			j.Certificates = []CertificateInfo{c, c}
		}
		want := encodingJSON(t, &j)
		if got := append(appendSessionJSON(nil, &j), '\n'); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

func BenchmarkSessionJSON(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	j := randomView(r)
	c := randomCertificate(r)
	j.Certificate, j.Certificates = &c, []CertificateInfo{c, c, c, c}
	b.Run("hand-written", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendSessionJSON(buf[:0], &j)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			_ = json.NewEncoder(&buf).Encode(&j)
		}
	})
}
