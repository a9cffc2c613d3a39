package compare

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync/atomic"

	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// The system_ids the two gateways bind with.
const (
	imzagateSystemID = "imzagate"
	kannelSystemID   = "kannel"
)

// counts are one account's submit_sm accepted by the SMSC.
type counts struct {
	submits atomic.Int64
	octets  atomic.Int64 // short_message (or message_payload) octets
	// shape is the first submit's esm_class, protocol_id and data_coding
	// (1<<24 | esm<<16 | pid<<8 | dcs), 0 before the first.
	shape atomic.Uint32
}

// Tally is a reading of one account's counters.
type Tally struct {
	Submits int64 // submit_sm answered ESME_ROK
	Octets  int64 // their user data, UDH included
	// ESMClass, ProtocolID and DataCoding are the first submit's, so the
	// report can show that both sides send the same kind of SMS.
	ESMClass, ProtocolID, DataCoding byte
	// Seen is false before the first submit.
	Seen bool
}

// countingSMSC is the one test SMSC both gateways bind to. It counts the
// submit_sm it accepts per system_id, so each side's rate is measured
// where the messages arrive rather than from its own HTTP answers.
type countingSMSC struct {
	srv       *smsc.Server
	passwords map[string]string
	byID      map[string]*counts // fixed at start: read without a lock
}

// startSMSC starts the test SMSC on a loopback port with one account per
// system_id, each with a random password, and the given window per bind.
func startSMSC(window int, systemIDs ...string) (*countingSMSC, error) {
	c := &countingSMSC{passwords: map[string]string{}, byID: map[string]*counts{}}
	for _, id := range systemIDs {
		pw := make([]byte, 4)
		_, _ = rand.Read(pw)
		c.passwords[id] = hex.EncodeToString(pw) // 8 characters, SMPP's limit
		c.byID[id] = &counts{}
	}
	srv, err := smsc.Start("127.0.0.1:0", smsc.Options{
		Accounts: c.passwords, Window: window, QueueSize: 1 << 17,
		OnSubmit: c.onSubmit,
	})
	if err != nil {
		return nil, fmt.Errorf("compare: test SMSC: %w", err)
	}
	c.srv = srv
	return c, nil
}

// onSubmit runs on the connection's reader for every accepted submit_sm.
func (c *countingSMSC) onSubmit(systemID string, sm *smpp.SubmitSM) {
	n := c.byID[systemID]
	if n == nil {
		return
	}
	n.submits.Add(1)
	n.octets.Add(int64(len(sm.UserData())))
	if n.shape.Load() == 0 {
		n.shape.CompareAndSwap(0, 1<<24|uint32(sm.ESMClass)<<16|uint32(sm.ProtocolID)<<8|uint32(sm.DataCoding))
	}
}

// Addr is the SMSC's host:port.
func (c *countingSMSC) Addr() string { return c.srv.Addr() }

// Password is the account's password.
func (c *countingSMSC) Password(systemID string) string { return c.passwords[systemID] }

// Bound tells how many sessions of the account are bound.
func (c *countingSMSC) Bound(systemID string) int { return c.srv.Bound(systemID) }

// Tally reads the account's counters (zero for an unknown account).
func (c *countingSMSC) Tally(systemID string) Tally {
	n := c.byID[systemID]
	if n == nil {
		return Tally{}
	}
	sh := n.shape.Load()
	return Tally{Submits: n.submits.Load(), Octets: n.octets.Load(),
		ESMClass: byte(sh >> 16), ProtocolID: byte(sh >> 8), DataCoding: byte(sh), Seen: sh != 0}
}

// Close stops the SMSC.
func (c *countingSMSC) Close() error { return c.srv.Close() }
