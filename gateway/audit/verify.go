package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strconv"
)

// Bounds of one verification, so a hostile file cannot exhaust memory.
const (
	// MaxChains bounds the chains of one export (or one online run).
	MaxChains = 100_000
	// maxBreaks and maxNotices bound what a report lists.
	maxBreaks  = 1000
	maxNotices = 1000
)

// Report is the outcome of a verification.
type Report struct {
	// Records counts the records read.
	Records int
	// Chains lists each chain of each export in the file (or each chain
	// online), in the order read.
	Chains []ChainReport
	// Seals counts the exports whose seal verified.
	Seals int
	// Breaks lists the first broken link of each chain, and problems of
	// the file as a whole, in the order found; the first is the first
	// broken link. Empty when everything verified.
	Breaks []*Break
	// Notices are facts that are not tampering but limit what the trail
	// proves: open chains whose tail no signature covers, losses the
	// writer recorded.
	Notices []string

	dropped int // breaks and notices beyond the bounds
}

// ChainReport summarises one chain.
type ChainReport struct {
	ID          string
	Records     int
	LastSeq     uint64
	Checkpoints int
	// LastCheckpoint is the sequence number of the last checkpoint (0:
	// none); the records after it are covered by no signature.
	LastCheckpoint uint64
	// Final: the chain ends with a final checkpoint (closed by its writer).
	Final  bool
	Broken bool
}

// OK reports whether nothing is broken.
func (r *Report) OK() bool { return len(r.Breaks) == 0 }

// Err returns the first broken link, or nil.
func (r *Report) Err() error {
	if len(r.Breaks) == 0 {
		return nil
	}
	return r.Breaks[0]
}

// knownCP is a signed checkpoint seen earlier (in an earlier export of the
// same file) or kept in the index (online): the chain must still hold it.
type knownCP struct {
	seq  uint64
	hash [32]byte
	from string
}

// loss is what a chain.start record says its writer lost in a chain.
type loss struct {
	after, through uint64
	by             string
}

type chainState struct {
	id      string
	rep     int // index in Report.Chains
	last    uint64
	head    [32]byte
	lastCP  uint64
	final   bool
	broken  bool
	matched bool // an end line matched the chain
}

// checker verifies records fed to it in export order. One checker reads a
// whole file (several exports, each closed by a seal) or one online run.
type checker struct {
	pub    ed25519.PublicKey
	file   bool // reading an export: chains end with end lines
	rep    *Report
	byID   map[string]*chainState // chains of the current export
	order  []*chainState
	cur    *chainState
	known  map[string]knownCP
	losses map[string]loss

	segRecords int
	endCount   int
	digest     hash.Hash // of the current export's end lines
	anyLine    bool
}

func newChecker(pub ed25519.PublicKey) *checker {
	return &checker{
		pub: pub, rep: &Report{},
		byID: map[string]*chainState{}, known: map[string]knownCP{}, losses: map[string]loss{},
		digest: sha256.New(),
	}
}

func (c *checker) brk(cs *chainState, seq uint64, line int, format string, args ...any) {
	b := &Break{Seq: seq, Line: line, Reason: fmt.Sprintf(format, args...)}
	if cs != nil {
		if cs.broken {
			return
		}
		cs.broken = true
		c.rep.Chains[cs.rep].Broken = true
		b.Chain = cs.id
	}
	if len(c.rep.Breaks) >= maxBreaks {
		c.rep.dropped++
		return
	}
	c.rep.Breaks = append(c.rep.Breaks, b)
}

// brkAt reports a break at a record that belongs to no chain read so far.
func (c *checker) brkAt(chain string, seq uint64, line int, format string, args ...any) {
	if len(c.rep.Breaks) >= maxBreaks {
		c.rep.dropped++
		return
	}
	c.rep.Breaks = append(c.rep.Breaks, &Break{Chain: chain, Seq: seq, Line: line, Reason: fmt.Sprintf(format, args...)})
}

func (c *checker) notice(format string, args ...any) {
	if len(c.rep.Notices) >= maxNotices {
		c.rep.dropped++
		return
	}
	c.rep.Notices = append(c.rep.Notices, fmt.Sprintf(format, args...))
}

