package gateway

import (
	"sync"
	"time"
)

// submittedMsg is what this instance knows about one MT segment it
// submitted: the session, its phone and when the submit was recorded.
type submittedMsg struct {
	sessionID string
	phone     string
	submitted time.Time
	done      bool // its session completed on this instance
}

// msgIndexGen is the size of one generation of the index; it holds at most
// two (about 100 bytes an entry, so under 20 MB).
const msgIndexGen = 65536

// msgIndex maps the SMSC message ids of this instance's recent submits to
// their sessions, so a delivery receipt for a running session is applied
// with one store call instead of three (running marker, session read,
// mark). It is a cache: a receipt it does not know (another instance's
// submit, an entry aged out, a restart) takes the store path, which gives
// the same answer. Two generations bound it without timers.
type msgIndex struct {
	mu        sync.Mutex
	cur, prev map[string]submittedMsg
}

func newMsgIndex() *msgIndex {
	return &msgIndex{cur: make(map[string]submittedMsg)}
}

// put records the message ids of one submit.
func (x *msgIndex) put(ids []string, m submittedMsg) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range ids {
		if len(x.cur) >= msgIndexGen {
			x.prev, x.cur = x.cur, make(map[string]submittedMsg, msgIndexGen)
		}
		x.cur[id] = m
	}
}

// take returns and forgets the entry of message id.
func (x *msgIndex) take(id string) (submittedMsg, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if m, ok := x.cur[id]; ok {
		delete(x.cur, id)
		return m, true
	}
	if m, ok := x.prev[id]; ok {
		delete(x.prev, id)
		return m, true
	}
	return submittedMsg{}, false
}

// finish marks the entries of message ids done: their session completed
// here, so a receipt naming one of them changes nothing (the store would
// find no running session for it) and is counted without a store call.
func (x *msgIndex) finish(ids []string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, id := range ids {
		if m, ok := x.cur[id]; ok {
			m.done = true
			x.cur[id] = m
		} else if m, ok := x.prev[id]; ok {
			m.done = true
			x.prev[id] = m
		}
	}
}
