package gateway

import (
	"fmt"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/trust"
)

// maxConfiguredHold bounds trust.ocsp.maxHold: an OCSP answer held in
// process longer would hide a revocation the responder already reports
// for longer than the seconds the gateway promises (docs/trust.md §6).
const maxConfiguredHold = 30 * time.Second

// TrustConfig is the trust section of the configuration (docs/trust.md):
// the certification authority's roots and intermediates, OCSP and CRL
// settings, and the default revocation policy of each operation.
type TrustConfig struct {
	// Mode is verify (the default) or provisioned-only, the explicit
	// migration mode in which the registry's word is the only status.
	Mode string `yaml:"mode"`
	// Roots and Intermediates are PEM files, or directories of *.pem,
	// *.crt and *.cer files. verify needs at least one root.
	Roots         []string `yaml:"roots"`
	Intermediates []string `yaml:"intermediates"`
	// Skew is the clock difference tolerated in thisUpdate (default 2m).
	Skew time.Duration `yaml:"skew"`
	OCSP struct {
		Disabled bool `yaml:"disabled"`
		// URLs maps an issuing CA's common name to its responder, instead
		// of the one its certificates name.
		URLs        map[string]string `yaml:"urls"`
		Timeout     time.Duration     `yaml:"timeout"`     // one request (default 3s)
		Nonce       bool              `yaml:"nonce"`       // send an RFC 8954 nonce
		MaxHold     time.Duration     `yaml:"maxHold"`     // in process (default and at most 30s)
		MaxCacheTTL time.Duration     `yaml:"maxCacheTTL"` // in Redis, beside nextUpdate (default 1h)
	} `yaml:"ocsp"`
	CRL struct {
		Disabled bool `yaml:"disabled"`
		// URLs maps a CA's common name to its CRL, fetched from the start.
		URLs            map[string]string `yaml:"urls"`
		RefreshInterval time.Duration     `yaml:"refreshInterval"` // default 1m
		Timeout         time.Duration     `yaml:"timeout"`         // one fetch (default 10s)
		MaxBytes        int64             `yaml:"maxBytes"`        // default 16 MiB
		MaxEntries      int               `yaml:"maxEntries"`      // default 1000000
	} `yaml:"crl"`
	// RevocationPolicy is the default per operation when no status can be
	// had: hard-fail or soft-fail (defaults: sign hard-fail, authenticate
	// soft-fail). A portal's revocationPolicy overrides both.
	RevocationPolicy struct {
		Authenticate string `yaml:"authenticate"`
		Sign         string `yaml:"sign"`
	} `yaml:"revocationPolicy"`
}

// options turns the section into trust.Options and the default policies.
// What can be judged without reading files is judged here; the files are
// read, and the rest checked, when the gateway builds its checker.
func (tc *TrustConfig) options() (trust.Options, RevocationPolicy, error) {
	var o trust.Options
	var pol RevocationPolicy
	mode, err := trust.ParseMode(tc.Mode)
	if err != nil {
		return o, pol, fmt.Errorf("config: %w", err)
	}
	if tc.OCSP.MaxHold > maxConfiguredHold {
		return o, pol, fmt.Errorf("config: trust.ocsp.maxHold %s above %s: a revocation must show within seconds", tc.OCSP.MaxHold, maxConfiguredHold)
	}
	for name, dst := range map[string]*trust.Policy{"authenticate": &pol.Authenticate, "sign": &pol.Sign} {
		v := tc.RevocationPolicy.Authenticate
		if name == "sign" {
			v = tc.RevocationPolicy.Sign
		}
		if *dst, err = trust.ParsePolicy(v); err != nil {
			return o, pol, fmt.Errorf("config: trust.revocationPolicy.%s %q: want hard-fail or soft-fail", name, v)
		}
	}
	o = trust.Options{Mode: mode, Roots: tc.Roots, Intermediates: tc.Intermediates, Skew: tc.Skew,
		OCSP: trust.OCSPOptions{Disabled: tc.OCSP.Disabled, URLs: tc.OCSP.URLs, Timeout: tc.OCSP.Timeout, Nonce: tc.OCSP.Nonce,
			MaxHold: tc.OCSP.MaxHold, MaxCacheTTL: tc.OCSP.MaxCacheTTL},
		CRL: trust.CRLOptions{Disabled: tc.CRL.Disabled, URLs: tc.CRL.URLs, RefreshInterval: tc.CRL.RefreshInterval,
			Timeout: tc.CRL.Timeout, MaxBytes: tc.CRL.MaxBytes, MaxEntries: tc.CRL.MaxEntries},
	}
	return o, pol, nil
}

// OTAConfig is the ota section: the key versions the cards' OTA key sets
// were personalised with (docs/applet-protocol.md §1.1). They belong to the
// key set, like the master keys of secrets, so one pair serves every
// operator.
type OTAConfig struct {
	MTKeyVersion int `yaml:"mtKeyVersion"` // default 1
	MOKeyVersion int `yaml:"moKeyVersion"` // default 2
}

// keyVersions checks the section (each 1..15, the two different).
func (oc OTAConfig) keyVersions() (applet.KeyVersions, error) {
	for name, v := range map[string]int{"ota.mtKeyVersion": oc.MTKeyVersion, "ota.moKeyVersion": oc.MOKeyVersion} {
		if v < 0 || v > 15 {
			return applet.KeyVersions{}, fmt.Errorf("config: %s %d outside 1..15", name, v)
		}
	}
	kv := applet.KeyVersions{MT: byte(oc.MTKeyVersion), MO: byte(oc.MOKeyVersion)}.WithDefaults()
	if err := kv.Validate(); err != nil {
		return kv, fmt.Errorf("config: ota: %w", err)
	}
	return kv, nil
}
