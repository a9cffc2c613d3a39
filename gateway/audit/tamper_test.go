package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// exportTwoChains writes two closed chains (two writers) with checkpoints
// every 10 records and returns the export and the two chain ids in file
// order.
func exportTwoChains(t *testing.T) (*Trail, []byte, [2]string) {
	t.Helper()
	srv := redistest.Start(t)
	rdb := clientFor(t, srv.Addr)
	var trails [2]*Trail
	for i := range trails {
		trails[i] = newTrail(t, rdb, func(o *Options) { o.CheckpointEvery = 10 })
		r := start(t, trails[i])
		for j := range 35 {
			if err := trails[i].Append(context.Background(), sessionRecord(trails[i], j)); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	}
	exp := exportAll(t, trails[0])
	if _, err := VerifyFile(bytes.NewReader(exp), trails[0].PublicKey()); err != nil {
		t.Fatalf("untouched export does not verify: %v", err)
	}
	var ids [2]string
	n := 0
	for _, l := range lines(exp) {
		if rec, _, err := ParseLine([]byte(l)); err == nil && (n == 0 || ids[n-1] != rec.Chain) {
			ids[n] = rec.Chain
			n++
		}
	}
	if n != 2 {
		t.Fatalf("export holds %d chains, want 2", n)
	}
	return trails[0], exp, ids
}

// find returns the index of the line of chain's record seq.
func find(t *testing.T, ls []string, chain string, seq uint64) int {
	t.Helper()
	for i, l := range ls {
		if rec, _, err := ParseLine([]byte(l)); err == nil && rec.Chain == chain && rec.Seq == seq {
			return i
		}
	}
	t.Fatalf("no line for %s seq %d", chain, seq)
	return -1
}

func record(t *testing.T, line string) Record {
	t.Helper()
	rec, _, err := ParseLine([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// lastSeq and firstCheckpoint of a chain in an export.
func chainFacts(t *testing.T, ls []string, chain string) (last, cp uint64) {
	for _, l := range ls {
		if rec, _, err := ParseLine([]byte(l)); err == nil && rec.Chain == chain {
			last = rec.Seq
			if rec.Kind == KindCheckpoint && cp == 0 {
				cp = rec.Seq
			}
		}
	}
	return last, cp
}

func TestTamperingIsDetected(t *testing.T) {
	t.Parallel()
	tr, exp, ids := exportTwoChains(t)
	a, b := ids[0], ids[1]
	base := lines(exp)
	last, cp := chainFacts(t, base, a)
	if last != 35+1+3+1 || cp != 11 {
		t.Fatalf("chain A ends at %d with its first checkpoint at %d; the test expects 40 and 11", last, cp)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	const mid = 17

	tests := []struct {
		name   string
		tamper func(t *testing.T, ls []string) []string
		chain  string
		seq    uint64
		want   string
	}{
		{"delete first record", func(t *testing.T, ls []string) []string {
			return slices.Delete(ls, find(t, ls, a, 1), find(t, ls, a, 1)+1)
		}, a, 2, "record 1 missing"},
		{"delete middle record", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, mid)
			return slices.Delete(ls, i, i+1)
		}, a, mid + 1, "record 17 missing"},
		{"delete last record (final checkpoint)", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, last)
			return slices.Delete(ls, i, i+1)
		}, a, last, "missing at the chain's end"},
		{"delete checkpoint record", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, cp)
			return slices.Delete(ls, i, i+1)
		}, a, cp + 1, "record 11 missing"},
		{"edit a record, hash left", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, mid)
			ls[i] = strings.Replace(ls[i], `"outcome":"STARTED"`, `"outcome":"REFUSED"`, 1)
			return ls
		}, a, mid, "stated hash does not match"},
		{"edit a record, hash recomputed", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, mid)
			r := record(t, ls[i])
			r.Actor.ID = "another-portal"
			ls[i] = string(r.AppendLine(nil))
			return ls
		}, a, mid + 1, "prev does not match the hash of seq 17"},
		{"edit the last record, hash recomputed", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, last-1)
			r := record(t, ls[i])
			r.Outcome = "REFUSED"
			ls[i] = string(r.AppendLine(nil))
			return ls
		}, a, last, "prev does not match"},
		{"swap two records", func(t *testing.T, ls []string) []string {
			i, j := find(t, ls, a, mid), find(t, ls, a, mid+1)
			ls[i], ls[j] = ls[j], ls[i]
			return ls
		}, a, mid + 1, "record 17 missing or moved"},
		{"duplicate a record", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, mid)
			return slices.Insert(ls, i+1, ls[i])
		}, a, mid, "seq 17 follows 17"},
		{"checkpoint changed, hash recomputed", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, cp)
			r := record(t, ls[i])
			r.Time = r.Time.Add(-3600e9)
			ls[i] = string(r.AppendLine(nil))
			return ls
		}, a, cp, "signature does not verify"},
		{"forged checkpoint signature", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, cp)
			r := record(t, ls[i])
			r.Details[detailSig] = base64.StdEncoding.EncodeToString(ed25519.Sign(other, []byte(ls[i])))
			ls[i] = string(r.AppendLine(nil))
			return ls
		}, a, cp, "signature does not verify"},
		{"checkpoint signed by another key", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, cp)
			r := record(t, ls[i])
			signCheckpoint(&r, other, false)
			ls[i] = string(r.AppendLine(nil))
			return ls
		}, a, cp, "signed by key"},
		{"record moved between chains", func(t *testing.T, ls []string) []string {
			line := ls[find(t, ls, b, 5)]
			ls = slices.Delete(ls, find(t, ls, b, 5), find(t, ls, b, 5)+1)
			return slices.Insert(ls, find(t, ls, a, mid)+1, line)
		}, b, 5, "among chain " + a + "'s records"},
		{"record moved and relabelled", func(t *testing.T, ls []string) []string {
			r := record(t, ls[find(t, ls, b, mid)])
			ls = slices.Delete(ls, find(t, ls, b, mid), find(t, ls, b, mid)+1)
			i := find(t, ls, a, mid)
			r.Chain = a
			ls[i] = string(r.AppendLine(nil))
			return ls
		}, a, mid, "prev does not match the hash of seq 16"},
		{"record added after the end line", func(t *testing.T, ls []string) []string {
			i := find(t, ls, a, last)
			r := record(t, ls[i])
			r.Seq, r.Prev, r.Kind = r.Seq+1, r.Hash(), KindAdminCall
			return slices.Insert(ls, i+2, string(r.AppendLine(nil)))
		}, a, last + 1, "after its chain's end line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ls := tc.tamper(t, slices.Clone(base))
			rep, err := VerifyFile(bytes.NewReader(join(ls)), tr.PublicKey())
			mustBreak(t, err, tc.chain, tc.seq, tc.want)
			if rep.OK() || rep.Err() != err {
				t.Fatalf("report OK=%v, Err=%v; want the returned break", rep.OK(), rep.Err())
			}
		})
	}
}

