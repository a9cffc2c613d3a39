package gateway

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
)

// RevocationPolicy is the default revocation policy of each operation: what
// a check does when neither OCSP nor a fresh CRL gives a status. The zero
// value is trust's default, hard-fail for SIGN and soft-fail for
// AUTHENTICATE (docs/trust.md §3 says why); a portal's RevocationPolicy
// overrides both.
type RevocationPolicy struct {
	Authenticate trust.Policy
	Sign         trust.Policy
}

// certChecker applies the certification authority's word (package trust)
// to sessions: the in-memory half of the check inside the store's start,
// the revocation status right after it, the whole check again when the
// reply comes, and the statuses GET /v1/certificates lists. With no
// Checker it checks nothing and the registry's word stands alone.
type certChecker struct {
	c        *trust.Checker
	defaults RevocationPolicy
	portals  *portals
	metrics  *trustMetrics
	log      *slog.Logger
}

// Stages of a check, the values of the stage label.
const (
	stageStart = "start"
	stageReply = "reply"
)

// policy is the revocation policy for op on portal p: the portal's own,
// else the operation's default, else trust's.
func (cc *certChecker) policy(p *Portal, op applet.Operation) trust.Policy {
	if p != nil && p.revocation != trust.PolicyDefault {
		return p.revocation
	}
	if op == applet.OpAuthenticate {
		return cc.defaults.Authenticate
	}
	return cc.defaults.Sign
}

// request lays out the check of a registry certificate for op. A login
// uses the authentication key, whose slot the registry files under its
// holder's type, so only a signature checks the subject against the slot
// (type and VÖEN).
func (cc *certChecker) request(cert sessions.Certificate, op applet.Operation, pol trust.Policy, at time.Time) (trust.Request, error) {
	pc := certs.get(cert.DER)
	if pc.err != nil {
		return trust.Request{}, &Error{Code: CodeCertificateUntrusted, Detail: "the certificate in the registry does not parse"}
	}
	req := trust.Request{Chain: []*x509.Certificate{pc.x509}, Operation: trust.Authenticate, Policy: pol, At: at,
		ProvisionedRevoked: cert.Status == sessions.StatusRevoked}
	if op == applet.OpSign {
		kind, err := trust.ParseKind(cert.Type)
		if err != nil {
			return trust.Request{}, &Error{Code: CodeCertificateSubjectMismatch, Detail: "the registry gives the certificate no known type"}
		}
		req.Operation, req.Slot = trust.Sign, trust.Slot{Kind: kind, VOEN: cert.TaxID}
	}
	return req, nil
}

// validate is the in-memory half of the check, for the store's start
// callback: validity, key usage, the subject against the slot and the
// path to a root (verified once, then remembered). It never waits on the
// network, so the store's round trips are not held up; a refusal here
// starts no session.
func (cc *certChecker) validate(cert sessions.Certificate, op applet.Operation, at time.Time) error {
	if cc.c == nil {
		return nil
	}
	req, err := cc.request(cert, op, trust.PolicyDefault, at)
	if err == nil {
		_, err = cc.c.Validate(req.Chain, req.Operation, req.Slot, at)
	}
	if err != nil {
		e := refusal(err)
		cc.metrics.refused(stageStart, e.Code)
		cc.log.Info("certificate refused", slog.String("code", e.Code), slog.String("err", err.Error()))
		return e
	}
	return nil
}

// check is the whole check at time at: the path again (remembered) and the
// revocation status under the portal's policy. It returns the status (to
// record with a result through recordOf) and, when the certificate is
// refused, why: trust's error, for the log, which refusal turns into the
// portal's answer.
func (cc *certChecker) check(ctx context.Context, cert sessions.Certificate, op applet.Operation, p *Portal, at time.Time) (trust.Status, error) {
	req, err := cc.request(cert, op, cc.policy(p, op), at)
	if err != nil {
		return trust.Status{State: trust.StateUnknown, CheckedAt: at}, err
	}
	return cc.c.Check(ctx, req)
}