// chain returns the state of rec's chain, starting it when new; nil when
// the record must be skipped (reported).
func (c *checker) chain(rec *Record, line int) *chainState {
	if c.cur != nil && c.cur.id == rec.Chain {
		if c.cur.matched {
			c.brk(c.cur, rec.Seq, line, "record after its chain's end line: records added")
			return nil
		}
		return c.cur
	}
	if c.file && c.cur != nil && !c.cur.matched {
		// In an export a chain's records end with its end line; a record
		// of another chain before it was put there.
		c.brkAt(rec.Chain, rec.Seq, line, "record of chain %s among chain %s's records: moved between chains", rec.Chain, c.cur.id)
		return nil
	}
	if cs, seen := c.byID[rec.Chain]; seen {
		c.brk(cs, rec.Seq, line, "record appears again after chain %s began: records reordered or moved between chains", c.cur.id)
		return nil
	}
	if len(c.byID) >= MaxChains {
		c.brk(nil, 0, line, "more than %d chains", MaxChains)
		return nil
	}
	cs := &chainState{id: rec.Chain, rep: len(c.rep.Chains)}
	c.rep.Chains = append(c.rep.Chains, ChainReport{ID: rec.Chain})
	c.byID[rec.Chain] = cs
	c.order = append(c.order, cs)
	c.cur = cs
	return cs
}

// add checks one record: h is its computed hash, stated the hash its line
// states (nil online), line its line number (0 online).
func (c *checker) add(rec *Record, h [32]byte, stated *[32]byte, line int) {
	cs := c.chain(rec, line)
	if cs == nil {
		return
	}
	c.rep.Records++
	c.segRecords++
	cr := &c.rep.Chains[cs.rep]
	cr.Records++
	if cs.broken {
		return
	}
	if seq, reason := c.link(cs, rec, h, stated); reason != "" {
		c.brk(cs, seq, line, "%s", reason)
		return
	}
	if k, ok := c.known[cs.id]; ok && k.seq == rec.Seq && k.hash != h {
		c.brk(cs, rec.Seq, line, "differs from the signed checkpoint at seq %d in %s: history rewritten", k.seq, k.from)
		return
	}
	if rec.Kind == KindCheckpoint {
		final, reason := checkCheckpoint(rec, c.pub)
		if reason != "" {
			c.brk(cs, rec.Seq, line, "%s", reason)
			return
		}
		cs.final, cs.lastCP = final, rec.Seq
		cr.Checkpoints++
		cr.LastCheckpoint, cr.Final = rec.Seq, final
		if k := c.known[cs.id]; rec.Seq > k.seq {
			from := "an earlier export in this file"
			if line > 0 {
				from += " (line " + strconv.Itoa(line) + ")"
			}
			c.known[cs.id] = knownCP{seq: rec.Seq, hash: h, from: from}
		}
	}
	if rec.Kind == KindChainStart && rec.Details["reason"] == "gap" {
		c.noteLoss(rec)
	}
	cs.last, cs.head = rec.Seq, h
	cr.LastSeq = rec.Seq
}

// link checks a record against its chain so far and returns where and
// what is wrong ("" when nothing is). A changed record is named by the
// place it holds, since its own seq may be what changed.
func (c *checker) link(cs *chainState, rec *Record, h [32]byte, stated *[32]byte) (uint64, string) {
	want := cs.last + 1
	if stated != nil && *stated != h {
		if rec.Seq != want {
			return want, fmt.Sprintf("record changed: its stated hash does not match its content (it now says seq %d)", rec.Seq)
		}
		return want, "record changed: its stated hash does not match its content"
	}
	switch {
	case rec.Seq == want:
	case rec.Seq == want+1:
		return rec.Seq, fmt.Sprintf("record %d missing or moved (seq %d follows %d)", want, rec.Seq, cs.last)
	case rec.Seq > want:
		return rec.Seq, fmt.Sprintf("records %d..%d missing or moved (seq %d follows %d)", want, rec.Seq-1, rec.Seq, cs.last)
	default:
		return rec.Seq, fmt.Sprintf("seq %d follows %d: records reordered or duplicated", rec.Seq, cs.last)
	}
	if cs.last == 0 {
		if rec.Prev != Genesis(cs.id) {
			return rec.Seq, "prev is not the chain's genesis: the record belongs to another chain"
		}
	} else if rec.Prev != cs.head {
		return rec.Seq, fmt.Sprintf("prev does not match the hash of seq %d: seq %d was changed or replaced, or this record moved from another chain", cs.last, cs.last)
	}
	if cs.final {
		return rec.Seq, "record after the chain's final checkpoint"
	}
	return 0, ""
}

