package gateway

import (
	"crypto/sha256"
	"encoding/binary"
)

// requestFingerprint binds an Idempotency-Key to what the request asks
// for: SHA-256 over the operation and every field of the validated
// request that changes the command or where its result goes (phone, hash
// and its type, the certificate choice, the text the phone shows, the
// callback URL), each length-prefixed so no two requests share an
// encoding. The User ID is left out: the store checks it on every start
// before it looks at the key (a wrong one never reaches the key), and a
// digest of a 6-digit secret beside the phone would be a lookup table
// away from it. The store keeps the digest with the key, so the same key
// sent with another request is refused (IDEMPOTENCY_KEY_REUSED) instead
// of answered with an unrelated session.
func requestFingerprint(in startInput) []byte {
	h := sha256.New()
	var n [4]byte
	fields := []string{"imzagate/idempotency/v1", in.Operation.String(), in.Phone, in.HashAlg.String(), string(in.Hash),
		in.DisplayText, in.CallbackURL, in.CertType, in.TaxID}
	if in.Format != "" {
		// Only containers add the format, so a raw request keeps the
		// fingerprint earlier versions stored (for ASiC-E, Hash is the
		// manifest's digest and so covers every document).
		fields = append(fields, in.Format)
	}
	for _, f := range fields {
		binary.BigEndian.PutUint32(n[:], uint32(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return h.Sum(nil)
}
