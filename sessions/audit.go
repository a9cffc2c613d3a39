package sessions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The audit log keeps the records of the gateway's audit trail (package
// gateway/audit) in Redis Streams. It knows nothing of what a record says:
// it stores opaque entries numbered 1, 2, 3… in one stream per chain and
// lists the chains of each UTC day in an index. Keys:
//
//	{a:<chain>}        stream  entry id "<seq>-0", one field r = the record's bytes
//	{ai:<YYYYMMDD>}    hash    chain id → its latest anchor (the writer's last
//	                           signed checkpoint record; "" until the first)
//	{ad}               zset    YYYYMMDD → day number, the days that have an index
//
// Every chain has its own hash tag, so the chains of several writers spread
// over a Cluster's slots and no key is written for every record but the
// chain's own stream. The index and the day set are written once when a
// chain starts and once per checkpoint.

// Bounds of the audit log's inputs.
const (
	// MaxAuditChainLen bounds a chain id.
	MaxAuditChainLen = 96
	// MaxAuditEntryLen bounds one stored record.
	MaxAuditEntryLen = 16 << 10
	// MaxAuditBatch bounds the entries of one Append.
	MaxAuditBatch = 4096
	// MaxAuditSeq keeps sequence numbers exact in a Lua double and in the
	// millisecond part of a stream id.
	MaxAuditSeq = 1<<53 - 1
)

// ErrAuditGap: the chain's stream does not end where the writer expected
// (see AuditGapError). Nothing was appended.
var ErrAuditGap = errors.New("sessions: audit chain does not end where expected")

// ErrNotReplicated: the records were appended on the master but fewer
// replicas than required acknowledged them within the timeout, so a
// failover could still lose them. It matches ErrUnavailable.
var ErrNotReplicated error = notReplicatedError{}

type notReplicatedError struct{}

func (notReplicatedError) Error() string {
	return "sessions: audit records not acknowledged by the required replicas"
}

// Is makes errors.Is(ErrNotReplicated, ErrUnavailable) true.
func (notReplicatedError) Is(target error) bool { return target == ErrUnavailable }

// AuditGapError reports the sequence number a chain's stream really ends
// at, when it is neither the one the writer expected nor the end of the
// batch being appended (a retry of an append that was applied). The store
// lost records (a failover to a replica that missed them, a restart
// without persistence) or someone changed the stream. It matches
// ErrAuditGap.
type AuditGapError struct {
	Chain    string
	Expected uint64 // the writer's last appended sequence number
	Stored   uint64 // the stream's last sequence number (0: empty or missing)
}

// Error names the chain and both sequence numbers.
func (e *AuditGapError) Error() string {
	return fmt.Sprintf("sessions: audit chain %s ends at seq %d in the store, expected %d", e.Chain, e.Stored, e.Expected)
}

// Is makes errors.Is(err, ErrAuditGap) true.
func (e *AuditGapError) Is(target error) bool { return target == ErrAuditGap }

// AuditChain names a chain and where its keys live.
type AuditChain struct {
	// ID is the chain id: 1..MaxAuditChainLen characters of [A-Za-z0-9._-].
	ID string
	// Day is the UTC day whose index lists the chain.
	Day time.Time
	// Expire is when the chain's keys are deleted by Redis (zero: never).
	Expire time.Time
}

// AuditEntry is one stored record.
type AuditEntry struct {
	Seq  uint64
	Data []byte
	// ID is the stream entry id Read found ("<seq>-0" unless someone
	// wrote the stream by hand); Append ignores it.
	ID string
}

// AuditChainInfo is a chain listed in a day's index.
type AuditChainInfo struct {
	ID string
	// Anchor is the latest anchor the writer stored (empty before the
	// chain's first checkpoint).
	Anchor []byte
}

// AuditLogOptions configure an AuditLog; the zero value is valid.
type AuditLogOptions struct {
	// OpTimeout bounds each call that talks to Redis (default 2s); a
	// durable append gets its replica wait on top.
	OpTimeout time.Duration
}

// AuditLog stores audit chains in Redis Streams. It is safe for concurrent
// use, but each chain must have one writer: Append checks that the stream
// ends where its caller expects and refuses otherwise.
type AuditLog struct {
	rdb       redis.UniversalClient
	opTimeout time.Duration
	// noWaitAOF: the server has no WAITAOF (before Redis 7.2) or no AOF.
	noWaitAOF atomic.Bool
}

