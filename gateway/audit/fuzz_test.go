package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"
)

// fuzzExport is a small valid export made without Redis: two records, a
// checkpoint, the end line and the seal.
func fuzzExport() []byte {
	chain := "20250102.gw-a.00112233aabb"
	var out []byte
	prev := Genesis(chain)
	var last Record
	for seq := uint64(1); seq <= 3; seq++ {
		r := Record{Chain: chain, Seq: seq, Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
			Kind: KindSessionStart, Actor: Actor{ID: "e-taxes", Role: "portal"}, Prev: prev,
			Details: map[string]string{"k": "v\n\"x\""}}
		if seq == 3 {
			signCheckpoint(&r, testKey, true)
		}
		out = append(r.AppendLine(out), '\n')
		prev, last = r.Hash(), r
	}
	e := endLine{Chain: chain, Seq: last.Seq, Head: prev}
	endL := e.append(nil)
	out = append(append(out, endL...), '\n')
	s := seal{From: "2025-01-02", To: "2025-01-02", Time: time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC),
		Chains: 1, Records: 3, Key: KeyID(testKey.Public().(ed25519.PublicKey))}
	s.Digest = sha256Sum(append(endL, '\n'))
	return append(append(out, s.signedLine(testKey)...), '\n')
}

// FuzzVerifyFile: the verifier never panics and never accepts a file that
// is not byte for byte a valid export; the seed verifies.
func FuzzVerifyFile(f *testing.F) {
	valid := fuzzExport()
	pub := testKey.Public().(ed25519.PublicKey)
	if _, err := VerifyFile(bytes.NewReader(valid), pub); err != nil {
		f.Fatalf("seed does not verify: %v", err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(bytes.Replace(valid, []byte(`"seq":2`), []byte(`"seq":3`), 1))
	f.Add([]byte("{}\n\n" + `{"v":1,"chain":"x"}`))
	f.Add(bytes.Repeat([]byte{'a'}, MaxLineLen+10))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifyFile(bytes.NewReader(data), pub)
		if rep == nil {
			t.Fatalf("nil report (err %v)", err)
		}
		if err == nil && !bytes.Equal(data, valid) && rep.Seals == 0 {
			t.Fatalf("a file without a valid seal verified: %q", data)
		}
		if err == nil && rep.Records == 0 && rep.Seals == 0 {
			t.Fatalf("an empty trail verified")
		}
		var buf bytes.Buffer
		_ = rep.WriteText(&buf)
	})
}

// FuzzParseLine: a line that parses re-encodes to exactly itself, and no
// input makes the parser panic or accept an over-long line.
func FuzzParseLine(f *testing.F) {
	for _, l := range bytes.Split(fuzzExport(), []byte{'\n'}) {
		f.Add(l)
	}
	r := vectorRecord()
	f.Add(r.AppendLine(nil))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, stated, err := ParseLine(line)
		if err != nil {
			return
		}
		if len(line) > MaxLineLen {
			t.Fatalf("accepted a line of %d octets", len(line))
		}
		again := withHash(rec.AppendCanonical(nil), stated)
		if !bytes.Equal(again, line) {
			t.Fatalf("parsed line re-encodes differently:\n in  %q\n out %q", line, again)
		}
		if _, err := ParseRecord(rec.AppendCanonical(nil)); err != nil {
			t.Fatalf("canonical bytes of a parsed record do not parse: %v", err)
		}
	})
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
