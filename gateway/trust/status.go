package trust

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"
)

// State is a certificate's revocation state.
type State string

// States.
const (
	StateGood    State = "good"
	StateRevoked State = "revoked"
	StateUnknown State = "unknown"
)

// Source is where a state came from.
type Source string

// Sources. An unknown state has no source.
const (
	SourceOCSP        Source = "ocsp"
	SourceCRL         Source = "crl"
	SourceProvisioned Source = "provisioned"
)

// Status is the revocation status of a certificate as the gateway renders
// it in a result.
type Status struct {
	State  State  `json:"status"`
	Source Source `json:"statusSource,omitempty"`
	// RevokedAt and Reason (RFC 5280 §5.3.1 CRLReason; 0 unspecified) are
	// set for a revoked certificate.
	RevokedAt time.Time `json:"revokedAt,omitzero"`
	Reason    int       `json:"revocationReason,omitempty"`
	// CheckedAt is the time the status was asked for.
	CheckedAt time.Time `json:"checkedAt"`
	// Chain is the path, leaf first and the root last, as PEM.
	Chain []string `json:"chain,omitempty"`
}

// ReasonString names a CRLReason code as RFC 5280 does.
func ReasonString(code int) string {
	names := [...]string{"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
		"cessationOfOperation", "certificateHold", "", "removeFromCRL", "privilegeWithdrawn", "aACompromise"}
	if code >= 0 && code < len(names) && names[code] != "" {
		return names[code]
	}
	return fmt.Sprintf("reason(%d)", code)
}

// Policy says what a check does when no fresh status can be had.
type Policy uint8

// Policies.
const (
	// PolicyDefault is hard-fail for Sign and soft-fail for Authenticate.
	PolicyDefault Policy = iota
	// PolicyHardFail refuses with CodeStatusUnknown.
	PolicyHardFail
	// PolicySoftFail goes on and reports the state unknown.
	PolicySoftFail
)

// ParsePolicy reads a portal setting: "hard-fail", "soft-fail" or empty
// (the default of the operation).
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "":
		return PolicyDefault, nil
	case "hard-fail":
		return PolicyHardFail, nil
	case "soft-fail":
		return PolicySoftFail, nil
	}
	return 0, configf("revocation policy %q: want hard-fail or soft-fail", s)
}

func (p Policy) hardFail(op Operation) bool {
	switch p {
	case PolicyHardFail:
		return true
	case PolicySoftFail:
		return false
	}
	return op == Sign
}

// Request is one check of a subscriber's certificate.
type Request struct {
	// Chain is the subscriber's certificate first, then any intermediates
	// the registry holds for it.
	Chain     []*x509.Certificate
	Operation Operation
	Slot      Slot
	// Policy is the portal's revocation policy.
	Policy Policy
	// At is the time the check is for (default Options.Now).
	At time.Time
	// ProvisionedRevoked is the registry's word that the certificate is
	// revoked. It refuses the certificate in either mode, so an operator
	// can block a certificate before the CA publishes it; in
	// ModeProvisionedOnly the registry's word is the only status.
	ProvisionedRevoked bool
}

// Check validates a request's chain and asks for the leaf's status: the
// call the gateway makes at session start and again at reply time. It
// returns the status to render and, when the certificate is refused, an
// *Error with its Code; a soft-fail check whose status is unknown returns
// a nil error.
func (c *Checker) Check(ctx context.Context, req Request) (Status, error) {
	at := req.At
	if at.IsZero() {
		at = c.opts.Now()
	}
	p, err := c.Validate(req.Chain, req.Operation, req.Slot, at)
	if err != nil {
		return Status{State: StateUnknown, CheckedAt: at}, err
	}
	var st Status
	if req.ProvisionedRevoked {
		st = Status{State: StateRevoked, Source: SourceProvisioned, CheckedAt: at, Chain: p.PEM()}
		c.m.result(st)
	} else {
		st = c.Status(ctx, p, at)
	}
	switch st.State {
	case StateRevoked:
		return st, refusef(CodeRevoked, nil, "revoked (%s, %s) per %s", st.RevokedAt.UTC().Format(time.RFC3339), ReasonString(st.Reason), st.Source)
	case StateUnknown:
		if req.Policy.hardFail(req.Operation) {
			return st, refusef(CodeStatusUnknown, nil, "no fresh OCSP or CRL status")
		}
	}
	return st, nil
}

// Status returns the revocation status of a verified path at time at. It
// never fails: a status that cannot be had is StateUnknown, and the
// policy decides. The leaf is asked of OCSP and CRL: a fresh CRL that
// lists it wins (it costs no request); otherwise OCSP's good or revoked;
// otherwise a fresh CRL that does not list it is good. Each intermediate
// is looked up in the CRL of its issuer when one is named for it; an
// intermediate revoked revokes the path, one whose CRL cannot be had makes
// the path's state unknown.
func (c *Checker) Status(ctx context.Context, p *Path, at time.Time) Status {
	st := Status{State: StateUnknown, CheckedAt: at, Chain: p.PEM()}
	if c.opts.Mode == ModeProvisionedOnly {
		st.State, st.Source = StateGood, SourceProvisioned
		c.m.result(st)
		return st
	}
	certs := p.certs
	for i := len(certs) - 2; i >= 1; i-- {
		r, fresh, named := c.crls.lookup(ctx, certs[i], certs[i+1], at)
		switch {
		case named && fresh && r.revoked:
			return c.finish(st, StateRevoked, SourceCRL, r)
		case named && !fresh:
			c.m.result(st)
			return st
		}
	}
	leaf, issuer := certs[0], certs[1]
	crl, crlFresh, _ := c.crls.lookup(ctx, leaf, issuer, at)
	if crlFresh && crl.revoked {
		return c.finish(st, StateRevoked, SourceCRL, crl)
	}
	if o, ok := c.ocsp.status(ctx, leaf, issuer, at); ok {
		return c.finish(st, o.state, SourceOCSP, o.entry)
	}
	if crlFresh {
		return c.finish(st, StateGood, SourceCRL, crl)
	}
	c.m.result(st)
	return st
}

func (c *Checker) finish(st Status, state State, src Source, e entry) Status {
	st.State, st.Source = state, src
	if state == StateRevoked {
		st.RevokedAt, st.Reason = e.revokedAt, e.reason
	}
	c.m.result(st)
	return st
}

// entry is one revocation: whether, when and why.
type entry struct {
	revoked   bool
	revokedAt time.Time
	reason    int
}
