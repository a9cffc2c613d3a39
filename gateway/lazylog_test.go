package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

// countingHandler counts WithAttrs calls and writes through to a text handler.
type countingHandler struct {
	slog.Handler
	withAttrs *int
}

func (c countingHandler) WithAttrs(a []slog.Attr) slog.Handler {
	*c.withAttrs++
	return countingHandler{Handler: c.Handler.WithAttrs(a), withAttrs: c.withAttrs}
}

func (c countingHandler) WithGroup(name string) slog.Handler {
	return countingHandler{Handler: c.Handler.WithGroup(name), withAttrs: c.withAttrs}
}

func TestLazyWithWritesWhatWithWrites(t *testing.T) {
	s := &Server{logKey: []byte("k")}
	for _, tt := range []struct {
		name string
		log  func(*slog.Logger, func(*slog.Logger, ...slog.Attr) *slog.Logger)
	}{
		{"one level", func(l *slog.Logger, with func(*slog.Logger, ...slog.Attr) *slog.Logger) {
			with(l, slog.String("request_id", "r1")).Info("hello", "n", 1)
		}},
		{"nested, with phone", func(l *slog.Logger, with func(*slog.Logger, ...slog.Attr) *slog.Logger) {
			l2 := with(with(l, s.phoneAttrs("+994501234567")), slog.String("session_id", "s1"))
			l2.Warn("MO rejected", "reason", "checksum")
			l2.With("x", 2).Info("plain With on top")
		}},
		{"group after attrs", func(l *slog.Logger, with func(*slog.Logger, ...slog.Attr) *slog.Logger) {
			with(l, slog.String("a", "1")).WithGroup("g").Info("grouped", "b", 2)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var eager, lazy bytes.Buffer
			opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey {
					return slog.Attr{}
				}
				return a
			}}
			tt.log(slog.New(slog.NewTextHandler(&eager, opts)), func(l *slog.Logger, a ...slog.Attr) *slog.Logger {
				return l.With(attrsAny(a)...)
			})
			tt.log(slog.New(slog.NewTextHandler(&lazy, opts)), lazyWith)
			if eager.String() != lazy.String() || lazy.Len() == 0 {
				t.Fatalf("lazy wrote\n%s\neager wrote\n%s", lazy.String(), eager.String())
			}
			if strings.Contains(lazy.String(), "+994501234567") {
				t.Fatalf("phone in clear: %s", lazy.String())
			}
		})
	}
}

func attrsAny(a []slog.Attr) []any {
	out := make([]any, len(a))
	for i := range a {
		out[i] = a[i]
	}
	return out
}

func TestLazyWithDefersUntilWritten(t *testing.T) {
	var buf bytes.Buffer
	n := 0
	h := countingHandler{Handler: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}), withAttrs: &n}
	s := &Server{logKey: []byte("k")}
	l := lazyWith(lazyWith(slog.New(h), s.phoneAttrs("+994501234567")), slog.String("session_id", "s1"))
	l.LogAttrs(context.Background(), slog.LevelInfo, "dropped", s.phoneAttrs("+994501234567"))
	if n != 0 || buf.Len() != 0 {
		t.Fatalf("a dropped line cost %d WithAttrs calls and wrote %q", n, buf.String())
	}
	l.Warn("kept")
	if n != 1 {
		t.Fatalf("WithAttrs calls = %d, want 1 (all pending attributes at once)", n)
	}
	out := buf.String()
	for _, want := range []string{"phone.hash=", "phone.masked=+99450***4567", "session_id=s1", "msg=kept"} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in %q", want, out)
		}
	}
}

// BenchmarkLazyWithDropped is the per-MO logger when the level drops its
// lines: eager With against lazyWith.
func BenchmarkLazyWithDropped(b *testing.B) {
	base := slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := &Server{logKey: []byte("0123456789abcdef")}
	b.Run("With", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l := base.With(slog.Group("phone", slog.String("hash", "0011223344556677"), slog.String("masked", MaskPhone("+994501234567"))))
			l.Info("dropped")
		}
	})
	b.Run("lazyWith", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			l := lazyWith(base, s.phoneAttrs("+994501234567"))
			l.Info("dropped")
		}
	})
}