// noteLoss keeps what a chain.start record of reason "gap" says: its
// writer's previous chain lost records lost_after+1..lost_through in the
// store before they were replicated.
func (c *checker) noteLoss(rec *Record) {
	after, err1 := strconv.ParseUint(rec.Details["lost_after"], 10, 64)
	through, err2 := strconv.ParseUint(rec.Details["lost_through"], 10, 64)
	prev := rec.Details["lost_chain"]
	if err1 != nil || err2 != nil || validChain(prev) != nil || len(c.losses) >= MaxChains {
		return
	}
	c.losses[prev] = loss{after: after, through: through, by: describe(rec.Chain, rec.Seq)}
}

// end checks an export's end line against the chain it closes.
func (c *checker) end(e endLine, raw []byte, line int) {
	c.endCount++
	c.digest.Write(raw)
	c.digest.Write([]byte{'\n'})
	cs, ok := c.byID[e.Chain]
	if !ok {
		c.brk(nil, 0, line, "end line for chain %s, which has no records in the file: chain removed", e.Chain)
		return
	}
	cs.matched = true
	switch {
	case cs.broken:
	case cs.last+1 == e.Seq:
		c.brk(cs, e.Seq, line, "record %d missing at the chain's end (its end line says seq %d)", e.Seq, e.Seq)
	case cs.last < e.Seq:
		c.brk(cs, cs.last+1, line, "records %d..%d missing at the chain's end (its end line says seq %d)", cs.last+1, e.Seq, e.Seq)
	case cs.last > e.Seq:
		c.brk(cs, e.Seq+1, line, "records after seq %d are not in the export's end line: records added", e.Seq)
	case cs.head != e.Head:
		c.brk(cs, cs.last, line, "the last record is not the one exported (head differs from the end line)")
	}
}

// sealed checks a seal and closes the current export.
func (c *checker) sealed(raw []byte, line int) {
	s, obj, sig, err := parseSeal(raw)
	switch {
	case err != nil:
		c.brk(nil, 0, line, "%v", err)
	case s.Key != KeyID(c.pub):
		c.brk(nil, 0, line, "seal signed by key %s, verifying with key %s", s.Key, KeyID(c.pub))
	case !ed25519.Verify(c.pub, append([]byte(sealContext), obj...), sig):
		c.brk(nil, 0, line, "seal signature does not verify: forged or changed")
	case s.Chains != len(c.order) || s.Chains != c.endCount:
		c.brk(nil, 0, line, "the seal counts %d chains, the export has %d with records and %d end lines: a chain was removed or added", s.Chains, len(c.order), c.endCount)
	case s.Records != c.segRecords:
		c.brk(nil, 0, line, "the seal counts %d records, the export has %d: records removed or added", s.Records, c.segRecords)
	case [32]byte(c.digest.Sum(nil)) != s.Digest:
		c.brk(nil, 0, line, "the end lines do not match the seal's digest: a chain's end changed")
	default:
		c.rep.Seals++
	}
	for _, cs := range c.order {
		if !cs.matched {
			c.brk(cs, cs.last, line, "no end line before the seal: the chain was added to the export")
		}
	}
	c.closeExport()
}

// closeExport judges what can only be judged once every chain of an
// export (or of an online run) is read, and starts the next export.
func (c *checker) closeExport() {
	for _, cs := range c.order {
		c.judgeEnd(cs)
	}
	c.byID, c.order, c.cur = map[string]*chainState{}, nil, nil
	c.segRecords, c.endCount = 0, 0
	c.digest.Reset()
}