// Changes to the file as a whole: a chain left out, the seal cut off or
// forged.
func TestFileTamperingIsDetected(t *testing.T) {
	t.Parallel()
	tr, exp, ids := exportTwoChains(t)
	base := lines(exp)
	_, other, _ := ed25519.GenerateKey(nil)
	sealLine := base[len(base)-1]
	tests := []struct {
		name   string
		tamper func([]string) []string
		want   string
	}{
		{"chain removed", func(ls []string) []string {
			return slices.DeleteFunc(ls, func(l string) bool { return strings.Contains(l, ids[1]) })
		}, "seal counts 2 chains"},
		{"seal cut off", func(ls []string) []string { return ls[:len(ls)-1] }, "no seal"},
		{"file cut in a chain", func(ls []string) []string { return ls[:10] }, "no seal"},
		{"seal records changed", func(ls []string) []string {
			ls[len(ls)-1] = strings.Replace(sealLine, `"records":80`, `"records":79`, 1)
			return ls
		}, "seal signature does not verify"},
		{"seal re-signed by another key", func(ls []string) []string {
			s, _, _, err := parseSeal([]byte(sealLine))
			if err != nil {
				panic(err)
			}
			s.Key = KeyID(other.Public().(ed25519.PublicKey))
			ls[len(ls)-1] = string(s.signedLine(other))
			return ls
		}, "seal signed by key"},
		{"end line changed", func(ls []string) []string {
			for i, l := range ls {
				if strings.HasPrefix(l, `{"v":1,"end":`) {
					ls[i] = strings.Replace(l, `"seq":40`, `"seq":39`, 1)
					break
				}
			}
			return ls
		}, "records after seq 39"},
		{"garbage line", func(ls []string) []string { return slices.Insert(ls, 3, "hello") }, "not a record, end line or seal"},
		{"empty", func([]string) []string { return nil }, "empty file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ls := tc.tamper(slices.Clone(base))
			in := []byte{}
			if len(ls) > 0 {
				in = join(ls)
			}
			_, err := VerifyFile(bytes.NewReader(in), tr.PublicKey())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("VerifyFile = %v; want a break with %q", err, tc.want)
			}
		})
	}
	t.Run("records count in seal", func(t *testing.T) {
		if !strings.Contains(sealLine, `"chains":2,"records":`+strconv.Itoa(80)) {
			t.Fatalf("seal %s does not count 2 chains and 80 records", sealLine)
		}
	})
}

