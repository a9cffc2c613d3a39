package sessions

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions/redistest"
)

func TestOCSPResponseCache(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	pepper := randomPepper()
	newStore := func(p []byte) *Store {
		s, err := New(clientFor(t, srv.Addr), Options{Pepper: p, Logger: testLogger(t), OpTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b, other := newStore(pepper), newStore(pepper), newStore(randomPepper())
	ctx := context.Background()
	ikh := bytes.Repeat([]byte{0xAB}, 20)
	serial := []byte{0x01, 0x02, 0x03}
	der := []byte{0x30, 0x03, 0x0A, 0x01, 0x00}

	if _, err := a.OCSPResponse(ctx, ikh, serial); !errors.Is(err, ErrNotFound) {
		t.Fatalf("empty cache: %v, want ErrNotFound", err)
	}
	if err := a.PutOCSPResponse(ctx, ikh, serial, der, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	// Another instance on the same key space reads it; one with another
	// pepper, or asking for another serial or issuer, does not.
	if got, err := b.OCSPResponse(ctx, ikh, serial); err != nil || !bytes.Equal(got, der) {
		t.Fatalf("peer read %x, %v", got, err)
	}
	if _, err := other.OCSPResponse(ctx, ikh, serial); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other pepper: %v", err)
	}
	if _, err := b.OCSPResponse(ctx, ikh, []byte{0x01, 0x02, 0x04}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other serial: %v", err)
	}
	if _, err := b.OCSPResponse(ctx, bytes.Repeat([]byte{0xAC}, 20), serial); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other issuer: %v", err)
	}
	// The TTL is the one asked for, and the key names no serial number.
	key := a.ocspKey(ikh, serial)
	if strings.Contains(key, "010203") {
		t.Fatalf("key %q shows the serial", key)
	}
	pttl, err := srv.Do("PTTL", key)
	if err != nil {
		t.Fatal(err)
	}
	if ms, _ := strconv.Atoi(strings.TrimPrefix(pttl, ":")); ms <= 80_000 || ms > 90_000 {
		t.Fatalf("PTTL %s, want about 90000", pttl)
	}
	// A newer response replaces the older one.
	der2 := append(bytes.Clone(der), 0x00)
	if err := b.PutOCSPResponse(ctx, ikh, serial, der2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.OCSPResponse(ctx, ikh, serial); !bytes.Equal(got, der2) {
		t.Fatalf("after replace %x", got)
	}
}

func TestOCSPResponseCacheRejects(t *testing.T) {
	t.Parallel()
	// Bad input is refused before Redis is asked: a dead server would
	// otherwise turn each case into ErrUnavailable.
	s, err := New(clientFor(t, deadServer(t)), Options{Pepper: randomPepper(), OpTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ikh, serial, der := make([]byte, 20), []byte{1}, []byte{0x30, 0x00}
	tests := []struct {
		name              string
		ikh, serial, resp []byte
		ttl               time.Duration
	}{
		{"no-issuer", nil, serial, der, time.Minute},
		{"long-issuer", make([]byte, 65), serial, der, time.Minute},
		{"no-serial", ikh, nil, der, time.Minute},
		{"long-serial", ikh, make([]byte, 21), der, time.Minute},
		{"empty-response", ikh, serial, nil, time.Minute},
		{"huge-response", ikh, serial, make([]byte, MaxOCSPResponseLen+1), time.Minute},
		{"short-ttl", ikh, serial, der, 999 * time.Millisecond},
		{"long-ttl", ikh, serial, der, MaxOCSPTTL + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.PutOCSPResponse(ctx, tt.ikh, tt.serial, tt.resp, tt.ttl); !errors.Is(err, ErrInvalid) {
				t.Fatalf("put: %v, want ErrInvalid", err)
			}
		})
	}
	if _, err := s.OCSPResponse(ctx, nil, serial); !errors.Is(err, ErrInvalid) {
		t.Fatalf("get without issuer: %v", err)
	}
	// Valid input against a dead Redis is ErrUnavailable, never a miss.
	if _, err := s.OCSPResponse(ctx, ikh, serial); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("dead redis get: %v", err)
	}
	if err := s.PutOCSPResponse(ctx, ikh, serial, der, time.Minute); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("dead redis put: %v", err)
	}
}
