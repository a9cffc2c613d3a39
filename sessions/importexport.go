package sessions

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
)

// Bulk file format: JSON lines, one subscriber per line (blank lines are
// skipped), UTF-8, each line at most MaxImportLineLen octets:
//
//	{"phone":"+994501234567","iccid":"8999401234567890123","user_id":"123456",
//	 "key_version":1,"operator":"azercell","certificates":[{"type":"business",
//	 "tax_id":"1234567890","key_ref":2,"der":"<base64 DER>","not_before":"2025-01-01T00:00:00Z",
//	 "not_after":"2028-01-01T00:00:00Z","status":"active"}]}
//
// Exactly one of "user_id" (the 6 digits) and "user_id_hmac" (64 hex digits,
// as written by ExportSubscribers; valid only under the same pepper) is
// required. Unknown fields are an error, so a typo never silently drops data.
// A later line for the same phone replaces an earlier one. The certificate
// behind the authentication key may be named by "type":"authentication"
// (key_ref 1, implied when absent) or by "key_ref":1 with its holder's type;
// both are stored alike. docs/provisioning.md documents every field, with a
// JSON Schema beside it.

// MaxImportLineLen bounds one line of the bulk file (16 certificates of
// 16 KiB in base64 fit).
const MaxImportLineLen = 1 << 20

// importBatchSize is the number of subscribers per pipeline.
const importBatchSize = 1000

type subscriberLine struct {
	Phone        string     `json:"phone"`
	ICCID        string     `json:"iccid"`
	UserID       string     `json:"user_id,omitempty"`
	UserIDHMAC   string     `json:"user_id_hmac,omitempty"`
	KeyVersion   int        `json:"key_version"`
	Operator     string     `json:"operator,omitempty"`
	Certificates []certLine `json:"certificates,omitempty"`
}