// reseal rebuilds the end lines and the seal of an export's record lines
// with the audit key, as Export would have written them: what only the key
// holder can do.
func reseal(t *testing.T, ls []string) []string {
	t.Helper()
	var out []string
	digest := sha256.New()
	s := seal{From: "2026-01-01", To: "2026-01-01", Time: time.Now(), Key: KeyID(testKey.Public().(ed25519.PublicKey))}
	var cur endLine
	flush := func() {
		if cur.Chain == "" {
			return
		}
		l := string(cur.append(nil))
		out = append(out, l)
		digest.Write([]byte(l + "\n"))
		s.Chains++
	}
	for _, l := range ls {
		rec, stated, err := ParseLine([]byte(l))
		if err != nil {
			continue // end lines and seal are rebuilt
		}
		if rec.Chain != cur.Chain {
			flush()
		}
		cur = endLine{Chain: rec.Chain, Seq: rec.Seq, Head: stated}
		out = append(out, l)
		s.Records++
	}
	flush()
	copy(s.Digest[:], digest.Sum(nil))
	return append(out, string(s.signedLine(testKey)))
}

// Two exports in one file: a chain that the later export shows shorter
// than a checkpoint the earlier one holds had signed records deleted, even
// though the later export is consistent (and resealed) on its own.
func TestLaterExportMissingExportedCheckpoint(t *testing.T) {
	t.Parallel()
	tr, exp, ids := exportTwoChains(t)
	first := lines(exp)
	var cut []string
	for _, l := range first {
		if rec, _, err := ParseLine([]byte(l)); err == nil && rec.Chain == ids[0] && rec.Seq > 30 {
			continue
		}
		cut = append(cut, l)
	}
	later := reseal(t, cut)
	rep, err := VerifyFile(bytes.NewReader(join(later)), tr.PublicKey())
	if err != nil {
		t.Fatalf("the cut, resealed export alone: %v", err)
	}
	if len(rep.Notices) != 1 || !strings.Contains(rep.Notices[0], "records 23..30 are covered by no signature") {
		t.Fatalf("notices of the cut export: %q; want chain A open after its checkpoint at 22", rep.Notices)
	}
	both := append(slices.Clone(first), later...)
	_, err = VerifyFile(bytes.NewReader(join(both)), tr.PublicKey())
	b := mustBreak(t, err, ids[0], 31, "an earlier export in this file (line 40) holds its signed checkpoint at seq 40: records deleted")
	t.Logf("reported: %v", b)
}
