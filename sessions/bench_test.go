package sessions

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// benchStore is a store on a fresh local redis-server with a round-trip
// counter.
func benchStore(b *testing.B) (*Store, *countHook) {
	b.Helper()
	srv := redistest.Start(b)
	rdb := clientFor(b, srv.Addr)
	h := &countHook{}
	rdb.AddHook(h)
	s, err := New(rdb, Options{Pepper: randomPepper()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := s.Ready(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s, h
}

var benchPhone atomic.Int64

func benchPhoneNumber() string {
	return "+99470" + fmt.Sprintf("%07d", benchPhone.Add(1)%10_000_000)
}

// BenchmarkSessionFlow: Start + MarkSubmitted + Complete, the path every
// request takes; reports Redis round trips per flow.
func BenchmarkSessionFlow(b *testing.B) {
	s, h := benchStore(b)
	ctx := context.Background()
	h.reset()
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		sess := sampleSession(benchPhoneNumber())
		if err := s.Start(ctx, sess, time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := s.MarkSubmitted(ctx, sess.ID, 7, []string{"m1"}, time.Now()); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Complete(ctx, sess.ID, Result{Code: ResultOK, SigAlg: "ECDSA-P256", Signature: make([]byte, 64)}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(h.n.Load())/float64(n), "roundtrips/flow")
}

// BenchmarkLoginFlow is a login's whole store traffic, one step at a time
// and in the pipelined forms the gateway uses: User ID check, start, MT
// counter, submit stamp, then the reply (subscriber, session, MO counter,
// completion). It reports Redis round trips per login.
func BenchmarkLoginFlow(b *testing.B) {
	for _, tc := range []struct {
		name      string
		pipelined bool
	}{{"single-step", false}, {"pipelined", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s, h := benchStore(b)
			ctx := context.Background()
			var phones []string
			for i := range 256 {
				p := benchPhoneNumber()
				sub := sampleSubscriber(p)
				sub.ICCID = fmt.Sprintf("89994%014d", i) // a card each: counters never wait for the clock
				if err := s.PutSubscriber(ctx, sub, "123456"); err != nil {
					b.Fatal(err)
				}
				phones = append(phones, p)
			}
			build := func(sub Subscriber) (*Session, time.Duration, error) {
				sess := sampleSession(sub.Phone)
				sess.ICCID = sub.ICCID
				return sess, time.Minute, nil
			}
			h.reset()
			n := 0
			cntr := uint64(0)
			b.ReportAllocs()
			for b.Loop() {
				phone := phones[n%len(phones)]
				n++
				cntr++
				res := Result{Code: ResultOK, SigAlg: "ECDSA-P256", Signature: make([]byte, 64)}
				var sess *Session
				if tc.pipelined {
					_, _, err := s.CheckAndStart(ctx, phone, "123456", func(sub Subscriber) (*Session, time.Duration, error) {
						var err error
						var ttl time.Duration
						sess, ttl, err = build(sub)
						return sess, ttl, err
					})
					if err != nil {
						b.Fatal(err)
					}
				} else {
					sub, err := s.CheckUserID(ctx, phone, "123456")
					if err != nil {
						b.Fatal(err)
					}
					sess, _, _ = build(sub)
					if err := s.Start(ctx, sess, time.Minute); err != nil {
						b.Fatal(err)
					}
					if _, err := s.NextMTCounter(ctx, sess.ICCID); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.MarkSubmitted(ctx, sess.ID, 7, []string{"m1"}, time.Now()); err != nil {
					b.Fatal(err)
				}
				if tc.pipelined {
					if _, _, err := s.SubscriberAndRunning(ctx, phone); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Get(ctx, sess.ID); err != nil {
						b.Fatal(err)
					}
					if _, _, err := s.AcceptMOAndComplete(ctx, sess.ICCID, cntr, sess.ID, res); err != nil {
						b.Fatal(err)
					}
				} else {
					if _, err := s.Subscriber(ctx, phone); err != nil {
						b.Fatal(err)
					}
					if _, err := s.ByTxn(ctx, sess.TxnID); err != nil {
						b.Fatal(err)
					}
					if err := s.AcceptMOCounter(ctx, sess.ICCID, cntr); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Complete(ctx, sess.ID, res); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(h.n.Load())/float64(n), "roundtrips/login")
		})
	}
}

// BenchmarkStoreOps measures single operations per second against a local
// redis-server, with as many concurrent callers as GOMAXPROCS×4.
func BenchmarkStoreOps(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	phone := benchPhoneNumber()
	if err := s.PutSubscriber(ctx, sampleSubscriber(phone), "123456"); err != nil {
		b.Fatal(err)
	}
	// CheckUserID spreads over many phones: concurrent attempts on one
	// phone count against its lockout until judged (see CheckUserID).
	var checkPhones []string
	for range 64 {
		p := benchPhoneNumber()
		if err := s.PutSubscriber(ctx, sampleSubscriber(p), "123456"); err != nil {
			b.Fatal(err)
		}
		checkPhones = append(checkPhones, p)
	}
	var checkIdx atomic.Int64
	running := sampleSession(benchPhoneNumber())
	if err := s.Start(ctx, running, time.Hour); err != nil {
		b.Fatal(err)
	}
	var iccid atomic.Int64
	ops := []struct {
		name string
		fn   func() error
	}{
		{"Get", func() error { _, err := s.Get(ctx, running.ID); return err }},
		{"ByTxn", func() error { _, err := s.ByTxn(ctx, running.TxnID); return err }},
		{"Subscriber", func() error { _, err := s.Subscriber(ctx, phone); return err }},
		{"CheckUserID", func() error {
			_, err := s.CheckUserID(ctx, checkPhones[checkIdx.Add(1)%int64(len(checkPhones))], "123456")
			return err
		}},
		{"NextMTCounter", func() error {
			_, err := s.NextMTCounter(ctx, "89994"+fmt.Sprintf("%014d", iccid.Add(1)))
			return err
		}},
		{"Start+Complete", func() error {
			sess := sampleSession(benchPhoneNumber())
			if err := s.Start(ctx, sess, time.Minute); err != nil {
				return err
			}
			_, err := s.Complete(ctx, sess.ID, Result{Code: ResultOK})
			return err
		}},
	}
	for _, op := range ops {
		b.Run(op.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op.fn(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
		})
	}
}

// importFile is a bulk file of n subscribers, each with one certificate of
// 700 octets of DER (the size of a real ECDSA certificate).
func importFile(n int, withCert bool) []byte {
	der := base64.StdEncoding.EncodeToString(make([]byte, 700))
	var file bytes.Buffer
	for i := range n {
		fmt.Fprintf(&file, `{"phone":"+99477%07d","iccid":"8999401234567890123","user_id":"%06d","key_version":1,"operator":"azercell"`,
			i, i%1_000_000)
		if withCert {
			fmt.Fprintf(&file, `,"certificates":[{"type":"personal","key_ref":1,"der":"%s","not_before":"2025-01-01T00:00:00Z","not_after":"2028-01-01T00:00:00Z","status":"active"}]`, der)
		}
		file.WriteString("}\n")
	}
	return file.Bytes()
}

// BenchmarkImportParse measures the parsing side of the import alone, on
// one CPU (the import runs one parser per CPU).
func BenchmarkImportParse(b *testing.B) {
	data := importFile(1000, true)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	n := 0
	start := time.Now()
	for b.Loop() {
		if err := parseChunk(data, 1, func(Subscriber, string, []byte) { n++ }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "subscribers/s")
}

// BenchmarkImport measures the bulk import rate (one certificate per
// subscriber, 700 octets of DER as in a real ECDSA certificate).
func BenchmarkImport(b *testing.B) {
	s, _ := benchStore(b)
	ctx := context.Background()
	const perRun = 50_000
	for _, withCert := range []bool{true, false} {
		name := "certificate700B"
		if !withCert {
			name = "noCertificates"
		}
		b.Run(name, func(b *testing.B) {
			data := importFile(perRun, withCert)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var total int
			start := time.Now()
			for b.Loop() {
				n, err := s.ImportSubscribers(ctx, bytes.NewReader(data), nil)
				if err != nil || n != perRun {
					b.Fatal(n, err)
				}
				total += n
			}
			b.ReportMetric(float64(total)/time.Since(start).Seconds(), "subscribers/s")
		})
	}
}