type certLine struct {
	Type      string    `json:"type"`
	TaxID     string    `json:"tax_id,omitempty"`
	KeyRef    int       `json:"key_ref"`
	DER       []byte    `json:"der"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Status    string    `json:"status"`
}

// parseSubscriberLine decodes and validates one line of the bulk format.
// It returns the subscriber, and either the clear User ID or its HMAC.
func parseSubscriberLine(line []byte) (sub Subscriber, userID string, uidMAC []byte, err error) {
	if len(line) > MaxImportLineLen {
		return Subscriber{}, "", nil, invalidf("line longer than %d octets", MaxImportLineLen)
	}
	var l subscriberLine
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return Subscriber{}, "", nil, invalidf("json: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Subscriber{}, "", nil, invalidf("json: data after the object")
	}
	return fromLine(&l)
}

// fromLine validates a decoded line.
func fromLine(l *subscriberLine) (sub Subscriber, userID string, uidMAC []byte, err error) {
	if len(l.Certificates) > MaxCertificates {
		return Subscriber{}, "", nil, invalidf("%d certificates, max %d", len(l.Certificates), MaxCertificates)
	}
	sub = Subscriber{Phone: l.Phone, ICCID: l.ICCID, KeyVersion: l.KeyVersion, Operator: l.Operator}
	for i, c := range l.Certificates {
		if c.Type == certTypeAuthentication {
			if c.KeyRef != 0 && c.KeyRef != 1 {
				return Subscriber{}, "", nil, invalidf("certificates[%d].key_ref %d: the authentication certificate is key_ref 1", i, c.KeyRef)
			}
			c.Type, c.KeyRef = CertPersonal, 1
		}
		if c.KeyRef < 0 || c.KeyRef > 0xFF {
			return Subscriber{}, "", nil, invalidf("certificates[%d].key_ref %d", i, c.KeyRef)
		}
		sub.Certificates = append(sub.Certificates, Certificate{Type: c.Type, TaxID: c.TaxID, KeyRef: byte(c.KeyRef),
			DER: c.DER, NotBefore: c.NotBefore, NotAfter: c.NotAfter, Status: c.Status})
	}
	sub.Certificates = normalizeCertificates(sub.Certificates)
	if err := sub.validate(); err != nil {
		return Subscriber{}, "", nil, err
	}
	switch {
	case l.UserID != "" && l.UserIDHMAC != "", l.UserID == "" && l.UserIDHMAC == "":
		return Subscriber{}, "", nil, invalidf("want exactly one of user_id and user_id_hmac")
	case l.UserID != "":
		if err := validUserID(l.UserID); err != nil {
			return Subscriber{}, "", nil, err
		}
		return sub, l.UserID, nil, nil
	}
	uidMAC, err = hex.DecodeString(l.UserIDHMAC)
	if err != nil || len(uidMAC) != 32 {
		return Subscriber{}, "", nil, invalidf("user_id_hmac: want 64 hex digits")
	}
	return sub, "", uidMAC, nil
}

// certTypeAuthentication names, in the bulk format, the certificate of the
// authentication key (key_ref 1), which the registry files as personal.
const certTypeAuthentication = "authentication"

// parseChunk decodes consecutive lines of the bulk format (each line
// complete, at most MaxImportLineLen octets) with one decoder, whose buffer
// is reused from line to line; that is what makes the import fast. It
// enforces what parseSubscriberLine does for a single line: one object per
// line, nothing else on it. firstLine numbers the chunk's first line in
// errors.
func parseChunk(chunk []byte, firstLine int, fn func(sub Subscriber, userID string, uidMAC []byte)) error {
	lineOf := func(off int64) int { return firstLine + bytes.Count(chunk[:min(int(off), len(chunk))], []byte{'\n'}) }
	dec := json.NewDecoder(bytes.NewReader(chunk))
	dec.DisallowUnknownFields()
	prevEnd := 0
	for {
		// The value's first octet: skip the white space the decoder will.
		start := prevEnd
		for start < len(chunk) && (chunk[start] == ' ' || chunk[start] == '\t' || chunk[start] == '\r' || chunk[start] == '\n') {
			start++
		}
		if start == len(chunk) {
			return nil
		}
		if prevEnd > 0 && bytes.IndexByte(chunk[prevEnd:start], '\n') < 0 {
			return invalidf("line %d: json: data after the object", lineOf(int64(start)))
		}
		var l subscriberLine
		if err := dec.Decode(&l); err != nil {
			off := dec.InputOffset()
			var se *json.SyntaxError
			if errors.As(err, &se) {
				off = se.Offset
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				off = int64(start)
			}
			return invalidf("line %d: json: %v", lineOf(off), err)
		}
		end := int(dec.InputOffset())
		if bytes.IndexByte(chunk[start:end], '\n') >= 0 {
			return invalidf("line %d: json: an object must fit on one line", lineOf(int64(start)))
		}
		sub, uid, uidMAC, err := fromLine(&l)
		if err != nil {
			return fmt.Errorf("line %d: %w", lineOf(int64(start)), err)
		}
		fn(sub, uid, uidMAC)
		prevEnd = end
	}
}

// appendSubscriberLine writes sub in the bulk format with the User ID as
// its stored HMAC, newline-terminated.
func appendSubscriberLine(b []byte, sub *Subscriber, uidMAC []byte) ([]byte, error) {
	l := subscriberLine{Phone: sub.Phone, ICCID: sub.ICCID, UserIDHMAC: hex.EncodeToString(uidMAC),
		KeyVersion: sub.KeyVersion, Operator: sub.Operator}
	for _, c := range sub.Certificates {
		l.Certificates = append(l.Certificates, certLine{Type: c.Type, TaxID: c.TaxID, KeyRef: int(c.KeyRef),
			DER: c.DER, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Status: c.Status})
	}
	out, err := json.Marshal(&l)
	if err != nil {
		return b, err
	}
	return append(append(b, out...), '\n'), nil
}

type importRecord struct {
	key string
	rec []byte
}

type importBatch struct {
	firstLine int
	chunk     []byte // whole lines, newline-terminated
	recs      []importRecord
	err       error
	done      chan struct{}
}

func (s *Store) parseBatch(b *importBatch) {
	defer close(b.done)
	b.recs = make([]importRecord, 0, importBatchSize)
	err := parseChunk(b.chunk, b.firstLine, func(sub Subscriber, uid string, uidMAC []byte) {
		if uidMAC == nil {
			uidMAC = s.userIDMAC(sub.Phone, uid)
		}
		b.recs = append(b.recs, importRecord{key: s.phone(sub.Phone).subscriberKey(), rec: encodeSubscriber(&sub, uidMAC)})
	})
	if err != nil {
		b.err = fmt.Errorf("sessions: import: %w", err)
	}
	b.chunk = nil
}

// ImportSubscribers reads subscribers in the bulk format (see above) and
// writes them with pipelined SETs in batches of 1000: one parser per CPU,
// up to three pipelines in flight. A later line for the same phone wins.
// progress, if not nil, is called after each batch with the number imported
// so far, in file order. It stops at the first bad line, with the line
// number in the error; batches before it may be stored, none after it. Each
// batch's pipeline has a deadline of four times OpTimeout. When ctx ends
// the import stops at the next batch, but a Read that blocks is not
// interrupted, so pass a file rather than a stream that can stall.
func (s *Store) ImportSubscribers(ctx context.Context, r io.Reader, progress func(n int)) (int, error) {
	workers := max(runtime.GOMAXPROCS(0), 1)
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan *importBatch, workers)
	order := make(chan *importBatch, workers+1)

	g.Go(func() error { return splitImport(gctx, r, work, order) })
	for range workers {
		g.Go(func() error {
			for b := range work {
				s.parseBatch(b)
			}
			return nil
		})
	}
	var w *importWriter
	g.Go(func() error {
		w = &importWriter{s: s, ctx: gctx, progress: progress}
		for b := range order {
			select {
			case <-b.done:
			case <-gctx.Done():
				_ = w.drain()
				return gctx.Err()
			}
			if b.err != nil {
				if err := w.drain(); err != nil {
					return err
				}
				return b.err
			}
			if err := w.send(b.recs); err != nil {
				_ = w.drain()
				return err
			}
		}
		return w.drain()
	})
	err := g.Wait()
	return w.total, err
}

// splitImport reads the import's lines and hands them out in batches of
// importBatchSize non-blank lines, to work (the parsers) and, in the same
// order, to order (the writer); it closes both when the input ends.
func splitImport(gctx context.Context, r io.Reader, work, order chan<- *importBatch) error {
	defer close(work)
	defer close(order)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), MaxImportLineLen+1)
	lineNo := 0
	cur := &importBatch{firstLine: 1, done: make(chan struct{})}
	n := 0 // non-blank lines in cur
	flush := func() error {
		if n == 0 {
			return nil
		}
		size := len(cur.chunk) // read before a worker owns the batch
		for _, ch := range []chan<- *importBatch{work, order} {
			select {
			case ch <- cur:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		cur = &importBatch{firstLine: lineNo + 1, done: make(chan struct{}), chunk: make([]byte, 0, size+size/8)}
		n = 0
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) > 0 {
			n++
		}
		cur.chunk = append(append(cur.chunk, line...), '\n')
		if n >= importBatchSize {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return invalidf("import: line %d longer than %d octets", lineNo+1, MaxImportLineLen)
		}
		return fmt.Errorf("sessions: import: read: %w", err)
	}
	return flush()
}

// importInFlight is how many batch pipelines may be in flight at once:
// while Redis applies one, the next is already on the wire.
const importInFlight = 3

// importWriter sends batches with up to importInFlight pipelines in
// flight, each on its own connection, and keeps the file's order where it
// matters: a batch that writes a key an in-flight batch also writes waits
// for it, so a later line for the same phone always wins. Progress is
// reported in file order.
type importWriter struct {
	s        *Store
	ctx      context.Context
	progress func(int)
	inflight []*importFlight
	total    int
}

type importFlight struct {
	keys map[string]struct{}
	n    int
	done chan error
}

func (w *importWriter) send(recs []importRecord) error {
	keys := make(map[string]struct{}, len(recs))
	for _, r := range recs {
		keys[r.key] = struct{}{}
	}
	for _, f := range w.inflight {
		if overlaps(keys, f.keys) {
			if err := w.drain(); err != nil {
				return err
			}
			break
		}
	}
	for len(w.inflight) >= importInFlight {
		if err := w.finishOldest(); err != nil {
			return err
		}
	}
	f := &importFlight{keys: keys, n: len(recs), done: make(chan error, 1)}
	go func() { f.done <- w.s.writeBatch(w.ctx, recs) }()
	w.inflight = append(w.inflight, f)
	return nil
}

func overlaps(a, b map[string]struct{}) bool {
	for k := range a {
		if _, ok := b[k]; ok {
			return true
		}
	}
	return false
}

func (w *importWriter) finishOldest() error {
	f := w.inflight[0]
	w.inflight = w.inflight[1:]
	if err := <-f.done; err != nil {
		return err
	}
	w.total += f.n
	if w.progress != nil {
		w.progress(w.total)
	}
	return nil
}

// drain waits for every batch in flight and returns the first error; after
// it no goroutine of the writer is left running.
func (w *importWriter) drain() error {
	var first error
	for len(w.inflight) > 0 {
		if err := w.finishOldest(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// importBatchTimeouts is the deadline of one import pipeline in units of
// OpTimeout: a thousand writes are one round trip but far more work than
// one command, and a busy server should slow an import, not fail it.
const importBatchTimeouts = 4

func (s *Store) writeBatch(ctx context.Context, recs []importRecord) error {
	ctx, cancel := context.WithTimeout(ctx, importBatchTimeouts*s.opts.OpTimeout)
	defer cancel()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range recs {
			p.Set(ctx, r.key, r.rec, 0)
		}
		return nil
	})
	return storeErr("import", err)
}

// ExportSubscribers writes every subscriber in the bulk format, with the
// User ID as its HMAC (the clear value is never stored), and returns how
// many it wrote. On a Cluster it scans every master. The order is
// unspecified. A concurrent change may or may not be included.
func (s *Store) ExportSubscribers(ctx context.Context, w io.Writer) (int, error) {
	var mu sync.Mutex
	total := 0
	err := forEachShard(ctx, s.rdb, func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			octx, cancel := s.opCtx(ctx)
			keys, next, err := c.Scan(octx, cursor, subscriberKeyPattern, 1000).Result()
			if err != nil {
				cancel()
				return storeErr("export", err)
			}
			cmds := make([]*redis.StringCmd, 0, len(keys))
			if len(keys) > 0 {
				_, err = c.Pipelined(octx, func(p redis.Pipeliner) error {
					for _, k := range keys {
						if isSubscriberKey(k) {
							cmds = append(cmds, p.Get(octx, k))
						}
					}
					return nil
				})
			}
			cancel()
			if err != nil && !errors.Is(err, redis.Nil) { // a miss: deleted since the scan
				return storeErr("export", err)
			}
			var buf []byte
			n := 0
			for _, cmd := range cmds {
				rec, err := cmd.Bytes()
				if errors.Is(err, redis.Nil) {
					continue // deleted since the scan
				}
				sub, uidMAC, err := decodeSubscriber(rec)
				if err != nil {
					return fmt.Errorf("sessions: export: %w", err)
				}
				if buf, err = appendSubscriberLine(buf, &sub, uidMAC); err != nil {
					return fmt.Errorf("sessions: export: %w", err)
				}
				n++
			}
			mu.Lock()
			_, err = w.Write(buf)
			total += n
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("sessions: export: write: %w", err)
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	})
	return total, err
}
