package applet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// The master-keys file holds the four master keys, one "NAME=<32 hex
// digits>" line each (KIc, KID, KIc-MO, KID-MO), with blank lines and
// "#" comments allowed. The gateway reads it (secrets.masterKeysFile) and
// so does the simulated operator, whose cards must derive their keys from
// the same masters. Names are matched without regard to case, and "_" may
// stand for "-", so the environment variables' spelling (KIC_MO) works too.

// maxMasterKeysFile bounds the file: four lines and comments fit easily.
const maxMasterKeysFile = 64 << 10

// masterKeyNames are the file's names in the order FormatMasterKeys
// writes them.
var masterKeyNames = [...]string{LabelKIc, LabelKID, LabelKIcMO, LabelKIDMO}

// ErrMasterKeys reports a master-keys file that cannot be used; the
// message names the line and the key, never a key's value.
var ErrMasterKeys = errors.New("applet: master keys")

// slot returns the destination of a key name, or nil for an unknown name.
func (m *MasterKeys) slot(name string) *[16]byte {
	switch strings.ToUpper(strings.ReplaceAll(name, "_", "-")) {
	case "KIC":
		return &m.KIc
	case "KID":
		return &m.KID
	case "KIC-MO":
		return &m.KIcMO
	case "KID-MO":
		return &m.KIDMO
	}
	return nil
}

// ParseMasterKeys reads a master-keys file. Every key must appear exactly
// once with 32 hex digits (AES-128); the error says which line or which
// key is wrong.
func ParseMasterKeys(data []byte) (MasterKeys, error) {
	var m MasterKeys
	if len(data) > maxMasterKeysFile {
		return m, fmt.Errorf("%w: file larger than %d KiB", ErrMasterKeys, maxMasterKeysFile>>10)
	}
	seen := map[*[16]byte]bool{}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return m, fmt.Errorf("%w: line %d: want NAME=<32 hex digits>", ErrMasterKeys, n+1)
		}
		name = strings.TrimSpace(name)
		dst := m.slot(name)
		if dst == nil {
			return m, fmt.Errorf("%w: line %d: unknown key %q (want KIc, KID, KIc-MO or KID-MO)", ErrMasterKeys, n+1, name)
		}
		if seen[dst] {
			return m, fmt.Errorf("%w: line %d: %s appears twice", ErrMasterKeys, n+1, name)
		}
		seen[dst] = true
		b, err := hex.DecodeString(strings.TrimSpace(value))
		if err != nil || len(b) != 16 {
			return m, fmt.Errorf("%w: line %d: %s must be 32 hex digits (an AES-128 key)", ErrMasterKeys, n+1, name)
		}
		copy(dst[:], b)
	}
	var missing []string
	for _, name := range masterKeyNames {
		if !seen[m.slot(name)] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return m, fmt.Errorf("%w: %s missing", ErrMasterKeys, strings.Join(missing, ", "))
	}
	return m, nil
}

// FormatMasterKeys writes m in the master-keys file format.
func FormatMasterKeys(m MasterKeys) []byte {
	var b strings.Builder
	b.WriteString("# OTA master keys (AES-128). Secret: readable by the gateway only.\n")
	for _, name := range masterKeyNames {
		k := m.slot(name)
		fmt.Fprintf(&b, "%s=%s\n", name, strings.ToUpper(hex.EncodeToString(k[:])))
	}
	return []byte(b.String())
}

// GenerateMasterKeys draws four random master keys.
func GenerateMasterKeys() MasterKeys {
	var m MasterKeys
	for _, name := range masterKeyNames {
		_, _ = rand.Read(m.slot(name)[:])
	}
	return m
}
