package compare

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"runtime"
	"time"
)

// verifyRounds is the number of timed rounds; their median is taken, so
// a round disturbed by the shared machine does not move the figure.
const verifyRounds = 5

// timeVerify times one ECDSA P-256 verification of a SHA-256 digest
// (ecdsa.VerifyASN1, as the gateway checks a card's signature) over about
// total, in rounds, and returns the median round's time per verification:
// the thread's CPU time where the system gives it (cpu true), else the
// wall-clock time.
func timeVerify(total time.Duration) (per time.Duration, cpu bool, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return 0, false, err
	}
	digest := sha256.Sum256([]byte("imzabench compare: one verification"))
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return 0, false, err
	}
	if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
		return 0, false, errors.New("compare: ECDSA P-256 signature does not verify")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, cpu = threadCPU()
	clock := func() time.Duration {
		if cpu {
			d, _ := threadCPU()
			return d
		}
		return time.Duration(time.Now().UnixNano())
	}
	round := max(total/verifyRounds, time.Millisecond)
	rounds := make([]float64, verifyRounds)
	for r := range rounds {
		n := 0
		start, c0 := time.Now(), clock()
		for time.Since(start) < round {
			for range 16 {
				if !ecdsa.VerifyASN1(&key.PublicKey, digest[:], sig) {
					return 0, false, errors.New("compare: ECDSA P-256 signature stopped verifying")
				}
			}
			n += 16
		}
		rounds[r] = float64(clock()-c0) / float64(n)
	}
	return time.Duration(Median(rounds)), cpu, nil
}
