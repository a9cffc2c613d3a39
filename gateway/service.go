package gateway

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// VerificationCode derives the 4-digit code from the hash exactly as
// applet-protocol §3 says (Mobile-ID's rule): the 6 most significant bits of
// the first octet and the 7 least significant bits of the last.
func VerificationCode(hash []byte) uint16 {
	if len(hash) == 0 {
		return 0
	}
	return uint16(hash[0]>>2)<<7 | uint16(hash[len(hash)-1]&0x7F)
}

// formatCode writes a verification code as 4 digits with leading zeros.
func formatCode(v uint16) string { return fmt.Sprintf("%04d", v) }

// renewalWindow is the last part of a certificate's validity in which
// online renewal is open (architecture.md, domain facts).
const renewalWindow = 30 * 24 * time.Hour

// certStatus is active, expired or revoked at now.
func certStatus(c Certificate, now time.Time) string {
	switch {
	case c.Status == CertRevoked:
		return CertRevoked
	case now.After(c.NotAfter) || now.Before(c.NotBefore):
		return CertExpired
	}
	return CertActive
}

// pickCertificate applies the certificate policy: AUTHENTICATE always uses
// the authentication key (reference 01); SIGN picks the signing certificate
// by type and, for business and government, VÖEN. An expired or revoked
// choice is refused with its own code.
func pickCertificate(sub Subscriber, in startInput, now time.Time) (Certificate, error) {
	var match []Certificate
	for _, c := range sub.Certificates {
		if in.Operation == OpAuthenticate {
			if c.KeyRef == AuthKeyRef {
				match = append(match, c)
			}
			continue
		}
		if c.KeyRef == AuthKeyRef || c.Type != in.CertType {
			continue
		}
		if in.TaxID != "" && c.TaxID != in.TaxID {
			continue
		}
		match = append(match, c)
	}
	if len(match) == 0 {
		return Certificate{}, &Error{Code: CodeCertificateNotFound, Detail: "the user has no such certificate"}
	}
	if len(match) > 1 {
		// Several candidates: prefer an active one (a renewed certificate
		// sits beside its expiring predecessor); several active companies
		// need the VÖEN to choose.
		var active []Certificate
		for _, c := range match {
			if certStatus(c, now) == CertActive {
				active = append(active, c)
			}
		}
		switch {
		case len(active) == 1:
			return active[0], nil
		case len(active) > 1 && in.TaxID == "" && in.Operation == OpSign && in.CertType != CertPersonal:
			return Certificate{}, invalid("certificate.taxId", "the user has several %s certificates: give the VÖEN", in.CertType)
		case len(active) > 1:
			return active[0], nil
		}
	}
	c := match[0]
	switch certStatus(c, now) {
	case CertRevoked:
		return Certificate{}, &Error{Code: CodeCertificateRevoked, Detail: "the certificate is revoked"}
	case CertExpired:
		return Certificate{}, &Error{Code: CodeCertificateExpired, Detail: "the certificate is not valid now; renew it"}
	}
	return c, nil
}

