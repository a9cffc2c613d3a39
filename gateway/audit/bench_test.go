package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// BenchmarkAppendBatched is the cost of one session record through the
// batching writer into a real redis-server (queue, batching, encoding,
// hashing, the append script; Append blocks rather than drops when the
// queue is full).
func BenchmarkAppendBatched(b *testing.B) {
	srv := redistest.Start(b)
	rdb := clientFor(b, srv.Addr)
	hook := &countHook{}
	rdb.AddHook(hook)
	tr := newTrail(b, rdb, func(o *Options) { o.EnqueueWait = time.Minute; o.Logger = nil })
	r := start(b, tr)
	ctx := context.Background()
	rec := sessionRecord(tr, 1)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := tr.Append(ctx, rec); err != nil {
			b.Fatal(err)
		}
		n++
	}
	if err := r.stop(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(hook.n.Load())/float64(n), "roundtrips/record")
}

// BenchmarkCanonicalHash is the canonical encoding and SHA-256 of a
// typical session record.
func BenchmarkCanonicalHash(b *testing.B) {
	r := vectorRecord()
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = r.AppendCanonical(buf[:0])
		_ = sha256.Sum256(buf)
	}
}

// benchExport builds an export of n session records (checkpoint every 1000)
// without Redis.
func benchExport(n int) []byte {
	chain := "20250102.gw-a.00112233aabb"
	var out []byte
	prev := Genesis(chain)
	base := vectorRecord()
	for seq := uint64(1); seq <= uint64(n); seq++ {
		r := base
		r.Chain, r.Seq, r.Prev = chain, seq, prev
		if seq%1000 == 0 || seq == uint64(n) {
			signCheckpoint(&r, testKey, seq == uint64(n))
		}
		out = append(r.AppendLine(out), '\n')
		prev = r.Hash()
	}
	e := endLine{Chain: chain, Seq: uint64(n), Head: prev}
	endL := e.append(nil)
	out = append(append(out, endL...), '\n')
	s := seal{From: "2025-01-02", To: "2025-01-02", Time: time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC),
		Chains: 1, Records: n, Key: KeyID(testKey.Public().(ed25519.PublicKey)), Digest: sha256.Sum256(append(endL, '\n'))}
	return append(append(out, s.signedLine(testKey)...), '\n')
}

// BenchmarkVerifyPerRecord is VerifyFile's cost per record of a 10,000-
// record export (reported as ns/record).
func BenchmarkVerifyPerRecord(b *testing.B) {
	const n = 10_000
	file := benchExport(n)
	pub := testKey.Public().(ed25519.PublicKey)
	if _, err := VerifyFile(bytes.NewReader(file), pub); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyFile(bytes.NewReader(file), pub); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
}
