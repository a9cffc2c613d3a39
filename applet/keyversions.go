package applet

import (
	"errors"
	"fmt"

	"github.com/imzagate/imzagate/applet/ota"
)

// KeyVersions name the card's two OTA key sets (docs/applet-protocol.md §1.1): MT
// secures the gateway's commands, MO the applet's replies. A key version
// is the high nibble of KIc and KID, 1..15; the low nibble stays 2 (AES).
// Which versions a card uses is fixed when its keys are personalised, so
// the gateway takes them from its configuration (ota.mtKeyVersion,
// ota.moKeyVersion) and the simulated card from simcard.Options.
type KeyVersions struct{ MT, MO byte }

// DefaultKeyVersions are version 1 for MT and 2 for MO (KIc/KID 12 and 22).
var DefaultKeyVersions = KeyVersions{MT: 1, MO: 2}

// ErrKeyVersion is a key version outside 1..15, or the same for both
// directions.
var ErrKeyVersion = errors.New("applet: bad key version")

// WithDefaults fills the zero fields with DefaultKeyVersions.
func (v KeyVersions) WithDefaults() KeyVersions {
	if v.MT == 0 {
		v.MT = DefaultKeyVersions.MT
	}
	if v.MO == 0 {
		v.MO = DefaultKeyVersions.MO
	}
	return v
}

// Validate refuses a version outside 1..15 and equal versions: the two
// directions must use different key sets, so that an MT reflected back at
// the gateway never opens as a reply (docs/applet-protocol.md §1.1).
func (v KeyVersions) Validate() error {
	switch {
	case v.MT < 1 || v.MT > 15:
		return fmt.Errorf("%w: MT key version %d outside 1..15", ErrKeyVersion, v.MT)
	case v.MO < 1 || v.MO > 15:
		return fmt.Errorf("%w: MO key version %d outside 1..15", ErrKeyVersion, v.MO)
	case v.MT == v.MO:
		return fmt.Errorf("%w: MT and MO key versions are both %d; the directions need different key sets", ErrKeyVersion, v.MT)
	}
	return nil
}

// Transport is the applet's OTA transport for one pair of key versions:
// the parameters of both directions and the operations that use them. The
// package-level functions are the default transport's.
type Transport struct {
	v      KeyVersions
	mt, mo ota.Params
}

var defaultTransport = mustTransport(DefaultKeyVersions)

func mustTransport(v KeyVersions) *Transport {
	t, err := NewTransport(v)
	if err != nil {
		panic(err)
	}
	return t
}

// NewTransport builds the transport of v; zero fields take the defaults.
func NewTransport(v KeyVersions) (*Transport, error) {
	v = v.WithDefaults()
	if err := v.Validate(); err != nil {
		return nil, err
	}
	kid := func(version byte) byte { return version<<4 | 0x02 }
	return &Transport{v: v,
		mt: ota.Params{Header: ota.Header{SPI: SPIMT, KIc: kid(v.MT), KID: kid(v.MT), TAR: TAR}, CCLen: CCLen},
		mo: ota.Params{Header: ota.Header{SPI: SPIMO, KIc: kid(v.MO), KID: kid(v.MO), TAR: TAR}, CCLen: CCLen},
	}, nil
}

// Versions returns the transport's key versions.
func (t *Transport) Versions() KeyVersions { return t.v }

// MTParams are the OTA parameters of commands.
func (t *Transport) MTParams() ota.Params { return t.mt }

// MOParams are the OTA parameters of replies.
func (t *Transport) MOParams() ota.Params { return t.mo }

// MTCodec returns the codec for the card's MT commands and their PoRs.
func (t *Transport) MTCodec(k CardKeys) (*ota.Codec, error) {
	return ota.NewCodec(t.mt, ota.Keys{KIc: k.KIc[:], KID: k.KID[:]})
}

// MOCodec returns the codec for the card's MO replies.
func (t *Transport) MOCodec(k CardKeys) (*ota.Codec, error) {
	return ota.NewCodec(t.mo, ota.Keys{KIc: k.KIcMO[:], KID: k.KIDMO[:]})
}