// randomID returns n random bytes, hex encoded.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// startSession runs the start flow after validation: idempotency, User ID
// check (with lockout), certificate policy, the session in the store (one per
// phone), the OTA command sealed with a fresh counter, and the submit.
func (s *Server) startSession(ctx context.Context, log *slog.Logger, p *Portal, in startInput, idemKey string) (Session, error) {
	// A draining instance takes no new session: the portal gets a clear 503
	// it can retry at once (another instance, or this one's successor, takes
	// it) instead of a session whose SMS this process may never send.
	select {
	case <-s.draining:
		return Session{}, &Error{Code: CodeShuttingDown, Detail: "this gateway instance is shutting down; retry the request", RetryAfter: time.Second}
	default:
	}
	var sess Session
	var cert Certificate
	ttl := s.userTimeout + s.grace
	// build applies the certificate policy to the subscriber whose User ID
	// matched and lays out the session.
	build := func(sub Subscriber) (*Session, time.Duration, error) {
		var err error
		if cert, err = pickCertificate(sub, in, s.now()); err != nil {
			return nil, 0, err
		}
		sess = Session{
			Portal: p.ID, Operation: in.Operation, Phone: in.Phone, ICCID: sub.ICCID,
			KeyRef: cert.KeyRef, Hash: in.Hash, HashAlg: in.HashType,
			VerificationCode: formatCode(VerificationCode(in.Hash)),
			State:            StateRunning, CallbackURL: in.CallbackURL, IdempotencyKey: idemKey,
		}
		return &sess, ttl, nil
	}
	var sub Subscriber
	var counter uint64
	var err error
	if cs, ok := s.store.(checkStarter); ok {
		// User ID check, start and MT counter in two round trips.
		sub, counter, err = cs.CheckAndStart(ctx, in.Phone, in.UserID, build)
	} else {
		if sub, err = s.store.CheckUserID(ctx, in.Phone, in.UserID); err == nil {
			var sp *Session
			if sp, _, err = build(sub); err == nil {
				err = s.store.Start(ctx, sp, ttl)
			}
		}
	}
	if err != nil {
		if errors.Is(err, ErrDuplicate) && sess.ID != "" && sess.Portal == p.ID {
			// The same Idempotency-Key within its window: the earlier session, no second SMS.
			return sess, nil
		}
		return Session{}, err
	}
	id := sess.ID
	log = lazyWith(log, slog.String("session_id", id), slog.String("portal", p.ID), slog.String("operation", string(in.Operation)))
	s.metrics.sessionStarted(string(in.Operation), p.ID)
	log.LogAttrs(ctx, slog.LevelInfo, "session started", s.phoneAttrs(in.Phone))

	fail := func(err error) (Session, error) {
		// The SMS never left: finish the session so the phone is free again,
		// and tell the portal now rather than after the timeout.
		s.completeLocal(context.WithoutCancel(ctx), log, sess, Result{Result: ResultDeliveryError, Completed: s.now()})
		return Session{}, err
	}
	if counter == 0 {
		if counter, err = s.store.NextMTCounter(ctx, sub.ICCID); err != nil {
			return fail(err)
		}
	}
	defer s.beginSubmit(id)()
	var ref [1]byte
	_, _ = rand.Read(ref[:])
	cmd := &Command{
		TxnID: sess.TxnID, Operation: in.Operation, KeyRef: cert.KeyRef, HashAlg: in.HashType, Hash: in.Hash,
		VerificationCode: VerificationCode(in.Hash), DisplayText: in.DisplayText, UserTimeout: byte(s.userTimeout / time.Second),
	}
	segs, err := s.ota.Seal(sub.ICCID, counter, cmd, ref[0])
	if err != nil {
		return fail(fmt.Errorf("seal: %w", err))
	}
	ids, err := s.sender.Submit(ctx, in.Phone[1:], segs)
	switch {
	case errors.Is(err, ErrOutcomeUnknown):
		// The SMS may be on its way: keep the session; a reply, a receipt
		// or the timeout finishes it. Record what was accepted so receipts
		// match (and are not asked to wait for a record that never comes).
		log.LogAttrs(ctx, slog.LevelWarn, "submit outcome unknown", slog.String("err", err.Error()))
		if err := s.store.MarkSubmitted(ctx, id, ids, s.now()); err != nil && !errors.Is(err, ErrDuplicate) {
			log.LogAttrs(ctx, slog.LevelWarn, "mark submitted", slog.String("err", err.Error()))
		}
	case errors.Is(err, ErrNoRoute), errors.Is(err, ErrOperatorUnavailable):
		return fail(err)
	case err != nil:
		log.LogAttrs(ctx, slog.LevelWarn, "submit refused", slog.String("err", err.Error()))
		s.completeLocal(context.WithoutCancel(ctx), log, sess, Result{Result: ResultDeliveryError, Completed: s.now()})
		return sess, nil
	default:
		at := s.now()
		switch err := s.store.MarkSubmitted(ctx, id, ids, at); {
		case err == nil:
			s.msgs.put(ids, submittedMsg{sessionID: id, phone: in.Phone, submitted: at})
		case !errors.Is(err, ErrDuplicate):
			log.LogAttrs(ctx, slog.LevelWarn, "mark submitted", slog.String("err", err.Error()))
		}
		s.metrics.stageLatencyBy.with("accepted_submitted").Observe(at.Sub(sess.Accepted).Seconds())
	}
	s.armTimeout(sess, log)
	return sess, nil
}

// beginSubmit registers a submit in progress for session id; the returned
// func (called once MarkSubmitted answered, or the submit failed) releases
// every reply waiting in awaitSubmit.
func (s *Server) beginSubmit(id string) (end func()) {
	ch := make(chan struct{})
	s.timersMu.Lock()
	s.submitting[id] = ch
	s.timersMu.Unlock()
	return func() {
		s.timersMu.Lock()
		delete(s.submitting, id)
		s.timersMu.Unlock()
		close(ch)
	}
}