// NewAuditLog returns an AuditLog on rdb. It does not contact Redis.
func NewAuditLog(rdb redis.UniversalClient, opts AuditLogOptions) (*AuditLog, error) {
	if rdb == nil {
		return nil, invalidf("nil redis client")
	}
	if opts.OpTimeout == 0 {
		opts.OpTimeout = DefaultOpTimeout
	}
	if opts.OpTimeout < time.Millisecond {
		return nil, invalidf("AuditLogOptions.OpTimeout must be at least 1ms")
	}
	return &AuditLog{rdb: rdb, opTimeout: opts.OpTimeout}, nil
}

func auditStreamKey(chain string) string { return "{a:" + chain + "}" }
func auditIndexKey(day string) string    { return "{ai:" + day + "}" }

const auditDaysKey = "{ad}"

func auditDay(t time.Time) string { return t.UTC().Format("20060102") }

// dayNumber counts days since 1970-01-01 (UTC), the score in the day set.
func dayNumber(t time.Time) int64 { return t.UTC().Unix() / 86400 }

func validAuditChain(id string) error {
	if id == "" || len(id) > MaxAuditChainLen {
		return invalidf("audit chain id of %d characters, 1..%d", len(id), MaxAuditChainLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return invalidf("audit chain id has character %q outside [A-Za-z0-9._-]", c)
		}
	}
	return nil
}

// Register lists the chain in its day's index, once, before its first
// append; it keeps an anchor already stored. The index and the day set
// expire with the chain; the day set also forgets days that have expired.
func (l *AuditLog) Register(ctx context.Context, c AuditChain) error {
	if err := validAuditChain(c.ID); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	day := auditDay(c.Day)
	idx := auditIndexKey(day)
	_, err := l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSetNX(ctx, idx, c.ID, "")
		p.ZAdd(ctx, auditDaysKey, redis.Z{Score: float64(dayNumber(c.Day)), Member: day})
		if !c.Expire.IsZero() {
			p.PExpireAt(ctx, idx, c.Expire)
			// Days as old as this chain's retention have expired by now.
			horizon := int64(c.Expire.Sub(c.Day) / (24 * time.Hour))
			p.ZRemRangeByScore(ctx, auditDaysKey, "-inf", "("+strconv.FormatInt(dayNumber(c.Day)-horizon, 10))
		}
		return nil
	})
	return storeErr("audit register", err)
}

// srcAuditAppend appends a batch to a chain's stream only if the stream
// ends at the sequence number the writer expects, so a chain never gets a
// hole: a writer that lost its place (the store lost records, or another
// writer appended) is told, and nothing is written. A batch whose last
// entry is already the stream's last, byte for byte, was applied by an
// earlier try whose reply was lost (each record holds the hash of the one
// before, so an equal last record means an equal batch): it answers 'dup'
// and writes nothing, which makes a retry harmless. KEYS: the stream. ARGV: expected last seq, the batch's last
// seq, expire-at ms ('0': none), then entry id and record pairs.
// Replies: {'ok'|'dup'|'gap', stream's last seq before the call}.
const srcAuditAppend = `
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local have = '0'
if top[1] then have = string.match(top[1][1], '^%d+') end
if have == ARGV[2] and top[1][2][2] == ARGV[#ARGV] then return {'dup', have} end
if have ~= ARGV[1] then return {'gap', have} end
for i = 4, #ARGV, 2 do redis.call('XADD', KEYS[1], ARGV[i], 'r', ARGV[i + 1]) end
if ARGV[3] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[3]) end
return {'ok', have}
`

var scriptAuditAppend = redis.NewScript(srcAuditAppend)

// appendArgs checks a batch and builds the script's arguments.
func appendArgs(c AuditChain, after uint64, entries []AuditEntry) ([]any, error) {
	if err := validAuditChain(c.ID); err != nil {
		return nil, err
	}
	if len(entries) == 0 || len(entries) > MaxAuditBatch {
		return nil, invalidf("audit batch of %d entries, 1..%d", len(entries), MaxAuditBatch)
	}
	args := make([]any, 3, 3+2*len(entries))
	args[0] = strconv.FormatUint(after, 10)
	args[2] = "0"
	if !c.Expire.IsZero() {
		args[2] = strconv.FormatInt(c.Expire.UnixMilli(), 10)
	}
	for i, e := range entries {
		if e.Seq != after+uint64(i)+1 || e.Seq > MaxAuditSeq {
			return nil, invalidf("audit entry %d has seq %d, want %d", i, e.Seq, after+uint64(i)+1)
		}
		if len(e.Data) == 0 || len(e.Data) > MaxAuditEntryLen {
			return nil, invalidf("audit entry of %d octets, 1..%d", len(e.Data), MaxAuditEntryLen)
		}
		args = append(args, strconv.FormatUint(e.Seq, 10)+"-0", e.Data)
	}
	args[1] = strconv.FormatUint(entries[len(entries)-1].Seq, 10)
	return args, nil
}