// recordOf is the stored form of a trust status, the chain as DER.
func recordOf(st trust.Status, at time.Time) *sessions.CertificateStatus {
	cs := &sessions.CertificateStatus{Status: string(st.State), Source: string(st.Source), CheckedAt: st.CheckedAt,
		RevokedAt: st.RevokedAt, Reason: st.Reason}
	if cs.CheckedAt.IsZero() {
		cs.CheckedAt = at
	}
	if cs.Status == "" {
		cs.Status = sessions.CertStatusUnknown
	}
	for _, p := range st.Chain {
		if der := pemDER(p); der != nil {
			cs.Chain = append(cs.Chain, der)
		}
	}
	return cs
}

// refusal turns a check's error into the portal's *Error: a refusal keeps
// its code; a certificate that cannot be checked at all is untrusted.
func refusal(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	code, _ := trust.CodeOf(err)
	return refusalOf(string(code))
}

// refusalOf is the portal's answer for a refusal code; package trust's
// codes are spelt as the portal API's. Anything else is untrusted.
func refusalOf(code string) *Error {
	switch code {
	case CodeCertificateRevoked:
		return &Error{Code: code, Detail: "the certification authority revoked the certificate"}
	case CodeCertificateExpired:
		return &Error{Code: code, Detail: "the certificate (or a CA certificate above it) is not valid now; renew it"}
	case CodeCertificateKeyUsage:
		return &Error{Code: code, Detail: "the certificate's key usage does not allow this operation"}
	case CodeCertificateSubjectMismatch:
		return &Error{Code: code, Detail: "the certificate's subject does not fit the requested type or VÖEN"}
	case CodeCertificateStatusUnknown:
		return &Error{Code: code, Detail: "the certificate's revocation status cannot be had now; retry later", RetryAfter: statusRetryAfter}
	}
	return &Error{Code: CodeCertificateUntrusted, Detail: "the certificate does not chain to a trusted certification authority"}
}

// statusRetryAfter is the Retry-After of CERTIFICATE_STATUS_UNKNOWN: a
// responder back within seconds, or a CRL refreshed, answers the retry.
const statusRetryAfter = 5 * time.Second

// certificateResult reports whether a result code is one of the
// certificate refusals a check can give.
func certificateResult(code string) bool {
	switch code {
	case CodeCertificateRevoked, CodeCertificateExpired, CodeCertificateUntrusted, CodeCertificateKeyUsage,
		CodeCertificateSubjectMismatch, CodeCertificateStatusUnknown:
		return true
	}
	return false
}

// checkStatus asks for the certificate's revocation status once the store
// has started the session (docs/trust.md §4 says why here): a refusal
// completes the session with the refusal as its result and the status that
// decided it, which frees the phone, and is the start's answer. No SMS has
// gone out, so no callback is sent for it.
func (s *sessionService) checkStatus(ctx context.Context, log *slog.Logger, p *Portal, plan *startPlan) error {
	if s.trust.c == nil {
		return nil
	}
	at := s.now()
	st, err := s.trust.check(ctx, plan.cert, plan.in.Operation, p, at)
	if err == nil {
		return nil
	}
	e := refusal(err)
	s.trust.metrics.refused(stageStart, e.Code)
	log.LogAttrs(ctx, slog.LevelInfo, "certificate refused", slog.String("code", e.Code), slog.String("err", err.Error()))
	res := sessions.Result{Code: e.Code, CertStatus: recordOf(st, at)}
	switch _, err := s.store.Complete(context.WithoutCancel(ctx), plan.sess.ID, res); {
	case err == nil:
		s.metrics.completed(res.Code).Inc()
	case !errors.Is(err, sessions.ErrDuplicate) && !errors.Is(err, sessions.ErrNotFound):
		log.LogAttrs(ctx, slog.LevelWarn, "complete failed", slog.String("err", err.Error()))
	}
	return e
}

// refusedAtStart is, for an earlier session an Idempotency-Key names, the
// refusal it was given at its start (nil when it was not refused): a
// repeated request gets the same answer as the first.
func refusedAtStart(sess sessions.Session) error {
	if sess.State == sessions.StateComplete && sess.Submitted.IsZero() && len(sess.MessageIDs) == 0 && certificateResult(sess.Result) {
		return refusalOf(sess.Result)
	}
	return nil
}

