package gateway

import (
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/ades"
)

// Kinds of container a session's AdES state prepares.
const (
	stateCAdES byte = 1
	stateASiCE byte = 2
)

// adesStateVersion is the first octet of an encoded state; a state of
// another version (written by a later gateway) is refused, not guessed at.
const adesStateVersion = 1

// Bounds of an encoded state (docs/data-model.md §4, field ad).
const (
	maxSignedAttrs = 4096 // four attributes with an issuer name of a few hundred octets
	maxStateHeader = 4 + 8 + 32 + 1 + ades.MaxChain*32 + 1 + 64 + 2 + maxSignedAttrs + 4
)

// adesState is what a CAdES or ASiC-E session keeps in the store between
// its start and the card's reply (sessions.Session.AdES), so that any
// instance can assemble the container: the DER signed attributes the card
// signs the hash of, and references to the certificates they were built
// with, which the assembling instance finds again and compares.
type adesState struct {
	kind        byte // stateCAdES or stateASiCE
	digestAlg   applet.HashAlg
	signingTime time.Time  // whole seconds, UTC
	signer      [32]byte   // SHA-256 of the signer's certificate (DER)
	chain       [][32]byte // SHA-256 of each issuer certificate, issuer first, root last
	digest      []byte     // the document's digest; for ASiC-E, the manifest's
	signedAttrs []byte     // DER SET OF Attribute
	manifest    []byte     // ASiC-E: the ASiCManifest XML the signature covers
}

// errState reports a stored AdES state that does not decode.
var errState = errors.New("gateway: malformed AdES state")

// encode writes the state:
//
//	1  version, 01
//	1  kind: 01 CAdES, 02 ASiC-E
//	1  digest algorithm, the applet's code (01 SHA-256, 02 SHA-384, 03 SHA-512)
//	8  signing time, Unix seconds, big-endian
//	32 SHA-256 of the signer's certificate
//	1  n, issuer certificates (1 to ades.MaxChain), then n × 32 octets of SHA-256
//	1  digest length (the algorithm's size), the document digest
//	2  signed attributes length (1 to 4096), the DER signed attributes
//	4  manifest length (0 for CAdES), the manifest
func (st *adesState) encode() []byte {
	b := make([]byte, 0, maxStateHeader-maxSignedAttrs+len(st.signedAttrs)+len(st.manifest))
	b = append(b, adesStateVersion, st.kind, byte(st.digestAlg))
	b = binary.BigEndian.AppendUint64(b, uint64(st.signingTime.Unix()))
	b = append(b, st.signer[:]...)
	b = append(b, byte(len(st.chain)))
	for _, c := range st.chain {
		b = append(b, c[:]...)
	}
	b = append(b, byte(len(st.digest)))
	b = append(b, st.digest...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(st.signedAttrs)))
	b = append(b, st.signedAttrs...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(st.manifest)))
	return append(b, st.manifest...)
}

// stateReader takes fields off the front of an encoded state; once a read
// fails every later one fails too.
type stateReader struct {
	b  []byte
	ok bool
}

func (r *stateReader) next(n int) []byte {
	if !r.ok || n < 0 || n > len(r.b) {
		r.ok = false
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *stateReader) u8() int {
	if v := r.next(1); v != nil {
		return int(v[0])
	}
	return 0
}

// decodeAdESState reads a state that encode wrote, checking every field:
// the store's record is input like any other.
func decodeAdESState(b []byte) (*adesState, error) {
	r := &stateReader{b: b, ok: true}
	if r.u8() != adesStateVersion {
		return nil, fmt.Errorf("%w: version", errState)
	}
	st := &adesState{kind: byte(r.u8()), digestAlg: applet.HashAlg(r.u8())}
	if st.kind != stateCAdES && st.kind != stateASiCE || st.digestAlg.Size() == 0 {
		return nil, fmt.Errorf("%w: kind or digest algorithm", errState)
	}
	if t := r.next(8); t != nil {
		st.signingTime = time.Unix(int64(binary.BigEndian.Uint64(t)), 0).UTC()
	}
	copy(st.signer[:], r.next(32))
	n := r.u8()
	if n < 1 || n > ades.MaxChain {
		return nil, fmt.Errorf("%w: %d chain certificates", errState, n)
	}
	st.chain = make([][32]byte, n)
	for i := range st.chain {
		copy(st.chain[i][:], r.next(32))
	}
	st.digest = r.next(r.u8())
	if len(st.digest) != st.digestAlg.Size() {
		return nil, fmt.Errorf("%w: digest length", errState)
	}
	var attrsLen, manifestLen int
	if l := r.next(2); l != nil {
		attrsLen = int(binary.BigEndian.Uint16(l))
	}
	st.signedAttrs = r.next(attrsLen)
	if l := r.next(4); l != nil {
		manifestLen = int(binary.BigEndian.Uint32(l))
	}
	st.manifest = r.next(manifestLen)
	switch {
	case !r.ok || len(r.b) != 0:
		return nil, fmt.Errorf("%w: truncated or trailing octets", errState)
	case attrsLen == 0 || attrsLen > maxSignedAttrs:
		return nil, fmt.Errorf("%w: signed attributes of %d octets", errState, attrsLen)
	case (st.kind == stateASiCE) != (manifestLen > 0) || manifestLen > ades.MaxManifestSize:
		return nil, fmt.Errorf("%w: manifest of %d octets for kind %d", errState, manifestLen, st.kind)
	case st.signingTime.Unix() <= 0:
		return nil, fmt.Errorf("%w: signing time", errState)
	}
	return st, nil
}

// cryptoHash is the crypto.Hash of an applet hash algorithm (0 for none).
func cryptoHash(h applet.HashAlg) crypto.Hash {
	switch h {
	case applet.HashSHA256:
		return crypto.SHA256
	case applet.HashSHA384:
		return crypto.SHA384
	case applet.HashSHA512:
		return crypto.SHA512
	}
	return 0
}

// formatName is the API's name of a state's kind.
func (st *adesState) formatName() string {
	if st.kind == stateASiCE {
		return formatASiCE
	}
	return formatCAdES
}
