package applet

import (
	"sync"

	"github.com/imzagate/imzagate/applet/cmac"
)

// Deriver derives card keys from one set of master keys. It keys the four
// AES-CMAC instances once, so a derivation costs four CMAC runs instead of
// four AES key expansions and subkey computations as well. It is safe for
// concurrent use (cmac.CMAC keeps no state between calls).
type Deriver struct {
	kic, kid, kicMO, kidMO *cmac.CMAC
}

// NewDeriver returns a Deriver for the master keys m.
func NewDeriver(m MasterKeys) *Deriver {
	d := &Deriver{}
	for _, p := range []struct {
		dst    **cmac.CMAC
		master [16]byte
	}{{&d.kic, m.KIc}, {&d.kid, m.KID}, {&d.kicMO, m.KIcMO}, {&d.kidMO, m.KIDMO}} {
		c, err := cmac.New(p.master[:])
		if err != nil {
			// A 16-octet key is always a valid AES-128 key.
			panic("applet: AES-128 key rejected: " + err.Error())
		}
		*p.dst = c
	}
	return d
}

// CardKeys derives the card's four OTA keys, equal to DeriveCardKeys with
// the Deriver's master keys.
func (d *Deriver) CardKeys(iccid string) (CardKeys, error) {
	var c CardKeys
	if !ValidICCID(iccid) {
		return c, ErrICCID
	}
	var buf [64]byte
	derive(d.kic, &c.KIc, LabelKIc, iccid, &buf)
	derive(d.kid, &c.KID, LabelKID, iccid, &buf)
	derive(d.kicMO, &c.KIcMO, LabelKIcMO, iccid, &buf)
	derive(d.kidMO, &c.KIDMO, LabelKIDMO, iccid, &buf)
	clear(buf[:])
	return c, nil
}

// derive is DeriveKey's KDF over a keyed CMAC; iccid is already valid.
func derive(m *cmac.CMAC, dst *[16]byte, label, iccid string, buf *[64]byte) {
	in := append(buf[:0], 0x01)
	in = append(in, label...)
	in = append(in, 0x00)
	in = append(in, iccid...)
	in = append(in, 0x00, 0x80)
	m.Sum(dst[:], in)
}

// KeyCache remembers derived card keys by ICCID, in front of a Deriver.
// The gateway needs a card's keys twice per session (sealing the command
// and opening the reply) and derived them each time.
//
// Holding derived keys in memory is acceptable because the master keys
// they come from live in the same process for as long as it runs: anyone
// able to read the cache could derive every card's keys anyway. The cache
// is still bounded, so it never grows with the number of cards seen, and
// evicted keys are overwritten before their map is dropped.
//
// Two generations give an approximate LRU in O(1): when the current map
// holds max/2 entries it becomes the previous one (whose keys are wiped),
// and a hit in the previous one is promoted. The cache never holds more
// than max entries. It is safe for concurrent use.
type KeyCache struct {
	d   *Deriver
	gen int

	mu        sync.Mutex
	cur, prev map[string]CardKeys
}

// NewKeyCache returns a cache of at most max card key sets (at least 2)
// derived from the master keys m.
func NewKeyCache(m MasterKeys, max int) *KeyCache {
	gen := max / 2
	if gen < 1 {
		gen = 1
	}
	return &KeyCache{d: NewDeriver(m), gen: gen, cur: make(map[string]CardKeys, gen)}
}

// CardKeys returns the card's four OTA keys, derived on a miss. An invalid
// ICCID is ErrICCID and is never cached.
func (k *KeyCache) CardKeys(iccid string) (CardKeys, error) {
	k.mu.Lock()
	c, ok := k.cur[iccid]
	if !ok {
		if c, ok = k.prev[iccid]; ok {
			k.putLocked(iccid, c)
		}
	}
	k.mu.Unlock()
	if ok {
		return c, nil
	}
	// Derive outside the lock; two goroutines may derive the same card's
	// keys at once, which is harmless (the results are equal).
	c, err := k.d.CardKeys(iccid)
	if err != nil {
		return CardKeys{}, err
	}
	k.mu.Lock()
	k.putLocked(iccid, c)
	k.mu.Unlock()
	return c, nil
}

// Len reports the number of key sets held (both generations).
func (k *KeyCache) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.cur) + len(k.prev)
}

// putLocked stores c under iccid, turning the generation over when the
// current map is full. The caller holds k.mu.
func (k *KeyCache) putLocked(iccid string, c CardKeys) {
	if _, ok := k.cur[iccid]; !ok && len(k.cur) >= k.gen {
		for id := range k.prev {
			k.prev[id] = CardKeys{}
		}
		k.prev = k.cur
		k.cur = make(map[string]CardKeys, k.gen)
	}
	k.cur[iccid] = c
}
