package gateway

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
)

// sessionJSON is the portal's view of a session (GET /v1/sessions/{id}
// and the callback body).
type sessionJSON struct {
	SessionID        string            `json:"sessionId"`
	State            string            `json:"state"`
	Operation        string            `json:"operation"`
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
	// DER, Format, CAdES, ASiCManifest and SigningTime: see addContainer.
	DER          string     `json:"der,omitempty"`
	Format       string     `json:"format,omitempty"`
	CAdES        string     `json:"cades,omitempty"`
	ASiCManifest string     `json:"asicManifest,omitempty"`
	SigningTime  *time.Time `json:"signingTime,omitempty"`
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
	// Revocation and Chain are the certification authority's word and the
	// validated chain (leaf first, root last, PEM): recorded with a
	// session's result, checked afresh in GET /v1/certificates.
	Revocation *RevocationInfo `json:"revocation,omitempty"`
	Chain      []string        `json:"chain,omitempty"`
	// Refusal is the code a start with this certificate would get now
	// (GET /v1/certificates only).
	Refusal string `json:"refusal,omitempty"`
}

// stageTime is a stage's time in UTC, or nil (the stage is left out of
// the JSON) when it has not been reached.
func stageTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// DescribeCertificate renders a registry certificate as the API shows it
// at now: the authentication key's certificate typed "authentication",
// its status (active, expired, revoked), whether online renewal is open,
// subject and serial from its X.509 form, and PEM. An embedding program
// (the demo's list of simulated users) describes certificates with it.
func DescribeCertificate(c sessions.Certificate, now time.Time) CertificateInfo {
	typ := c.Type
	if c.KeyRef == applet.KeyRefAuth {
		typ = CertAuthentication
	}
	j := CertificateInfo{Type: typ, TaxID: c.TaxID, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Status: certStatus(c, now)}
	j.RenewalOpen = j.Status == sessions.StatusActive && c.NotAfter.Sub(now) <= renewalWindow
	pc := certs.get(c.DER)
	if pc.err == nil {
		j.Subject = pc.subject
		j.SerialNumber = pc.serial
	}
	j.PEM = pc.pem
	return j
}

// attrNames are the short names of the subject attributes of the Asan
// İmza profile (docs/applet-protocol.md §6; RFC 4519, ETSI EN 319 412-1).
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

// viewer renders sessions for portals, reading the subscriber when a
// successful session's view lists certificates.
type viewer struct {
	store Store
	now   func() time.Time
}

// session builds the portal's view of sess; for a successful session it
// adds the certificate used, with the status recorded at completion, and,
// after a login, all of the user's certificates; a session the
// certificate check ended shows that certificate and status too. known is
// the subscriber when already read (nil: read it).
func (v *viewer) session(ctx context.Context, sess sessions.Session, known *sessions.Subscriber) sessionJSON {
	j := sessionJSON{
		SessionID: sess.ID, State: sess.State, Operation: sess.Operation, VerificationCode: sess.VerificationCode,
		ExpiresAt: sess.ExpiresAt.UTC(),
		Stages: stagesJSON{Accepted: stageTime(sess.Accepted), Submitted: stageTime(sess.Submitted),
			Delivered: stageTime(sess.Delivered), Completed: stageTime(sess.Completed)},
	}
	if sess.State != sessions.StateComplete {
		return j
	}
	j.Result = sess.Result
	if sess.Result != sessions.ResultOK && sess.CertStatus == nil {
		return j
	}
	if sess.Result == sessions.ResultOK {
		j.Signature = &signatureJSON{Algorithm: sess.SigAlg, Value: base64.StdEncoding.EncodeToString(sess.Signature)}
		addContainer(j.Signature, sess)
	}
	sub := known
	if sub == nil {
		s, err := v.store.Subscriber(ctx, sess.Phone)
		if err != nil {
			return j
		}
		sub = &s
	}
	v.addCertificates(&j, sess, sub.Certificates)
	return j
}

// addCertificates adds the certificate of the session's key and, for a
// login, the list of all.
func (v *viewer) addCertificates(j *sessionJSON, sess sessions.Session, certificates []sessions.Certificate) {
	now := v.now()
	login := sess.Operation == sessions.OpAuthenticate && sess.Result == sessions.ResultOK
	if login {
		j.Certificates = make([]CertificateInfo, 0, len(certificates))
	}
	for _, c := range certificates {
		var cj CertificateInfo
		described := false
		if c.KeyRef == sess.KeyRef {
			cj, described = describeRecorded(c, sess.CertStatus, now), true
			j.Certificate = &cj
		}
		if login {
			if !described {
				cj = DescribeCertificate(c, now)
			}
			j.Certificates = append(j.Certificates, cj)
		}
	}
}
