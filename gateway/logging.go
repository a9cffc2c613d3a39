package gateway

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"log/slog"
	"sync"
)

// withAttrs is l.With for attributes already typed: the handler gets them
// as they are, without each being boxed into an any on the way (which
// costs an allocation apiece on every request, start and MO).
func withAttrs(l *slog.Logger, attrs ...slog.Attr) *slog.Logger {
	return slog.New(l.Handler().WithAttrs(attrs))
}

// phoneAttr is the only form of a phone number that reaches the logs: a
// keyed hash (to correlate lines; key is random per process unless
// configured, so lookup tables do not reverse it) and a masked form
// (+99450***4567). The value is a LogValuer, so the HMAC is computed only
// when a handler formats it.
func phoneAttr(key []byte, phone string) slog.Attr {
	return slog.Any("phone", loggedPhone{key: key, phone: phone})
}

// loggedPhone resolves to the phone group of phoneAttr.
type loggedPhone struct {
	key   []byte
	phone string
}

// LogValue implements slog.LogValuer.
func (p loggedPhone) LogValue() slog.Value {
	var sum [sha256.Size]byte
	m := phoneMACs.get(p.key)
	m.Write([]byte(p.phone))
	m.Sum(sum[:0])
	phoneMACs.put(p.key, m)
	return slog.GroupValue(slog.String("hash", hex.EncodeToString(sum[:8])), slog.String("masked", maskPhone(p.phone)))
}

// phoneMACs recycles the HMACs of phoneAttr: every start and every MO
// logs a phone, and a fresh HMAC costs half a dozen allocations. A process
// has one log key, so one pool serves; another key gets fresh HMACs.
var phoneMACs macPool

type macPool struct {
	mu   sync.Mutex
	key  []byte
	free []hash.Hash
}

func (p *macPool) get(key []byte) hash.Hash {
	p.mu.Lock()
	if n := len(p.free); n > 0 && bytes.Equal(p.key, key) {
		m := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return m
	}
	p.mu.Unlock()
	return hmac.New(sha256.New, key)
}

func (p *macPool) put(key []byte, m hash.Hash) {
	m.Reset()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !bytes.Equal(p.key, key) {
		p.key, p.free = bytes.Clone(key), p.free[:0]
	}
	if len(p.free) < 64 {
		p.free = append(p.free, m)
	}
}

// maskPhone shows the country and operator code and the last four digits:
// +994501234567 → +99450***4567. Anything shorter is fully masked.
func maskPhone(phone string) string {
	if len(phone) < 10 {
		return "***"
	}
	return phone[:6] + "***" + phone[len(phone)-4:]
}