// Append adds entries, numbered after+1, after+2…, to the chain's stream
// in one round trip, if and only if the stream's last entry is after (0:
// the stream is empty or missing). When the batch is already there (a
// retry after a lost reply) it succeeds without writing. Otherwise it
// returns an *AuditGapError and writes nothing; Redis failures wrap
// ErrUnavailable.
func (l *AuditLog) Append(ctx context.Context, c AuditChain, after uint64, entries []AuditEntry) error {
	args, err := appendArgs(c, after, entries)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	return l.runAppend(ctx, l.rdb, c.ID, after, args)
}

func (l *AuditLog) runAppend(ctx context.Context, s redis.Scripter, chain string, after uint64, args []any) error {
	reply, err := scriptAuditAppend.Run(ctx, s, []string{auditStreamKey(chain)}, args...).StringSlice()
	if err != nil {
		return storeErr("audit append", err)
	}
	if len(reply) != 2 {
		return storeErr("audit append", errScriptReply)
	}
	switch reply[0] {
	case "ok", "dup":
		return nil
	case "gap":
		stored, err := strconv.ParseUint(reply[1], 10, 64)
		if err != nil {
			return storeErr("audit append", errScriptReply)
		}
		return &AuditGapError{Chain: chain, Expected: after, Stored: stored}
	}
	return storeErr("audit append", errScriptReply)
}

// AppendDurable is Append followed, on the same connection to the chain's
// master, by WAIT for replicas: replicas < 0 waits for none, 0 waits for
// one when the master has a replica connected (and for none otherwise), n
// > 0 always waits for n. It returns ErrNotReplicated when fewer replicas
// acknowledged within timeout; the entries are then on the master, and a
// retry of the same batch waits again without writing twice.
func (l *AuditLog) AppendDurable(ctx context.Context, c AuditChain, after uint64, entries []AuditEntry, replicas int, timeout time.Duration) error {
	args, err := appendArgs(c, after, entries)
	if err != nil {
		return err
	}
	if timeout < time.Millisecond {
		return invalidf("audit replica timeout %s below 1ms", timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout+timeout)
	defer cancel()
	master, err := l.masterFor(ctx, auditStreamKey(c.ID))
	if err != nil {
		return err
	}
	// WAIT counts the writes of its own connection, so the append and the
	// wait must share one.
	conn := master.Conn()
	defer conn.Close()
	if err := l.runAppend(ctx, conn, c.ID, after, args); err != nil {
		return err
	}
	want := replicas
	if want == 0 {
		info, err := conn.Info(ctx, "replication").Result()
		if err != nil {
			return storeErr("audit replication info", err)
		}
		if connectedReplicas(info) > 0 {
			want = 1
		}
	}
	if want <= 0 {
		return l.waitLocalAOF(ctx, conn, c.ID, replicas, timeout)
	}
	got, err := conn.Wait(ctx, want, timeout).Result()
	if err != nil {
		return storeErr("audit wait", err)
	}
	if got < int64(want) {
		return fmt.Errorf("sessions: audit append to %s: %d of %d replicas: %w", c.ID, got, want, ErrNotReplicated)
	}
	return nil
}

// waitLocalAOF asks a master without replicas to fsync its AOF before the
// append is acknowledged (WAITAOF, Redis 7.2 and later). An older server,
// or one without AOF, is remembered and not asked again: its durability is
// then that of its appendfsync setting (see docs/audit.md).
func (l *AuditLog) waitLocalAOF(ctx context.Context, conn *redis.Conn, chain string, replicas int, timeout time.Duration) error {
	if replicas < 0 || l.noWaitAOF.Load() {
		return nil
	}
	got, err := conn.Do(ctx, "WAITAOF", 1, 0, timeout.Milliseconds()).Int64Slice()
	if err != nil {
		msg := strings.ToLower(err.Error())
		if strings.Contains(msg, "unknown command") || strings.Contains(msg, "appendonly") {
			l.noWaitAOF.Store(true)
			return nil
		}
		return storeErr("audit waitaof", err)
	}
	if len(got) == 0 || got[0] < 1 {
		return fmt.Errorf("sessions: audit append to %s: not fsynced to the AOF: %w", chain, ErrNotReplicated)
	}
	return nil
}

// masterFor returns the client of the master that serves key.
func (l *AuditLog) masterFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := l.rdb.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		m, err := c.MasterForKey(ctx, key)
		return m, storeErr("audit cluster slot", err)
	}
	return nil, invalidf("durable audit append needs a single, Sentinel or Cluster client, not %T", l.rdb)
}