// recheck is the reply-time check of a result the card's reply made OK:
// the whole check again, at the reply's time, with the registry entry read
// with the reply. A certificate revoked (or otherwise refused) while the
// user typed the PIN turns the result into the refusal, without the
// signature; either way the status is recorded with the result.
func (c *correlator) recheck(ctx context.Context, log *slog.Logger, sub sessions.Subscriber, sess sessions.Session, res sessions.Result) sessions.Result {
	cc := c.trust
	if cc == nil || cc.c == nil || res.Code != sessions.ResultOK {
		return res
	}
	cert, ok := certificateOf(sub, sess.KeyRef)
	if !ok {
		return res
	}
	op := applet.OpSign
	if sess.Operation == sessions.OpAuthenticate {
		op = applet.OpAuthenticate
	}
	at := c.now()
	st, err := cc.check(ctx, cert, op, cc.portals.byID[sess.Portal], at)
	cs := recordOf(st, at)
	if err != nil {
		e := refusal(err)
		cc.metrics.refused(stageReply, e.Code)
		log.LogAttrs(ctx, slog.LevelWarn, "certificate refused at reply", slog.String("code", e.Code), slog.String("err", err.Error()))
		return sessions.Result{Code: e.Code, CertStatus: cs}
	}
	res.CertStatus = cs
	return res
}

// certificateOf finds the registry certificate of a key reference.
func certificateOf(sub sessions.Subscriber, ref byte) (sessions.Certificate, bool) {
	for _, c := range sub.Certificates {
		if c.KeyRef == ref {
			return c, true
		}
	}
	return sessions.Certificate{}, false
}

// annotate adds the certification authority's word to the descriptions of
// a subscriber's certificates (GET /v1/certificates): each is checked as a
// start with it would be now, concurrently, so a slow responder costs one
// timeout, not one per certificate. A certificate a start would refuse
// names the refusal.
func (cc *certChecker) annotate(ctx context.Context, p *Portal, list []sessions.Certificate, out []CertificateInfo, at time.Time) {
	if cc.c == nil {
		return
	}
	var wg sync.WaitGroup
	for i, c := range list {
		wg.Go(func() {
			op := applet.OpSign
			if c.KeyRef == applet.KeyRefAuth {
				op = applet.OpAuthenticate
			}
			st, err := cc.check(ctx, c, op, p, at)
			withStatus(&out[i], recordOf(st, at))
			if err != nil {
				out[i].Refusal = refusal(err).Code
			}
		})
	}
	wg.Wait()
}

// trustMetrics are the gateway's own series about certificate checks (the
// checks' details are package trust's imzagate_trust_*).
type trustMetrics struct {
	mode     *prometheus.GaugeVec
	refusals *prometheus.CounterVec
}

func newTrustMetrics(reg prometheus.Registerer) *trustMetrics {
	f := promauto.With(reg)
	m := &trustMetrics{
		mode: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "imzagate_trust_mode",
			Help: "1 for the trust mode in force: verify (the certification authority's roots, OCSP and CRLs) or provisioned-only (the registry's word alone).",
		}, []string{"mode"}),
		refusals: f.NewCounterVec(prometheus.CounterOpts{
			Name: "imzagate_certificate_refusals_total",
			Help: "Certificates refused, by stage (start: the start's answer; reply: the session's result) and code.",
		}, []string{"stage", "code"}),
	}
	for _, stage := range []string{stageStart, stageReply} {
		for _, code := range []string{CodeCertificateUntrusted, CodeCertificateRevoked, CodeCertificateExpired,
			CodeCertificateKeyUsage, CodeCertificateSubjectMismatch, CodeCertificateStatusUnknown} {
			m.refusals.WithLabelValues(stage, code)
		}
	}
	return m
}

// setMode records the mode in force.
func (m *trustMetrics) setMode(mode trust.Mode) {
	for _, md := range []trust.Mode{trust.ModeVerify, trust.ModeProvisionedOnly} {
		v := 0.0
		if md == mode {
			v = 1
		}
		m.mode.WithLabelValues(md.String()).Set(v)
	}
}

// refused counts a refusal; codes other than the certificate ones (none
// are expected) are not counted, which keeps the label bounded.
func (m *trustMetrics) refused(stage, code string) {
	if certificateResult(code) {
		m.refusals.WithLabelValues(stage, code).Inc()
	}
}
