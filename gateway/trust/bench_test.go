package trust

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// BenchmarkCRLLookup: the serial look-up in a CRL of 100000 entries, alone
// and as a check calls it (source, freshness, look-up).
func BenchmarkCRLLookup(b *testing.B) {
	d := &crlData{revoked: make(map[string]entry, 100_000), thisUpdate: time.Now(), nextUpdate: time.Now().Add(time.Hour)}
	var buf [64]byte
	for i := range 100_000 {
		d.revoked[string(serialBytes(big.NewInt(int64(i)*7919+1<<40), &buf))] = entry{revoked: true}
	}
	hit, miss := big.NewInt(5000*7919+1<<40), big.NewInt(3)
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !d.lookup(hit).revoked || d.lookup(miss).revoked {
				b.Fatal("wrong answer")
			}
		}
	})
	b.Run("store", func(b *testing.B) {
		w := newWorld(b)
		c := w.checker(func(o *Options) { o.Registerer = nil })
		leaf := w.Leaf(testca.Personal, testca.Sign)
		src := c.crls.source(leaf, w.Inter.Certificate())
		src.cur.Store(d)
		issuer, at := w.Inter.Certificate(), time.Now()
		b.ReportAllocs()
		for b.Loop() {
			if _, fresh, named := c.crls.lookup(ctx, leaf, issuer, at); !fresh || !named {
				b.Fatal("no fresh CRL")
			}
		}
	})
}

// benchOCSP is a path whose good OCSP answer is in Redis.
func benchOCSP(b *testing.B, maxHold time.Duration) (*Checker, *Path, *roundTrips) {
	w := newWorld(b)
	rc, rk := w.DelegatedResponder(true)
	leaf := w.Leaf(testca.Personal, testca.Sign)
	w.StartResponder(rc, rk, 30)
	srv := redistest.Start(b)
	store, trips := newStore(b, srv.Addr, pepper())
	c := w.checker(func(o *Options) {
		o.Cache, o.CRL.Disabled, o.Registerer = store, true, nil
		o.OCSP.MaxHold = maxHold
	})
	p, err := c.Validate([]*x509.Certificate{leaf}, Sign, Slot{}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if st := c.Status(ctx, p, time.Now()); st.State != StateGood || w.OCSPHits.Load() != 1 {
		b.Fatalf("status %v after %d requests", st.State, w.OCSPHits.Load())
	}
	trips.n.Store(0)
	return c, p, trips
}

// BenchmarkStatusOCSPHeld: the answer is held in process; no Redis round
// trip.
func BenchmarkStatusOCSPHeld(b *testing.B) {
	c, p, trips := benchOCSP(b, time.Minute)
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if c.Status(ctx, p, at).State != StateGood {
			b.Fatal("not good")
		}
	}
	if n := trips.n.Load(); n != 0 {
		b.Fatalf("%d Redis round trips", n)
	}
}

// BenchmarkStatusOCSPRedis: nothing is held in process, so each check
// reads Redis once and verifies the response again.
func BenchmarkStatusOCSPRedis(b *testing.B) {
	c, p, trips := benchOCSP(b, -1)
	at := time.Now()
	n := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		if c.Status(ctx, p, at).State != StateGood {
			b.Fatal("not good")
		}
		n++
	}
	if got := trips.n.Load(); got != n {
		b.Fatalf("%d Redis round trips for %d checks, want exactly one each", got, n)
	}
	b.ReportMetric(float64(trips.n.Load())/float64(n), "roundtrips/op")
}

// BenchmarkValidate: full path validation of a chain, from the remembered
// path and (for comparison) from scratch.
func BenchmarkValidate(b *testing.B) {
	for _, cached := range []bool{true, false} {
		b.Run(fmt.Sprintf("cached=%v", cached), func(b *testing.B) {
			w := newWorld(b)
			c := w.checker(func(o *Options) {
				o.Registerer = nil
				if !cached {
					o.MaxCachedPaths = -1
				}
			})
			leaf := w.Leaf(testca.Business, testca.Sign)
			chain := []*x509.Certificate{leaf, w.Inter.Certificate()}
			slot := Slot{Kind: KindBusiness, VOEN: "1400123456"}
			at := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Validate(chain, Sign, slot, at); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
