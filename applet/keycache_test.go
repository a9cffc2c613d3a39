package applet

import (
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// keyCacheMaster is the master key set of TestDeriveCardKeys, whose golden
// values were computed independently.
func keyCacheMaster() MasterKeys {
	var m MasterKeys
	copy(m.KIc[:], seq(16, 0))
	for i := range m.KIDMO {
		m.KIDMO[i] = 15 - byte(i)
	}
	m.KID[0], m.KIcMO[0] = 0x11, 0x22
	return m
}

func TestDeriverMatchesDeriveCardKeys(t *testing.T) {
	m := keyCacheMaster()
	d := NewDeriver(m)
	for _, tt := range []struct {
		name, iccid string
		golden      func(CardKeys) [16]byte
		want        string
	}{
		{"19 digits, golden KIc", "8999401234567890123", func(k CardKeys) [16]byte { return k.KIc }, "e28ce6a3f5130103d9482040b7d7cf08"},
		{"20 digits, golden KIDMO", "89994012345678901234", func(k CardKeys) [16]byte { return k.KIDMO }, "a79353f4a5d4eb68690e6798aeb0acf6"},
		{"another card", "8999401000000000017", nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			want, err := DeriveCardKeys(m, tt.iccid)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.CardKeys(tt.iccid)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatal("Deriver and DeriveCardKeys disagree")
			}
			if tt.golden != nil {
				if k := tt.golden(got); hex.EncodeToString(k[:]) != tt.want {
					t.Fatalf("got %x, want %s", k, tt.want)
				}
			}
		})
	}
	for _, bad := range []string{"", "899940123456789012", "899940123456789012a"} {
		if _, err := d.CardKeys(bad); !errors.Is(err, ErrICCID) {
			t.Fatalf("%q: err = %v", bad, err)
		}
	}
}

func iccidN(i int) string { return fmt.Sprintf("8999401%012d", i) }

func TestKeyCache(t *testing.T) {
	m := keyCacheMaster()
	tests := []struct {
		name  string
		max   int
		cards int
	}{
		{"fewer cards than the bound", 16, 5},
		{"many more cards than the bound", 16, 200},
		{"bound of one", 1, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewKeyCache(m, tt.max)
			for round := 0; round < 2; round++ {
				for i := 0; i < tt.cards; i++ {
					got, err := c.CardKeys(iccidN(i))
					if err != nil {
						t.Fatal(err)
					}
					want, _ := DeriveCardKeys(m, iccidN(i))
					if got != want {
						t.Fatalf("card %d round %d: wrong keys", i, round)
					}
					if n, limit := c.Len(), max(tt.max, 2); n > limit {
						t.Fatalf("cache holds %d entries, bound %d", n, limit)
					}
				}
			}
		})
	}
}

func TestKeyCacheRejectsBadICCIDWithoutCaching(t *testing.T) {
	c := NewKeyCache(keyCacheMaster(), 8)
	if _, err := c.CardKeys("12345"); !errors.Is(err, ErrICCID) {
		t.Fatalf("err = %v", err)
	}
	if c.Len() != 0 {
		t.Fatalf("a bad ICCID was cached (%d entries)", c.Len())
	}
}

func TestKeyCacheWipesEvictedKeys(t *testing.T) {
	c := NewKeyCache(keyCacheMaster(), 4) // generations of 2
	for i := 0; i < 4; i++ {
		if _, err := c.CardKeys(iccidN(i)); err != nil {
			t.Fatal(err)
		}
	}
	old := c.prev // cards 0 and 1
	if _, err := c.CardKeys(iccidN(4)); err != nil {
		t.Fatal(err)
	}
	for id, k := range old {
		if k != (CardKeys{}) {
			t.Fatalf("evicted keys of %s still held", id)
		}
	}
	if len(old) != 2 {
		t.Fatalf("evicted generation had %d entries, want 2", len(old))
	}
}

func TestKeyCacheConcurrent(t *testing.T) {
	m := keyCacheMaster()
	c := NewKeyCache(m, 8)
	want := make([]CardKeys, 20)
	for i := range want {
		want[i], _ = DeriveCardKeys(m, iccidN(i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for n := 0; n < 500; n++ {
				i := (n*7 + g) % len(want)
				got, err := c.CardKeys(iccidN(i))
				if err != nil || got != want[i] {
					errs <- fmt.Errorf("card %d: err %v, keys equal %v", i, err, got == want[i])
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if c.Len() > 8 {
		t.Fatalf("cache holds %d entries, bound 8", c.Len())
	}
}

// BenchmarkCardKeys compares deriving a card's keys from scratch, with a
// keyed Deriver, and from the cache (a hit).
func BenchmarkCardKeys(b *testing.B) {
	m := keyCacheMaster()
	iccid := iccidN(7)
	b.Run("DeriveCardKeys", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := DeriveCardKeys(m, iccid); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Deriver", func(b *testing.B) {
		d := NewDeriver(m)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.CardKeys(iccid); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("KeyCacheHit", func(b *testing.B) {
		c := NewKeyCache(m, 1024)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.CardKeys(iccid); err != nil {
				b.Fatal(err)
			}
		}
	})
}
