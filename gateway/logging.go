package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
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
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(p.phone))
	return slog.GroupValue(slog.String("hash", hex.EncodeToString(m.Sum(nil)[:8])), slog.String("masked", maskPhone(p.phone)))
}

// maskPhone shows the country and operator code and the last four digits:
// +994501234567 → +99450***4567. Anything shorter is fully masked.
func maskPhone(phone string) string {
	if len(phone) < 10 {
		return "***"
	}
	return phone[:6] + "***" + phone[len(phone)-4:]
}
