package gateway

import (
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
)

// The API's names for what the registry does not store: the type of the
// certificate behind the authentication key (the registry files it under
// its holder's type) and the status of a certificate past its validity.
const (
	CertAuthentication = "authentication"
	CertExpired        = "expired"
)

// renewalWindow is the last part of a certificate's validity in which
// online renewal is open (docs/architecture.md §2).
const renewalWindow = 30 * 24 * time.Hour

// certStatus is the certificate's status at now as the API reports it:
// revoked as the registry says, expired outside its validity, else active.
func certStatus(c sessions.Certificate, now time.Time) string {
	switch {
	case c.Status == sessions.StatusRevoked:
		return sessions.StatusRevoked
	case c.Status == sessions.StatusSuspended:
		return sessions.StatusSuspended
	case now.After(c.NotAfter) || now.Before(c.NotBefore):
		return CertExpired
	}
	return sessions.StatusActive
}

// pickCertificate applies the certificate policy: AUTHENTICATE always uses
// the authentication key (reference 01); SIGN picks the signing certificate
// by type and, for business and government, VÖEN. An expired or revoked
// choice is refused with its own code.
func pickCertificate(sub sessions.Subscriber, in startInput, now time.Time) (sessions.Certificate, error) {
	var match []sessions.Certificate
	for _, c := range sub.Certificates {
		if in.Operation == applet.OpAuthenticate {
			if c.KeyRef == applet.KeyRefAuth {
				match = append(match, c)
			}
			continue
		}
		if c.KeyRef == applet.KeyRefAuth || c.Type != in.CertType {
			continue
		}
		if in.TaxID != "" && c.TaxID != in.TaxID {
			continue
		}
		match = append(match, c)
	}
	if len(match) == 0 {
		return sessions.Certificate{}, &Error{Code: CodeCertificateNotFound, Detail: "the user has no such certificate"}
	}
	if len(match) > 1 {
		// Several candidates: prefer an active one (a renewed certificate
		// sits beside its expiring predecessor); several active companies
		// need the VÖEN to choose.
		var active []sessions.Certificate
		for _, c := range match {
			if certStatus(c, now) == sessions.StatusActive {
				active = append(active, c)
			}
		}
		switch {
		case len(active) == 1:
			return active[0], nil
		case len(active) > 1 && in.TaxID == "" && in.Operation == applet.OpSign && in.CertType != sessions.CertPersonal:
			return sessions.Certificate{}, invalid("certificate.taxId", "the user has several %s certificates: give the VÖEN", in.CertType)
		case len(active) > 1:
			return active[0], nil
		}
	}
	c := match[0]
	switch certStatus(c, now) {
	case sessions.StatusRevoked:
		return sessions.Certificate{}, &Error{Code: CodeCertificateRevoked, Detail: "the certificate is revoked"}
	case sessions.StatusSuspended:
		return sessions.Certificate{}, &Error{Code: CodeCertificateSuspended, Detail: "the certificate is suspended by the certification authority"}
	case CertExpired:
		return sessions.Certificate{}, &Error{Code: CodeCertificateExpired, Detail: "the certificate is not valid now; renew it"}
	}
	return c, nil
}