// judgeEnd compares where a chain ends with what is known of it.
func (c *checker) judgeEnd(cs *chainState) {
	if cs.broken {
		return
	}
	l, lost := c.losses[cs.id]
	if k, ok := c.known[cs.id]; ok && k.seq > cs.last {
		if lost && l.after == cs.last && l.after < l.through && l.through >= k.seq {
			c.notice("chain %s: the store lost records %d..%d (recorded by %s), though %s holds a signed checkpoint at seq %d: a failover lost acknowledged records; keep that copy, it is the only one of %d..%d",
				cs.id, l.after+1, l.through, l.by, k.from, k.seq, l.after+1, k.seq)
			return
		}
		c.brk(cs, cs.last+1, 0, "the chain ends at seq %d, but %s holds its signed checkpoint at seq %d: records deleted", cs.last, k.from, k.seq)
		return
	}
	if lost && l.after == cs.last && l.after < l.through {
		c.notice("chain %s: the store lost records %d..%d before they were replicated (recorded by %s); the chain ends at seq %d", cs.id, l.after+1, l.through, l.by, cs.last)
		return
	}
	if !cs.final {
		c.notice("chain %s is open: it ends at seq %d, last checkpoint at seq %d; records %d..%d are covered by no signature (a writer still running, a crash, or a cut tail look alike)",
			cs.id, cs.last, cs.lastCP, cs.lastCP+1, cs.last)
	}
}

// VerifyFile checks an export (or several exports concatenated): every
// line's form, every chain's hash links and sequence, every checkpoint's
// signature, every export's end lines and seal, and that no chain lost a
// record an earlier export in the file holds a checkpoint for. It returns
// the report and its first broken link (a *Break, matching ErrBroken), or
// an I/O error.
func VerifyFile(r io.Reader, pub ed25519.PublicKey) (*Report, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, invalidf("public key of %d octets, want %d", len(pub), ed25519.PublicKeySize)
	}
	c := newChecker(pub)
	c.file = true
	err := readLines(r, func(line []byte, n int) {
		c.anyLine = true
		c.line(line, n)
	}, func(n int) {
		c.brk(nil, 0, n, "line longer than %d octets", MaxLineLen)
	})
	if err != nil {
		return c.rep, err
	}
	if len(c.order) > 0 || c.segRecords > 0 || c.endCount > 0 {
		c.brk(nil, 0, 0, "no seal after the last records: the file was cut short or not written by Export")
		c.closeExport()
	}
	if !c.anyLine {
		c.brk(nil, 0, 0, "empty file")
	}
	return c.rep, c.rep.Err()
}

var (
	prefixRecord = []byte(`{"v":1,"chain":`)
	prefixEnd    = []byte(`{"v":1,"end":`)
	prefixSeal   = []byte(`{"v":1,"seal":`)
)

// line dispatches one line of a file.
func (c *checker) line(line []byte, n int) {
	switch {
	case bytes.HasPrefix(line, prefixRecord):
		rec, stated, h, err := parseRecord(line, true)
		if err != nil {
			c.brk(nil, 0, n, "not a valid record: %v", err)
			return
		}
		c.add(&rec, h, &stated, n)
	case bytes.HasPrefix(line, prefixEnd):
		e, err := parseEnd(line)
		if err != nil {
			c.brk(nil, 0, n, "%v", err)
			return
		}
		c.end(e, line, n)
	case bytes.HasPrefix(line, prefixSeal):
		c.sealed(line, n)
	default:
		c.brk(nil, 0, n, "not a record, end line or seal")
	}
}

// readLines calls fn for every non-empty line (without its newline) and
// tooLong for a line over MaxLineLen, which it skips.
func readLines(r io.Reader, fn func([]byte, int), tooLong func(int)) error {
	br := bufio.NewReaderSize(r, MaxLineLen+1)
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			tooLong(n)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		line = bytes.TrimSuffix(line, []byte{'\n'})
		if len(line) > MaxLineLen {
			tooLong(n)
		} else if len(line) > 0 {
			fn(line, n)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
