package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"time"

	"github.com/imzagate/imzagate/sessions"
)

// Export and verification read whole chains: a chain is one writer's UTC
// day, so a window is rounded out to whole UTC days and every chain in an
// export verifies from its genesis.

// MaxWindowDays bounds the days of one Export or Verify.
const MaxWindowDays = 1000

// readPage is how many records one read brings.
const readPage = 1000

// days lists the UTC days from the day of from to the day of to.
func days(from, to time.Time) ([]time.Time, error) {
	first, last := dayStart(from), dayStart(to)
	if last.Before(first) {
		return nil, invalidf("window ends (%s) before it starts (%s)", to.UTC().Format(time.DateOnly), from.UTC().Format(time.DateOnly))
	}
	n := int(last.Sub(first)/(24*time.Hour)) + 1
	if n > MaxWindowDays {
		return nil, invalidf("window of %d days, at most %d", n, MaxWindowDays)
	}
	out := make([]time.Time, n)
	for i := range out {
		out[i] = first.AddDate(0, 0, i)
	}
	return out, nil
}

// forEachEntry calls fn for every stored entry of every chain of the
// window's days, chains in day then id order, entries in stream order;
// chainDone is called after each chain's entries.
func (t *Trail) forEachEntry(ctx context.Context, from, to time.Time,
	chainStart func(sessions.AuditChainInfo) error,
	fn func(chain string, e sessions.AuditEntry) error,
	chainDone func(chain string) error) error {
	ds, err := days(from, to)
	if err != nil {
		return err
	}
	for _, day := range ds {
		chains, err := t.store.Chains(ctx, day)
		if err != nil {
			return err
		}
		for _, c := range chains {
			if err := chainStart(c); err != nil {
				return err
			}
			after := ""
			for {
				page, err := t.store.Read(ctx, c.ID, after, readPage)
				if err != nil {
					return err
				}
				for _, e := range page {
					if err := fn(c.ID, e); err != nil {
						return err
					}
				}
				if len(page) < readPage {
					break
				}
				after = page[len(page)-1].ID
			}
			if err := chainDone(c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// Export writes every chain of the UTC days from the day of from to the
// day of to as JSON lines: each chain's records in order (canonical bytes
// plus "hash"), then the chain's end line, and finally a seal signed with
// the audit key over the counts and the end lines. Chains are ordered by
// day, then by id. The file is what VerifyFile checks and what archives
// keep; exports of later windows may be appended to it.
func (t *Trail) Export(ctx context.Context, w io.Writer, from, to time.Time) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	digest := sha256.New()
	s := seal{From: dayStart(from).Format(time.DateOnly), To: dayStart(to).Format(time.DateOnly), Key: KeyID(t.pub)}
	var (
		line []byte
		end  endLine
		n    int
	)
	err := t.forEachEntry(ctx, from, to,
		func(sessions.AuditChainInfo) error { n = 0; return nil },
		func(chain string, e sessions.AuditEntry) error {
			line = append(line[:0], e.Data...)
			h := sha256.Sum256(e.Data)
			if bytes.HasSuffix(line, []byte("}")) {
				line = withHash(line, h)
			}
			line = append(line, '\n')
			end = endLine{Chain: chain, Seq: e.Seq, Head: h}
			n++
			s.Records++
			_, err := bw.Write(line)
			return err
		},
		func(string) error {
			if n == 0 {
				return nil // registered, never written: nothing to export
			}
			s.Chains++
			line = append(end.append(line[:0]), '\n')
			digest.Write(line)
			_, err := bw.Write(line)
			return err
		})
	if err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	s.Time = t.opts.Now()
	copy(s.Digest[:], digest.Sum(nil))
	if _, err := bw.Write(append(s.signedLine(t.opts.SigningKey), '\n')); err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("audit: export: %w", err)
	}
	return nil
}

// Verify checks, in Redis, every chain of the UTC days from the day of from
// to the day of to, as VerifyFile checks an export: records in canonical
// form, each in its own chain's stream under its own sequence number, hash
// links, sequence continuity, checkpoint signatures, and that each chain
// still holds the signed checkpoint its index entry keeps (the anchor), so
// a cut tail is noticed. It returns the report and its first broken link
// (a *Break), or the store's error.
func (t *Trail) Verify(ctx context.Context, from, to time.Time) (*Report, error) {
	c := newChecker(t.pub)
	err := t.forEachEntry(ctx, from, to,
		func(info sessions.AuditChainInfo) error {
			c.anchor(info)
			return nil
		},
		func(chain string, e sessions.AuditEntry) error {
			c.stored(chain, e)
			return nil
		},
		func(string) error { return nil })
	if err != nil {
		return c.rep, fmt.Errorf("audit: verify: %w", err)
	}
	c.closeExport()
	if !c.rep.OK() {
		t.m.verifyFails.Inc()
	}
	return c.rep, c.rep.Err()
}

// anchor starts an online chain with what its index entry keeps.
func (c *checker) anchor(info sessions.AuditChainInfo) {
	if len(info.Anchor) == 0 {
		return
	}
	cs := c.chain(&Record{Chain: info.ID}, 0)
	if cs == nil {
		return
	}
	rec, err := ParseRecord(info.Anchor)
	switch {
	case err != nil:
		c.brk(cs, 0, 0, "the index anchor is not a valid record: %v", err)
	case rec.Chain != info.ID || rec.Kind != KindCheckpoint:
		c.brk(cs, rec.Seq, 0, "the index anchor is not a checkpoint of this chain")
	default:
		if _, reason := checkCheckpoint(&rec, c.pub); reason != "" {
			c.brk(cs, rec.Seq, 0, "index anchor: %s", reason)
			return
		}
		c.known[info.ID] = knownCP{seq: rec.Seq, hash: rec.Hash(), from: "the chain's index anchor"}
	}
}

// stored checks one entry read from a chain's stream.
func (c *checker) stored(chain string, e sessions.AuditEntry) {
	rec, _, h, err := parseRecord(e.Data, false)
	if err != nil || rec.Chain != chain || e.ID != fmt.Sprintf("%d-0", rec.Seq) {
		cs := c.chain(&Record{Chain: chain}, 0)
		if cs == nil {
			return
		}
		c.rep.Records++
		c.rep.Chains[cs.rep].Records++
		switch {
		case err != nil:
			c.brk(cs, e.Seq, 0, "stored record (stream id %s) is not valid: %v", e.ID, err)
		case rec.Chain != chain:
			c.brk(cs, rec.Seq, 0, "the record in this chain's stream claims chain %s: moved between chains", rec.Chain)
		default:
			c.brk(cs, rec.Seq, 0, "stored under stream id %s, not %d-0", e.ID, rec.Seq)
		}
		return
	}
	c.add(&rec, h, nil, 0)
}
