package gateway

import (
	"github.com/imzagate/imzagate/applet"
)

// appletOTA is the OTA codec of package applet with per-card keys derived
// from the master keys and the ICCID (docs/applet-protocol.md §1):
// commands sealed with the MT keys, replies opened with the MO keys, each
// set under the key version the cards were personalised with.
type appletOTA struct {
	keys *applet.KeyCache
	tr   *applet.Transport
}

// otaKeyCacheSize bounds the card keys appletOTA holds. A session needs its
// card's keys twice within seconds (seal, then open the reply), so a cache
// far smaller than the card population still hits on every reply; an entry
// is about 150 bytes with the map's overhead, so the bound is near 2.5 MB.
// Holding derived keys is acceptable because the master keys they come from
// are in this process anyway (see applet.KeyCache).
const otaKeyCacheSize = 16384

// newAppletOTA builds the codec; versions are the cards' key versions
// (zero fields: 1 for MT, 2 for MO), refused outside 1..15 or equal.
func newAppletOTA(master applet.MasterKeys, versions applet.KeyVersions) (*appletOTA, error) {
	tr, err := applet.NewTransport(versions)
	if err != nil {
		return nil, err
	}
	return &appletOTA{keys: applet.NewKeyCache(master, otaKeyCacheSize), tr: tr}, nil
}

// Seal secures the command for the card and cuts it into SMS segments.
func (a *appletOTA) Seal(iccid string, counter uint64, cmd *applet.Command, concatRef byte) ([][]byte, error) {
	keys, err := a.keys.CardKeys(iccid)
	if err != nil {
		return nil, err
	}
	return a.tr.SealCommand(keys, counter, cmd, concatRef)
}

// Open opens one complete MO with the card's keys.
func (a *appletOTA) Open(iccid string, userData []byte) (applet.MO, error) {
	keys, err := a.keys.CardKeys(iccid)
	if err != nil {
		return applet.MO{}, err
	}
	return a.tr.OpenMO(keys, userData)
}