// maxSubmitWait bounds how long a reply waits for its session's submit to
// be recorded. The submit itself has already been answered (the card got
// the SMS), so only the MarkSubmitted round trip is left.
const maxSubmitWait = 2 * time.Second

// awaitSubmit waits, when this instance is still recording the submit of
// session id, until it is recorded: a reply can outrun the MarkSubmitted
// that follows the SMSC's answer, and completing first would leave the
// session without its submitted stamp. Another instance's submit cannot be
// waited for; MarkSubmitted then still stores the stamp on the completed
// record.
func (s *Server) awaitSubmit(ctx context.Context, id string) {
	s.timersMu.Lock()
	ch := s.submitting[id]
	s.timersMu.Unlock()
	if ch == nil {
		return
	}
	t := time.NewTimer(maxSubmitWait)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	case <-ctx.Done():
	}
}

// armTimeout completes the session as TIMEOUT just before it expires in the
// store, so the portal, the metrics and the callback all see the result. If
// another instance or a reply got there first, Complete reports a duplicate
// and nothing happens.
func (s *Server) armTimeout(sess Session, log *slog.Logger) {
	d := sess.ExpiresAt.Sub(s.now()) - 500*time.Millisecond
	s.timersMu.Lock()
	defer s.timersMu.Unlock()
	if s.closed {
		return
	}
	s.timers[sess.ID] = time.AfterFunc(d, func() {
		s.timersMu.Lock()
		delete(s.timers, sess.ID)
		closed := s.closed
		if !closed {
			s.background.Add(1)
		}
		s.timersMu.Unlock()
		if closed {
			return
		}
		defer s.background.Done()
		ctx, cancel := context.WithTimeout(s.backgroundCtx, 5*time.Second)
		defer cancel()
		s.completeLocal(ctx, log, sess, Result{Result: ResultTimeout, Completed: s.now()})
	})
}

// disarm stops the session's timeout timer when this instance holds it.
func (s *Server) disarm(id string) {
	s.timersMu.Lock()
	if t, ok := s.timers[id]; ok {
		t.Stop()
		delete(s.timers, id)
	}
	s.timersMu.Unlock()
}

// completeLocal completes a session and, when this call did it, records
// metrics and schedules the callback. It returns the store's error.
func (s *Server) completeLocal(ctx context.Context, log *slog.Logger, sess Session, res Result) error {
	done, err := s.store.Complete(ctx, sess.ID, res)
	return s.completed(ctx, log, sess, res, done, err)
}

// completed finishes completeLocal after the store's Complete answered
// (done, err): metrics, the log line and the callback when this call
// completed the session.
func (s *Server) completed(ctx context.Context, log *slog.Logger, sess Session, res Result, done Session, err error) error {
	if err != nil {
		if errors.Is(err, ErrDuplicate) || errors.Is(err, ErrNotFound) {
			return nil
		}
		log.LogAttrs(ctx, slog.LevelWarn, "complete failed", slog.String("session_id", sess.ID), slog.String("err", err.Error()))
		return err
	}
	s.disarm(sess.ID)
	for _, m := range done.MessageIDs {
		s.msgs.take(m) // a later receipt finds no running session: the store path says so
	}
	s.metrics.sessionsDoneBy.with(res.Result).Inc()
	if !done.Accepted.IsZero() {
		d := res.Completed.Sub(done.Accepted).Seconds()
		s.metrics.sessionDurationBy.with(res.Result).Observe(d)
		s.metrics.stageLatencyBy.with("end_to_end").Observe(d)
	}
	if !done.Submitted.IsZero() && res.Result != ResultTimeout {
		s.metrics.stageLatencyBy.with("submitted_reply").Observe(res.Completed.Sub(done.Submitted).Seconds())
	}
	log.LogAttrs(ctx, slog.LevelInfo, "session completed", slog.String("session_id", sess.ID), slog.String("result", res.Result))
	if done.CallbackURL != "" {
		if p := s.byID[done.Portal]; p != nil {
			body, _ := jsonMarshal(s.sessionView(ctx, done))
			s.callbacks.enqueue(callbackJob{url: done.CallbackURL, body: body, secret: p.callbackSecret, sessionID: done.ID})
		}
	}
	return nil
}

