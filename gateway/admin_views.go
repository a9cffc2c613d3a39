package gateway

import (
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/sessions"
)

// adminProfile is a subscriber as the admin API shows it. It never holds
// the User ID (only its HMAC is stored, and even that is not shown).
type adminProfile struct {
	Phone        string          `json:"phone"` // masked
	ICCID        string          `json:"iccid"` // masked for the sre view
	KeyVersion   int             `json:"keyVersion"`
	Operator     string          `json:"operator"`
	State        string          `json:"state"`
	MovingTo     string          `json:"movingTo,omitempty"` // masked
	Lockout      adminLockout    `json:"lockout"`
	PINBlocked   bool            `json:"pinBlocked"`
	Blocked      string          `json:"blocked,omitempty"`
	BlockedAt    *time.Time      `json:"blockedAt,omitempty"`
	Certificates []adminCertView `json:"certificates"`
}

type adminLockout struct {
	Failures    int        `json:"failures"`
	Locked      bool       `json:"locked"`
	LockedUntil *time.Time `json:"lockedUntil,omitempty"`
}

// adminCertView is a certificate as the admin API shows it; the subject
// (a person's name and national id) is left out of the sre view.
type adminCertView struct {
	Serial       string     `json:"serial"`
	Type         string     `json:"type"`
	KeyRef       int        `json:"keyRef"`
	TaxID        string     `json:"taxId,omitempty"`
	Subject      string     `json:"subject,omitempty"`
	NotBefore    time.Time  `json:"notBefore"`
	NotAfter     time.Time  `json:"notAfter"`
	Status       string     `json:"status"`
	StatusAt     *time.Time `json:"statusAt,omitempty"`
	StatusReason string     `json:"statusReason,omitempty"`
}

// profileView builds the profile; redacted is the sre view (ICCID and
// certificate subjects masked).
func profileView(p sessions.Profile, redacted bool, now time.Time) adminProfile {
	sub := p.Subscriber
	v := adminProfile{
		Phone: audit.MaskPhone(sub.Phone), ICCID: sub.ICCID, KeyVersion: sub.KeyVersion, Operator: sub.Operator,
		State: sub.StateOf(), Lockout: adminLockout{Failures: p.Failures}, Blocked: p.Blocked,
		PINBlocked:   p.Blocked == sessions.ResultPINBlocked,
		Certificates: []adminCertView{},
	}
	if redacted {
		v.ICCID = "***" + tail(sub.ICCID)
	}
	if p.MovingTo != "" {
		v.MovingTo = audit.MaskPhone(p.MovingTo)
	}
	if !p.LockedUntil.IsZero() {
		t := p.LockedUntil.UTC()
		v.Lockout.Locked, v.Lockout.LockedUntil = true, &t
	}
	if !p.BlockedAt.IsZero() {
		t := p.BlockedAt.UTC()
		v.BlockedAt = &t
	}
	for _, c := range sub.Certificates {
		v.Certificates = append(v.Certificates, describeAdminCert(c, now, redacted))
	}
	return v
}

// describeAdminCert shows one certificate.
func describeAdminCert(c sessions.Certificate, now time.Time, redacted bool) adminCertView {
	pc := certs.get(c.DER)
	v := adminCertView{Serial: pc.serial, Type: c.Type, KeyRef: int(c.KeyRef), TaxID: c.TaxID,
		NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Status: certStatus(c, now), StatusReason: c.StatusReason}
	if c.KeyRef == applet.KeyRefAuth {
		v.Type = CertAuthentication
	}
	if !redacted {
		v.Subject = pc.subject
	}
	if !c.StatusAt.IsZero() {
		t := c.StatusAt.UTC()
		v.StatusAt = &t
	}
	return v
}

// adminSession is a session as the admin API shows it: no hash, no
// signature, the phone masked.
type adminSession struct {
	ID        string     `json:"id"`
	Portal    string     `json:"portal"`
	Operation string     `json:"operation"`
	Phone     string     `json:"phone"`
	Operator  string     `json:"operator,omitempty"`
	KeyRef    int        `json:"keyRef"`
	State     string     `json:"state"`
	Result    string     `json:"result,omitempty"`
	Accepted  time.Time  `json:"accepted"`
	Submitted *time.Time `json:"submitted,omitempty"`
	Delivered *time.Time `json:"delivered,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
	ExpiresAt time.Time  `json:"expiresAt"`
}

func adminSessionView(s sessions.Session) adminSession {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return adminSession{ID: s.ID, Portal: s.Portal, Operation: s.Operation, Phone: audit.MaskPhone(s.Phone),
		Operator: s.Operator, KeyRef: int(s.KeyRef), State: s.State, Result: s.Result, Accepted: s.Accepted.UTC(),
		Submitted: opt(s.Submitted), Delivered: opt(s.Delivered), Completed: opt(s.Completed), ExpiresAt: s.ExpiresAt.UTC()}
}
