package gateway

import (
	"errors"
	"fmt"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/ota"
)

// AppletOTA binds the OTA interface to package applet: per-card keys derived
// from the master keys and the ICCID (applet-protocol §1), commands sealed
// with the MT keys, replies opened with the MO keys.
type AppletOTA struct {
	keys *applet.KeyCache
}

// otaKeyCacheSize bounds the card keys AppletOTA holds. A session needs its
// card's keys twice within seconds (seal, then open the reply), so a cache
// far smaller than the card population still hits on every reply; an entry
// is about 150 bytes with the map's overhead, so the bound is near 2.5 MB.
// Holding derived keys is acceptable because the master keys they come from
// are in this process anyway (see applet.KeyCache).
const otaKeyCacheSize = 16384

var _ OTA = (*AppletOTA)(nil)

// NewAppletOTA returns the OTA codec for cards provisioned under master.
func NewAppletOTA(master applet.MasterKeys) *AppletOTA {
	return &AppletOTA{keys: applet.NewKeyCache(master, otaKeyCacheSize)}
}

var hashAlgs = map[string]applet.HashAlg{"SHA256": applet.HashSHA256, "SHA384": applet.HashSHA384, "SHA512": applet.HashSHA512}

// Seal builds the applet command and secures it for the card.
func (a *AppletOTA) Seal(iccid string, counter uint64, cmd *Command, concatRef byte) ([][]byte, error) {
	keys, err := a.keys.CardKeys(iccid)
	if err != nil {
		return nil, err
	}
	ha, ok := hashAlgs[cmd.HashAlg]
	if !ok {
		return nil, fmt.Errorf("gateway: hash algorithm %q", cmd.HashAlg)
	}
	op := applet.OpAuthenticate
	if cmd.Operation == OpSign {
		op = applet.OpSign
	}
	ac := applet.Command{
		TxnID: cmd.TxnID, Operation: op, KeyRef: cmd.KeyRef, HashAlg: ha, Hash: cmd.Hash,
		VerificationCode: cmd.VerificationCode, DisplayText: cmd.DisplayText, UserTimeout: cmd.UserTimeout,
	}
	return applet.SealCommand(keys, counter, &ac, concatRef)
}

// Open opens one complete MO and classifies failures for the metrics.
func (a *AppletOTA) Open(iccid string, userData []byte) (MO, error) {
	keys, err := a.keys.CardKeys(iccid)
	if err != nil {
		return MO{}, &OTAError{Reason: "keys", Err: err}
	}
	mo, err := applet.OpenMO(keys, userData)
	if err != nil {
		return MO{}, &OTAError{Reason: otaReason(err), Err: err}
	}
	switch mo.Kind {
	case applet.MOReply:
		r := mo.Response
		return MO{Kind: MOReply, Counter: mo.Counter, TxnID: r.TxnID, Status: byte(r.Status),
			SigAlg: sigAlgName(r.SigAlg), Signature: r.Signature, PINTriesLeft: r.PINTriesLeft}, nil
	case applet.MOPoR:
		return MO{Kind: MOPoR, Counter: mo.Counter, PoRStatus: mo.PoRStatus}, nil
	}
	return MO{}, &OTAError{Reason: "format", Err: errors.New("unknown MO kind")}
}

// ValidateDisplayText applies the applet's display limits (§3, tag 87).
func (a *AppletOTA) ValidateDisplayText(s string) error { return applet.ValidateDisplayText(s) }

// otaReason maps an OpenMO error to a bounded metric label.
func otaReason(err error) string {
	switch {
	case errors.Is(err, ota.ErrChecksum):
		return "checksum"
	case errors.Is(err, ota.ErrCounter), errors.Is(err, ota.ErrCounterLow), errors.Is(err, ota.ErrCounterHigh), errors.Is(err, ota.ErrCounterBlock):
		return "counter"
	case errors.Is(err, applet.ErrWrongKeySet), errors.Is(err, ota.ErrKey):
		return "keys"
	case errors.Is(err, applet.ErrWrongTAR):
		return "tar"
	case errors.Is(err, applet.ErrUnexpectedPoR), errors.Is(err, applet.ErrUnsecuredOK):
		return "por_status"
	}
	return "format"
}

// sigAlgName names an applet signature algorithm in the API's terms.
func sigAlgName(a applet.SigAlg) string {
	switch a {
	case applet.SigECDSAP256:
		return SigECDSAP256
	case applet.SigEd25519:
		return SigEd25519
	case applet.SigMLDSA44:
		return SigMLDSA44
	}
	return ""
}
