package sessions

import (
	"context"
	"time"
)

// Limits on a cached OCSP response.
const (
	// MaxOCSPResponseLen bounds a cached response: one status, the
	// responder's certificate (an ML-DSA-44 one is about 4 KB) and room
	// to spare.
	MaxOCSPResponseLen = 32 * 1024
	// MaxOCSPTTL bounds how long a response is kept: even a responder
	// that promises a week is asked again within a day.
	MaxOCSPTTL = 24 * time.Hour
	// maxIssuerKeyHashLen fits a SHA-512 hash.
	maxIssuerKeyHashLen = 64
	// maxSerialLen is RFC 5280 §4.1.2.2's 20 octets.
	maxSerialLen = 20
)

// ocspKey names the cached response for one certificate. The issuer's key
// hash and the serial number are hashed with a key derived from the pepper,
// like every other key name: the key space shows no serial numbers, and a
// response cached for one issuer is never read for another. Each
// certificate has one key, so a Cluster spreads them over all slots. The
// subkey is derived on each call (two HMACs, about a microsecond, beside a
// network round trip).
func (s *Store) ocspKey(issuerKeyHash, serial []byte) string {
	k := derive(s.opts.Pepper, "ocsp")
	return "o:" + b32.EncodeToString(mac(k, string(issuerKeyHash), string(serial))[:16])
}

func validOCSPName(issuerKeyHash, serial []byte) error {
	switch {
	case len(issuerKeyHash) == 0 || len(issuerKeyHash) > maxIssuerKeyHashLen:
		return invalidf("OCSP issuer key hash of %d octets, want 1..%d", len(issuerKeyHash), maxIssuerKeyHashLen)
	case len(serial) == 0 || len(serial) > maxSerialLen:
		return invalidf("OCSP serial number of %d octets, want 1..%d", len(serial), maxSerialLen)
	}
	return nil
}

// OCSPResponse returns the DER OCSP response cached for the certificate
// with this serial number (its big-endian octets) under the issuer whose
// public key hashes to issuerKeyHash, or ErrNotFound. The store does not
// look inside the response: the caller verifies it as if it came from the
// responder, so a forged cache entry is never believed.
func (s *Store) OCSPResponse(ctx context.Context, issuerKeyHash, serial []byte) ([]byte, error) {
	if err := validOCSPName(issuerKeyHash, serial); err != nil {
		return nil, err
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	der, err := s.rdb.Get(ctx, s.ocspKey(issuerKeyHash, serial)).Bytes()
	if err != nil {
		return nil, storeErr("ocsp response", err)
	}
	return der, nil
}

// PutOCSPResponse caches a DER OCSP response for ttl (at least 1s, at
// most MaxOCSPTTL), replacing any earlier one, so every gateway instance
// sharing this Redis can answer from it until the response's nextUpdate.
func (s *Store) PutOCSPResponse(ctx context.Context, issuerKeyHash, serial, der []byte, ttl time.Duration) error {
	if err := validOCSPName(issuerKeyHash, serial); err != nil {
		return err
	}
	switch {
	case len(der) == 0 || len(der) > MaxOCSPResponseLen:
		return invalidf("OCSP response of %d octets, want 1..%d", len(der), MaxOCSPResponseLen)
	case ttl < time.Second || ttl > MaxOCSPTTL:
		return invalidf("OCSP response TTL %s outside 1s..%s", ttl, MaxOCSPTTL)
	}
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	return storeErr("put ocsp response", s.rdb.Set(ctx, s.ocspKey(issuerKeyHash, serial), der, ttl).Err())
}
