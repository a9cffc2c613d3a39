package gateway

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// The index returns each message id's session once, forgets it after,
// and holds at most two generations however many submits pass through.
func TestMsgIndex(t *testing.T) {
	x := newMsgIndex()
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	x.put([]string{"m1", "m2"}, submittedMsg{sessionID: "s1", phone: "+994501234567", submitted: at})
	tests := []struct {
		name    string
		id      string
		want    string
		present bool
	}{
		{"first segment", "m1", "s1", true},
		{"taken once", "m1", "", false},
		{"second segment", "m2", "s1", true},
		{"unknown", "m3", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := x.take(tt.id)
			if ok != tt.present || m.sessionID != tt.want || ok && !m.submitted.Equal(at) {
				t.Fatalf("take(%s) = %+v, %v", tt.id, m, ok)
			}
		})
	}
	for i := range 3 * msgIndexGen {
		x.put([]string{strconv.Itoa(i)}, submittedMsg{sessionID: "s"})
	}
	if n := len(x.cur) + len(x.prev); n > 2*msgIndexGen {
		t.Fatalf("index holds %d; bound %d", n, 2*msgIndexGen)
	}
	if _, ok := x.take(strconv.Itoa(3*msgIndexGen - 1)); !ok {
		t.Fatal("the newest entry was dropped")
	}
}

// A receipt for a segment this instance submitted marks the session
// without reading it; a receipt after the session completed here takes
// the store path and is counted unmatched, as before.
func TestReceiptFromIndex(t *testing.T) {
	const sid = "00112233445566778899aabbccddeeff"
	tests := []struct {
		name      string
		completed bool // by this instance's completer
		elsewhere bool // in the store only (another instance)
		wantReads int  // RunningByPhone calls
		wantMarks int  // MarkDelivered calls
		unmatched float64
	}{
		{"running", false, false, 0, 1, 0},
		{"completed here: counted without a store call", true, false, 0, 0, 1},
		{"completed elsewhere: the mark's answer counts it", false, true, 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newMemStore(newTestUser(t))
			st.sessions[sid] = sessions.Session{ID: sid, Portal: "p1", Phone: "+994501234567", State: sessions.StateRunning, Accepted: testNow,
				MessageIDs: []string{"m1"}, Submitted: testNow}
			reads, marks := 0, 0
			running := st.RunningByPhoneFn
			st.RunningByPhoneFn = func(ctx context.Context, phone string) (sessions.Session, error) { reads++; return running(ctx, phone) }
			mark := st.MarkDeliveredFn
			st.MarkDeliveredFn = func(ctx context.Context, id string, at time.Time) error { marks++; return mark(ctx, id, at) }
			s, reg := newTestServer(t, &st.fakeStore, &fakeSender{}, &fakeOTA{})
			s.done.msgs.put([]string{"m1"}, submittedMsg{sessionID: sid, phone: "+994501234567", submitted: testNow})
			if tt.elsewhere {
				done := st.sessions[sid]
				done.State, done.Result, done.Completed = sessions.StateComplete, sessions.ResultOK, testNow
				st.sessions[sid] = done
			}
			if tt.completed {
				if err := s.done.complete(t.Context(), s.log, sid, sessions.Result{Code: sessions.ResultUserCancelled}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.corr.HandleReceipt(t.Context(), smpp.Receipt{Source: "994501234567", MessageID: "m1", Stat: "DELIVRD"}); err != nil {
				t.Fatal(err)
			}
			if reads != tt.wantReads || marks != tt.wantMarks {
				t.Fatalf("%d session reads, %d marks; want %d, %d", reads, marks, tt.wantReads, tt.wantMarks)
			}
			if got := st.sessions[sid]; !tt.completed && !tt.elsewhere && got.Delivered.IsZero() {
				t.Fatalf("session not marked delivered: %+v", got)
			}
			if got := metricValue(t, reg, "imzagate_receipts_total", "outcome", "unmatched"); got != tt.unmatched {
				t.Fatalf("unmatched receipts %v; want %v", got, tt.unmatched)
			}
		})
	}
}
