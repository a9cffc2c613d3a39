package sessions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
	"github.com/redis/go-redis/v9"
)

func auditEntries(from, n int, tag string) []AuditEntry {
	out := make([]AuditEntry, n)
	for i := range out {
		seq := uint64(from + i)
		out[i] = AuditEntry{Seq: seq, Data: fmt.Appendf(nil, `{"seq":%d,"tag":%q}`, seq, tag)}
	}
	return out
}

func testAuditChain(id string) AuditChain {
	day := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	return AuditChain{ID: id, Day: day, Expire: day.Add(48 * time.Hour)}
}

func runAuditLog(t *testing.T, rdb redis.UniversalClient) {
	ctx := context.Background()
	l, err := NewAuditLog(rdb, AuditLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := testAuditChain(fmt.Sprintf("20300102.gw-a.%d", time.Now().UnixNano()))
	if err := l.Register(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, c, 0, auditEntries(1, 3, "a")); err != nil {
		t.Fatal(err)
	}
	// The same batch again (a retry after a lost reply) writes nothing.
	if err := l.Append(ctx, c, 0, auditEntries(1, 3, "a")); err != nil {
		t.Fatalf("retried batch: %v", err)
	}
	// Another batch ending at the same seq is not a retry: refused.
	var gap *AuditGapError
	if err := l.Append(ctx, c, 0, auditEntries(1, 3, "b")); !errors.As(err, &gap) || gap.Stored != 3 || gap.Expected != 0 {
		t.Fatalf("different batch at the same place = %v; want a gap error (stored 3, expected 0)", err)
	}
	// A writer that lost its place is told where the stream ends.
	if err := l.Append(ctx, c, 5, auditEntries(6, 1, "a")); !errors.Is(err, ErrAuditGap) || !strings.Contains(err.Error(), "ends at seq 3") {
		t.Fatalf("append after 5 on a stream ending at 3 = %v", err)
	}
	if err := l.Append(ctx, c, 3, auditEntries(4, 2, "a")); err != nil {
		t.Fatal(err)
	}
	got, err := l.Read(ctx, c.ID, "", 2)
	if err != nil || len(got) != 2 || got[0].Seq != 1 || got[1].ID != "2-0" {
		t.Fatalf("Read first page = %+v, %v", got, err)
	}
	rest, err := l.Read(ctx, c.ID, got[1].ID, 100)
	if err != nil || len(rest) != 3 || rest[2].Seq != 5 || string(rest[2].Data) != `{"seq":5,"tag":"a"}` {
		t.Fatalf("Read after 2-0 = %+v, %v", rest, err)
	}
	// Anchors: Register keeps one already stored.
	if err := l.SetAnchor(ctx, c, []byte("checkpoint-5")); err != nil {
		t.Fatal(err)
	}
	if err := l.Register(ctx, c); err != nil {
		t.Fatal(err)
	}
	chains, err := l.Chains(ctx, c.Day)
	if err != nil || len(chains) != 1 || chains[0].ID != c.ID || string(chains[0].Anchor) != "checkpoint-5" {
		t.Fatalf("Chains = %+v, %v", chains, err)
	}
	// Keys expire with the chain.
	if exp, err := rdb.PExpireTime(ctx, auditStreamKey(c.ID)).Result(); err != nil || exp != time.Duration(c.Expire.UnixMilli())*time.Millisecond {
		t.Fatalf("stream expires at %v (%v), want %v", exp, err, c.Expire)
	}
	// A durable append on a master without replicas does not wait.
	start := time.Now()
	if err := l.AppendDurable(ctx, c, 5, auditEntries(6, 1, "a"), 0, time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("durable append without replicas took %s", d)
	}
	// Demanding a replica that does not exist fails after the timeout,
	// with the entry stored.
	if err := l.AppendDurable(ctx, c, 6, auditEntries(7, 1, "a"), 1, 50*time.Millisecond); !errors.Is(err, ErrNotReplicated) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("durable append demanding a replica = %v; want ErrNotReplicated", err)
	}
	if all, _ := l.Read(ctx, c.ID, "", 100); len(all) != 7 {
		t.Fatalf("stream holds %d entries, want 7", len(all))
	}
	// Registering a chain forgets the days whose keys have expired by then.
	later := testAuditChain(c.ID + "x")
	later.Day, later.Expire = c.Day.AddDate(0, 0, 3), c.Day.AddDate(0, 0, 5)
	if err := l.Register(ctx, later); err != nil {
		t.Fatal(err)
	}
	if days, err := rdb.ZRange(ctx, auditDaysKey, 0, -1).Result(); err != nil || len(days) != 1 || days[0] != "20300105" {
		t.Fatalf("day set after a registration 3 days later = %v, %v; want only 20300105", days, err)
	}
	rdb.ZAdd(ctx, auditDaysKey, redis.Z{Score: float64(dayNumber(c.Day)), Member: auditDay(c.Day)})
	n, err := l.Purge(ctx, c.Day.Add(24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if all, _ := l.Read(ctx, c.ID, "", 100); len(all) != 0 {
		t.Fatalf("purged stream still holds %d entries", len(all))
	}
	if chains, _ := l.Chains(ctx, c.Day); len(chains) != 0 {
		t.Fatalf("purged index still lists %+v", chains)
	}
}

func TestAuditLogRedis(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	runAuditLog(t, clientFor(t, srv.Addr))
}

func TestAuditLogCluster(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("cluster start-up in -short mode")
	}
	cl := redistest.StartCluster(t)
	runAuditLog(t, clientFor(t, cl.Addrs...))
}

func TestAuditLogRefusesBadInput(t *testing.T) {
	srv := redistest.Start(t)
	l, err := NewAuditLog(clientFor(t, srv.Addr), AuditLogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c := testAuditChain("20300102.gw.x")
	for name, err := range map[string]error{
		"hash tag in id":  l.Register(ctx, testAuditChain("a}{b")),
		"empty batch":     l.Append(ctx, c, 0, nil),
		"seq out of line": l.Append(ctx, c, 0, auditEntries(2, 1, "a")),
		"empty entry":     l.Append(ctx, c, 0, []AuditEntry{{Seq: 1}}),
		"huge entry":      l.Append(ctx, c, 0, []AuditEntry{{Seq: 1, Data: make([]byte, MaxAuditEntryLen+1)}}),
		"read count":      func() error { _, err := l.Read(ctx, c.ID, "", 0); return err }(),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	srv.Stop()
	if err := l.Append(ctx, c, 0, auditEntries(1, 1, "a")); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append with the server down = %v, want ErrUnavailable", err)
	}
}

func TestConnectedReplicas(t *testing.T) {
	info := "# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=127.0.0.1\r\n"
	if n := connectedReplicas(info); n != 2 {
		t.Fatalf("connectedReplicas = %d, want 2", n)
	}
	if n := connectedReplicas("role:master\r\n"); n != 0 {
		t.Fatalf("connectedReplicas without the field = %d", n)
	}
}