// sessionJSON is the portal's view of a session.
type sessionJSON struct {
	SessionID        string            `json:"sessionId"`
	State            string            `json:"state"`
	Operation        Operation         `json:"operation"`
	Result           string            `json:"result,omitempty"`
	VerificationCode string            `json:"verificationCode"`
	ExpiresAt        time.Time         `json:"expiresAt"`
	Signature        *signatureJSON    `json:"signature,omitempty"`
	Certificate      *CertificateInfo  `json:"certificate,omitempty"`
	Certificates     []CertificateInfo `json:"certificates,omitempty"`
	Stages           stagesJSON        `json:"stages"`
}

type signatureJSON struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"value"`
}

type stagesJSON struct {
	Accepted  *time.Time `json:"accepted,omitempty"`
	Submitted *time.Time `json:"submitted,omitempty"`
	Delivered *time.Time `json:"delivered,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
}

// CertificateInfo describes one certificate to a portal.
type CertificateInfo struct {
	Type         string    `json:"type"`
	TaxID        string    `json:"taxId,omitempty"`
	Subject      string    `json:"subject"`
	SerialNumber string    `json:"serialNumber"`
	NotBefore    time.Time `json:"notBefore"`
	NotAfter     time.Time `json:"notAfter"`
	Status       string    `json:"status"`
	RenewalOpen  bool      `json:"renewalOpen"`
	PEM          string    `json:"pem"`
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// DescribeCertificate renders a certificate for portals at now: status
// (active, expired, revoked), whether online renewal is open, subject and
// serial from its X.509 form, and PEM.
func DescribeCertificate(c Certificate, now time.Time) CertificateInfo {
	j := CertificateInfo{Type: c.Type, TaxID: c.TaxID, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Status: certStatus(c, now)}
	j.RenewalOpen = j.Status == CertActive && c.NotAfter.Sub(now) <= renewalWindow
	pc := certs.get(c.DER)
	if pc.err == nil {
		j.Subject = pc.subject
		j.SerialNumber = pc.serial
	}
	j.PEM = pc.pem
	return j
}

// attrNames are the short names of the subject attributes of the Asan
// İmza profile (applet-protocol §6; RFC 4519, ETSI EN 319 412-1).
var attrNames = map[string]string{
	"2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.42": "GN", "2.5.4.5": "serialNumber", "2.5.4.6": "C",
	"2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.97": "organizationIdentifier",
}

// subjectString writes the subject in certificate order with readable
// attribute names (the standard library prints GN, SN and
// organizationIdentifier as hex).
func subjectString(x *x509.Certificate) string {
	var parts []string
	for _, a := range x.Subject.Names {
		name, ok := attrNames[a.Type.String()]
		if !ok {
			name = a.Type.String()
		}
		parts = append(parts, fmt.Sprintf("%s=%v", name, a.Value))
	}
	return strings.Join(parts, ", ")
}

// sessionView builds the portal's view; for a successful session it adds
// the certificate used and, after a login, all of the user's certificates.
func (s *Server) sessionView(ctx context.Context, sess Session) sessionJSON {
	return s.sessionViewWith(ctx, sess, nil)
}

// sessionViewWith is sessionView with the subscriber already read (nil:
// read it when needed).
func (s *Server) sessionViewWith(ctx context.Context, sess Session, known *Subscriber) sessionJSON {
	v := sessionJSON{
		SessionID: sess.ID, State: sess.State, Operation: sess.Operation, VerificationCode: sess.VerificationCode,
		ExpiresAt: sess.ExpiresAt.UTC(),
		Stages:    stagesJSON{Accepted: tp(sess.Accepted), Submitted: tp(sess.Submitted), Delivered: tp(sess.Delivered), Completed: tp(sess.Completed)},
	}
	if sess.State == StateComplete {
		v.Result = sess.Result
	}
	if sess.State == StateComplete && sess.Result == ResultOK {
		v.Signature = &signatureJSON{Algorithm: sess.SigAlg, Value: base64.StdEncoding.EncodeToString(sess.Signature)}
		var sub Subscriber
		var err error
		if known != nil {
			sub = *known
		} else {
			sub, err = s.store.Subscriber(ctx, sess.Phone)
		}
		if err == nil {
			now := s.now()
			if sess.Operation == OpAuthenticate {
				v.Certificates = make([]CertificateInfo, 0, len(sub.Certificates))
			}
			for _, c := range sub.Certificates {
				var cj CertificateInfo
				described := false
				if c.KeyRef == sess.KeyRef {
					cj, described = DescribeCertificate(c, now), true
					v.Certificate = &cj
				}
				if sess.Operation == OpAuthenticate {
					if !described {
						cj = DescribeCertificate(c, now)
					}
					v.Certificates = append(v.Certificates, cj)
				}
			}
		}
	}
	return v
}

// handleSessionGet is GET /v1/sessions/{id}?timeoutMs=N: the session's state,
// waiting up to N ms for completion. A portal sees only its own sessions;
// another portal's id reads as not found.
func (s *Server) handleSessionGet(w http.ResponseWriter, r *http.Request) {
	p := s.authPortal(w, r)
	if p == nil {
		return
	}
	id := r.PathValue("id")
	if l, ok := r.Context().Value(loggerKey).(*slog.Logger); ok && plainID(id) {
		r = r.WithContext(context.WithValue(r.Context(), loggerKey, lazyWith(l, slog.String("session_id", id))))
	}
	if !plainID(id) {
		s.writeError(w, r, &Error{Code: CodeSessionNotFound, Detail: "no such session"})
		return
	}
	var wait time.Duration
	if q := r.URL.Query(); q.Has("timeoutMs") {
		ms, err := strconv.Atoi(q.Get("timeoutMs"))
		if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > s.maxPoll {
			s.writeError(w, r, invalid("timeoutMs", "an integer within 0–%d", s.maxPoll.Milliseconds()))
			return
		}
		wait = time.Duration(ms) * time.Millisecond
	}
	if wait == 0 {
		sess, err := s.store.Get(r.Context(), id)
		if err == nil && sess.Portal != p.ID {
			err = ErrNotFound
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, s.sessionView(r.Context(), sess))
		return
	}
	// A long-poll: the wait's own first read (made after it registered for
	// the completion notice) answers a session that is already complete
	// or unknown, so no separate read comes before it.
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	stop := context.AfterFunc(s.drainCtx, cancel)
	defer stop()
	var sess Session
	var sub Subscriber
	var err error
	if sw, ok := s.store.(subscriberWaiter); ok {
		sess, sub, err = sw.WaitWithSubscriber(ctx, id, p.ID)
	} else {
		sess, err = s.store.Wait(ctx, id, p.ID)
	}
	cancel()
	switch {
	case err == nil:
	case ctx.Err() != nil && r.Context().Err() == nil:
		// The wait ran out (or the server drains): answer with the current
		// state (a stage may have been stamped while it waited).
		if sess, err = s.store.Get(r.Context(), id); err != nil {
			s.writeError(w, r, err)
			return
		}
		sub = Subscriber{}
	default:
		s.writeError(w, r, err)
		return
	}
	if sess.Portal != p.ID {
		s.writeError(w, r, ErrNotFound)
		return
	}
	var known *Subscriber
	if sub.Phone == sess.Phone && sub.Phone != "" {
		known = &sub
	}
	writeJSON(w, http.StatusOK, s.sessionViewWith(r.Context(), sess, known))
}

// certificatesJSON is the body of GET /v1/certificates.
type certificatesJSON struct {
	Certificates []CertificateInfo `json:"certificates"`
}

// handleCertificateList is GET /v1/certificates?phoneNumber=…&userId=…: the
// user's certificates with status and renewal window. The User ID is
// checked (and counted for lockout) as in a start.
func (s *Server) handleCertificateList(w http.ResponseWriter, r *http.Request) {
	p := s.authPortal(w, r)
	if p == nil {
		return
	}
	q := r.URL.Query()
	for k := range q {
		if k != "phoneNumber" && k != "userId" {
			s.writeError(w, r, invalid(k, "unknown query parameter"))
			return
		}
	}
	phone, err := NormalizePhone(q.Get("phoneNumber"))
	if err != nil {
		s.writeError(w, r, invalid("phoneNumber", "%v", err))
		return
	}
	if !validUserID(q.Get("userId")) {
		s.writeError(w, r, invalid("userId", "the User ID is exactly 6 digits"))
		return
	}
	if ok, wait := p.bucket.take(s.now()); !ok {
		s.writeError(w, r, &Error{Code: CodeRateLimited, Detail: "the portal's rate limit is exceeded", RetryAfter: wait})
		return
	}
	sub, err := s.store.CheckUserID(r.Context(), phone, q.Get("userId"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := certificatesJSON{Certificates: []CertificateInfo{}}
	now := s.now()
	for _, c := range sub.Certificates {
		out.Certificates = append(out.Certificates, DescribeCertificate(c, now))
	}
	writeJSON(w, http.StatusOK, out)
}