// connectedReplicas reads connected_slaves from INFO replication.
func connectedReplicas(info string) int {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// SetAnchor stores anchor as the chain's latest in its day's index. Call
// it only after the record it names was appended, so an anchor never runs
// ahead of its stream.
func (l *AuditLog) SetAnchor(ctx context.Context, c AuditChain, anchor []byte) error {
	if err := validAuditChain(c.ID); err != nil {
		return err
	}
	if len(anchor) > MaxAuditEntryLen {
		return invalidf("audit anchor of %d octets, at most %d", len(anchor), MaxAuditEntryLen)
	}
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	return storeErr("audit anchor", l.rdb.HSet(ctx, auditIndexKey(auditDay(c.Day)), c.ID, anchor).Err())
}

// Chains lists the chains of a UTC day, ordered by id.
func (l *AuditLog) Chains(ctx context.Context, day time.Time) ([]AuditChainInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	m, err := l.rdb.HGetAll(ctx, auditIndexKey(auditDay(day))).Result()
	if err != nil {
		return nil, storeErr("audit chains", err)
	}
	out := make([]AuditChainInfo, 0, len(m))
	for id, a := range m {
		out = append(out, AuditChainInfo{ID: id, Anchor: []byte(a)})
	}
	slices.SortFunc(out, func(a, b AuditChainInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Read returns up to count entries of the chain after the stream id
// afterID ("" from the start), in order. Seq is the millisecond part of the
// entry's id; an entry with another id than "<seq>-0" is returned as it is
// (a verifier reports it), so Read never hides what the stream holds.
func (l *AuditLog) Read(ctx context.Context, chain string, afterID string, count int) ([]AuditEntry, error) {
	if err := validAuditChain(chain); err != nil {
		return nil, err
	}
	if count < 1 || count > MaxAuditBatch {
		return nil, invalidf("audit read of %d entries, 1..%d", count, MaxAuditBatch)
	}
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	start := "-"
	if afterID != "" {
		start = "(" + afterID
	}
	msgs, err := l.rdb.XRangeN(ctx, auditStreamKey(chain), start, "+", int64(count)).Result()
	if err != nil {
		return nil, storeErr("audit read", err)
	}
	out := make([]AuditEntry, len(msgs))
	for i, m := range msgs {
		out[i].ID = m.ID
		ms, _, _ := strings.Cut(m.ID, "-")
		out[i].Seq, _ = strconv.ParseUint(ms, 10, 64)
		if r, ok := m.Values["r"].(string); ok {
			out[i].Data = []byte(r)
		}
	}
	return out, nil
}

// Purge deletes the chains, index and day entry of every day before the
// UTC day of before, and returns how many days it deleted. Redis expires
// the same keys by itself (AuditChain.Expire); Purge is for shortening the
// retention of what is already stored.
func (l *AuditLog) Purge(ctx context.Context, before time.Time) (int, error) {
	octx, cancel := context.WithTimeout(ctx, l.opTimeout)
	days, err := l.rdb.ZRangeByScore(octx, auditDaysKey, &redis.ZRangeBy{
		Min: "-inf", Max: "(" + strconv.FormatInt(dayNumber(before), 10),
	}).Result()
	cancel()
	if err != nil {
		return 0, storeErr("audit purge", err)
	}
	for i, day := range days {
		if err := l.purgeDay(ctx, day); err != nil {
			return i, err
		}
	}
	return len(days), nil
}

// purgeDay deletes one day's chains, then its index, then its day entry.
func (l *AuditLog) purgeDay(ctx context.Context, day string) error {
	ctx, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	idx := auditIndexKey(day)
	chains, err := l.rdb.HKeys(ctx, idx).Result()
	if err != nil {
		return storeErr("audit purge", err)
	}
	_, err = l.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range chains {
			p.Del(ctx, auditStreamKey(c))
		}
		return nil
	})
	if err != nil {
		return storeErr("audit purge", err)
	}
	// The index goes after its chains, so an interrupted purge leaves
	// nothing unlisted behind; the day entry goes last.
	if err := l.rdb.Del(ctx, idx).Err(); err != nil {
		return storeErr("audit purge", err)
	}
	return storeErr("audit purge", l.rdb.ZRem(ctx, auditDaysKey, day).Err())
}
