package gateway

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imzagate/imzagate/sessions"
)

// BenchmarkStartLogin measures the HTTP path of a login start (decode,
// validate, certificate policy, store and sender fakes, JSON answer).
func BenchmarkStartLogin(b *testing.B) {
	u := newTestUser(b)
	s, _ := startBenchServer(b, u)
	h := s.Handler()
	body := `{"phoneNumber":"+994501234567","userId":"123456","hash":"` + validHash + `","hashType":"SHA256"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/authentications", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key1)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// startBenchServer is a Server for the start benchmarks: the user's
// subscriber and every start accepted by the store fakes, every submit by
// the sender's, and no rate limit.
func startBenchServer(b *testing.B, u testUser, opts ...func(*ServerOptions)) (*Server, *prometheus.Registry) {
	b.Helper()
	st := newMemStore(u)
	st.CheckAndStartFn = func(_ context.Context, _, _ string,
		build func(sessions.Subscriber) (*sessions.Session, time.Duration, error)) (sessions.Subscriber, uint64, error) {
		s, ttl, err := build(u.sub)
		if err != nil {
			return u.sub, 0, err
		}
		s.ID, s.State, s.Accepted, s.ExpiresAt = "00112233445566778899aabbccddeeff", sessions.StateRunning, testNow, testNow.Add(ttl)
		return u.sub, 1, nil
	}
	st.MarkSubmittedFn = func(context.Context, string, uint64, []string, time.Time) error { return nil }
	snd := &fakeSender{SubmitFn: func(context.Context, string, [][]byte) ([]string, error) { return []string{"m"}, nil }}
	s, reg := newTestServer(b, &st.fakeStore, snd, &fakeOTA{}, opts...)
	s.portals.list[0].bucket = newTokenBucket(1e12, 1<<40) // no rate limit
	return s, reg
}
