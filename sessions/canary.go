package sessions

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// The pepper canary: a wrong pepper makes every User ID look wrong and
// every phone look unknown, silently. So the first import writes a keyed
// value derived from the pepper under one key, and every later import and
// every gateway start compare it before anything else:
//
//	imzagate:pepper-canary   string  hex HMAC-SHA256(derive(pepper, "canary"), canaryLabel)
//
// The value reveals nothing of the pepper (an HMAC of a fixed label).
const (
	canaryKey   = "imzagate:pepper-canary"
	canaryLabel = "imzagate pepper canary v1"
)

func (s *Store) canary() string {
	m := hmac.New(sha256.New, derive(s.opts.Pepper, "canary"))
	m.Write([]byte(canaryLabel))
	return hex.EncodeToString(m.Sum(nil))
}

// CheckPepper compares the store's pepper with the registry's canary:
// ErrWrongPepper when they differ. When the registry has no canary yet,
// create writes it (the first import does) and CheckPepper returns
// created true; without create a missing canary is not an error (a
// registry provisioned before canaries existed).
func (s *Store) CheckPepper(ctx context.Context, create bool) (created bool, err error) {
	ctx, cancel := s.opCtx(ctx)
	defer cancel()
	want := s.canary()
	if create {
		ok, err := s.rdb.SetNX(ctx, canaryKey, want, 0).Result()
		if err != nil {
			return false, storeErr("check pepper", err)
		}
		if ok {
			return true, nil
		}
	}
	got, err := s.rdb.Get(ctx, canaryKey).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, storeErr("check pepper", err)
	}
	if !hmac.Equal([]byte(got), []byte(want)) {
		return false, fmt.Errorf("%w: check IMZAGATE_PEPPER (or secrets.pepperEnv/pepperFile) against the one the registry was provisioned with", ErrWrongPepper)
	}
	return false, nil
}
