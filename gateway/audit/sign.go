package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Domain separation of everything the audit key signs.
const (
	checkpointContext = "imzagate/audit/v1/checkpoint\n"
	sealContext       = "imzagate/audit/v1/seal\n"
)

// KeyID names an Ed25519 public key in checkpoints and seals: the first 8
// octets of its SHA-256, in hex.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Details of a checkpoint record.
const (
	detailFinal = "final"
	detailKey   = "key"
	detailSig   = "sig"
)

// signCheckpoint turns r (Chain, Seq, Prev, Time, Actor set) into a signed
// checkpoint: it attests that the chain's record seq-1 has the hash Prev.
// The signature covers the record's canonical bytes with details.sig
// empty, so it binds the chain, the sequence, the head, the time and
// whether the chain ends here.
func signCheckpoint(r *Record, key ed25519.PrivateKey, final bool) {
	r.Kind = KindCheckpoint
	r.Subject, r.Phone, r.Outcome = Subject{}, Phone{}, ""
	r.Details = map[string]string{
		detailFinal: strconv.FormatBool(final),
		detailKey:   KeyID(key.Public().(ed25519.PublicKey)),
		detailSig:   "",
	}
	msg := r.AppendCanonical([]byte(checkpointContext))
	r.Details[detailSig] = base64.StdEncoding.EncodeToString(ed25519.Sign(key, msg))
}

// checkCheckpoint verifies a checkpoint record's form and signature and
// returns whether it ends its chain; the error text is a Break reason.
func checkCheckpoint(r *Record, pub ed25519.PublicKey) (final bool, reason string) {
	d := r.Details
	if len(d) != 3 || d[detailKey] == "" {
		return false, "checkpoint without its final, key and sig details"
	}
	switch d[detailFinal] {
	case "true":
		final = true
	case "false":
	default:
		return false, fmt.Sprintf("checkpoint final %q is neither true nor false", d[detailFinal])
	}
	if id := KeyID(pub); d[detailKey] != id {
		return false, fmt.Sprintf("checkpoint signed by key %s, verifying with key %s", d[detailKey], id)
	}
	sig, err := base64.StdEncoding.DecodeString(d[detailSig])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false, "checkpoint signature is not a base64 Ed25519 signature"
	}
	u := *r
	u.Details = map[string]string{detailFinal: d[detailFinal], detailKey: d[detailKey], detailSig: ""}
	if !ed25519.Verify(pub, u.AppendCanonical([]byte(checkpointContext)), sig) {
		return false, "checkpoint signature does not verify: forged or changed"
	}
	return final, ""
}

// endLine marks the end of one chain in an export: its last sequence
// number and head hash, as the store held them when exported.
type endLine struct {
	Chain string
	Seq   uint64
	Head  [32]byte
}

func (e *endLine) append(dst []byte) []byte {
	dst = append(dst, `{"v":1,"end":{"chain":`...)
	dst = appendString(dst, e.Chain)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"head":"`...)
	dst = hex.AppendEncode(dst, e.Head[:])
	return append(dst, `"}}`...)
}

// seal closes an export: it counts the chains and records and digests
// every end line, and the audit key signs it, so a file cut short, a chain
// left out or a record removed from a chain's end no longer matches.
type seal struct {
	From, To string // UTC days, YYYY-MM-DD
	Time     time.Time
	Chains   int
	Records  int
	Digest   [32]byte // SHA-256 of the end lines, each followed by "\n"
	Key      string
}

func (s *seal) appendObject(dst []byte) []byte {
	dst = append(dst, `{"from":`...)
	dst = appendString(dst, s.From)
	dst = append(dst, `,"to":`...)
	dst = appendString(dst, s.To)
	dst = append(dst, `,"time":"`...)
	dst = s.Time.UTC().AppendFormat(dst, timeLayout)
	dst = append(dst, `","chains":`...)
	dst = strconv.AppendInt(dst, int64(s.Chains), 10)
	dst = append(dst, `,"records":`...)
	dst = strconv.AppendInt(dst, int64(s.Records), 10)
	dst = append(dst, `,"digest":"`...)
	dst = hex.AppendEncode(dst, s.Digest[:])
	dst = append(dst, `","key":`...)
	dst = appendString(dst, s.Key)
	return append(dst, '}')
}

// signedLine returns the seal's line: {"v":1,"seal":{…},"sig":S}.
func (s *seal) signedLine(key ed25519.PrivateKey) []byte {
	obj := s.appendObject(nil)
	sig := ed25519.Sign(key, append([]byte(sealContext), obj...))
	line := append([]byte(`{"v":1,"seal":`), obj...)
	line = append(line, `,"sig":"`...)
	line = base64.StdEncoding.AppendEncode(line, sig)
	return append(line, `"}`...)
}

type endJSON struct {
	V   int `json:"v"`
	End struct {
		Chain string `json:"chain"`
		Seq   uint64 `json:"seq"`
		Head  string `json:"head"`
	} `json:"end"`
}

type sealJSON struct {
	V    int `json:"v"`
	Seal struct {
		From    string `json:"from"`
		To      string `json:"to"`
		Time    string `json:"time"`
		Chains  int    `json:"chains"`
		Records int    `json:"records"`
		Digest  string `json:"digest"`
		Key     string `json:"key"`
	} `json:"seal"`
	Sig string `json:"sig"`
}

func strictDecode(line []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("data after the object")
	}
	return nil
}

func parseEnd(line []byte) (endLine, error) {
	var j endJSON
	if err := strictDecode(line, &j); err != nil {
		return endLine{}, invalidf("not an end line: %v", err)
	}
	e := endLine{Chain: j.End.Chain, Seq: j.End.Seq}
	if j.V != Version || validChain(e.Chain) != nil || !decodeHash(j.End.Head, &e.Head) ||
		!bytes.Equal(e.append(nil), line) {
		return endLine{}, invalidf("end line not in canonical form")
	}
	return e, nil
}

// parseSeal decodes a seal line and returns the seal, its signed object's
// bytes and its signature.
func parseSeal(line []byte) (seal, []byte, []byte, error) {
	var j sealJSON
	if err := strictDecode(line, &j); err != nil {
		return seal{}, nil, nil, invalidf("not a seal: %v", err)
	}
	s := seal{From: j.Seal.From, To: j.Seal.To, Chains: j.Seal.Chains, Records: j.Seal.Records, Key: j.Seal.Key}
	t, err := time.Parse(timeLayout, j.Seal.Time)
	if err != nil || j.V != Version || !decodeHash(j.Seal.Digest, &s.Digest) {
		return seal{}, nil, nil, invalidf("seal not in canonical form")
	}
	s.Time = t
	sig, err := base64.StdEncoding.DecodeString(j.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return seal{}, nil, nil, invalidf("seal signature is not a base64 Ed25519 signature")
	}
	obj := s.appendObject(nil)
	want := append([]byte(`{"v":1,"seal":`), obj...)
	want = append(want, `,"sig":"`...)
	want = base64.StdEncoding.AppendEncode(want, sig)
	want = append(want, `"}`...)
	if !bytes.Equal(want, line) {
		return seal{}, nil, nil, invalidf("seal not in canonical form")
	}
	return s, obj, sig, nil
}
