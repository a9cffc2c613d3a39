package compare

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"time"
)

// verifyRounds is the number of timed rounds; their median is taken, so
// a round the shared machine slowed down does not move the figure.
const verifyRounds = 5

// timeVerify times one ECDSA P-256 verification of a SHA-256 digest
// (ecdsa.VerifyASN1, as the gateway checks a card's signature) over
// about total, in rounds, and returns the median round's time per
// verification.
func timeVerify(total time.Duration) (time.Duration, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, err
	}
	digest := sha256.Sum256([]byte("imzabench compare: one verification"))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return 0, err
	}
	if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
		return 0, errors.New("compare: ECDSA P-256 signature does not verify")
	}
	round := max(total/verifyRounds, time.Millisecond)
	per := make([]float64, verifyRounds)
	for r := range per {
		n := 0
		start := time.Now()
		for time.Since(start) < round {
			for range 16 {
				if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
					return 0, errors.New("compare: ECDSA P-256 signature stopped verifying")
				}
			}
			n += 16
		}
		per[r] = float64(time.Since(start)) / float64(n)
	}
	return time.Duration(Median(per)), nil
}
