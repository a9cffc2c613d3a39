package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"

	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/sessions"
)

// auditHooks write the session records of the audit trail
// (docs/audit.md): a start, a completion and a callback delivery each
// queue one record with Trail.Append, which returns at once; the trail's
// batching writer appends them, hundreds per round trip, so a session
// costs a few thousandths of a round trip. A nil *auditHooks does
// nothing, so a gateway without an audit key runs as before.
type auditHooks struct {
	t       *audit.Trail
	portals *portals
}

// portalActor is the actor of a portal's session.
func portalActor(id string) audit.Actor { return audit.Actor{ID: id, Role: "portal"} }

// sessionStarted records a started session.
func (a *auditHooks) sessionStarted(ctx context.Context, sess sessions.Session) {
	if a == nil {
		return
	}
	_ = a.t.Append(ctx, audit.Record{
		Kind: audit.KindSessionStart, Actor: portalActor(sess.Portal),
		Subject: audit.Subject{Session: sess.ID}, Phone: a.t.Phone(sess.Phone), Outcome: "started",
		Details: map[string]string{"operation": sess.Operation, "key_ref": strconv.Itoa(int(sess.KeyRef)),
			"hash_alg": sess.HashAlg, "hash_sha256": hashHex(sess.Hash)},
	})
}

// sessionCompleted records a completion this instance made: the result,
// the certificate serial of a reply and the SHA-256 of its signature
// (which identifies the signature without storing it).
func (a *auditHooks) sessionCompleted(ctx context.Context, done sessions.Session, res sessions.Result, serial string) {
	if a == nil {
		return
	}
	rec := audit.Record{
		Kind: audit.KindSessionComplete, Actor: portalActor(done.Portal),
		Subject: audit.Subject{Session: done.ID, Cert: serial}, Phone: a.t.Phone(done.Phone), Outcome: res.Code,
		Details: map[string]string{"operation": done.Operation},
	}
	if len(res.Signature) > 0 {
		rec.Subject.SigSHA256 = hashHex(res.Signature)
		rec.Details["sig_alg"] = res.SigAlg
	}
	_ = a.t.Append(context.WithoutCancel(ctx), rec)
}

// callbackDone records the end of a callback's delivery: delivered or
// failed after attempts tries. The record names the callback's host, not
// its URL (a path may carry the portal's own identifiers).
func (a *auditHooks) callbackDone(j callbackJob, attempts int, outcome string) {
	if a == nil {
		return
	}
	host := ""
	if u, err := url.Parse(j.url); err == nil {
		host = u.Host
	}
	_ = a.t.Append(context.Background(), audit.Record{
		Kind: audit.KindCallback, Actor: audit.Actor{ID: "gateway", Role: "system"},
		Subject: audit.Subject{Session: j.sessionID, Ref: host}, Outcome: outcome,
		Details: map[string]string{"attempts": strconv.Itoa(attempts)},
	})
}

// serialOf is the hex serial of the certificate a reply to sess is checked
// against ("" without a trail, or when it cannot be parsed).
func (a *auditHooks) serialOf(sub sessions.Subscriber, sess sessions.Session) string {
	if a == nil {
		return ""
	}
	for _, c := range sub.Certificates {
		if c.KeyRef == sess.KeyRef {
			if pc := certs.get(c.DER); pc.err == nil {
				return pc.serial
			}
			return ""
		}
	}
	return ""
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
