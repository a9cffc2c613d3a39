package gateway

import (
	"bytes"
	"encoding/pem"
	"time"

	"github.com/imzagate/imzagate/gateway/trust"
	"github.com/imzagate/imzagate/sessions"
)

// RevocationInfo is the certification authority's word on a certificate
// as a portal sees it (docs/trust.md §5): the revocation status, where it
// came from and when it was asked for, and for a revoked certificate when
// and why.
type RevocationInfo struct {
	Status    string     `json:"status"`           // good, revoked or unknown
	Source    string     `json:"source,omitempty"` // ocsp, crl or provisioned; absent when unknown
	CheckedAt time.Time  `json:"checkedAt"`
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Reason    string     `json:"reason,omitempty"` // RFC 5280 CRLReason name, e.g. keyCompromise
}

// withStatus adds a recorded status to a certificate's description: the
// revocation object, the chain as PEM (leaf first, root last) and, for a
// revoked certificate, status revoked.
func withStatus(j *CertificateInfo, cs *sessions.CertificateStatus) {
	if cs == nil {
		return
	}
	r := &RevocationInfo{Status: cs.Status, Source: cs.Source, CheckedAt: cs.CheckedAt.UTC()}
	if cs.Status == sessions.CertStatusRevoked {
		r.Reason = trust.ReasonString(cs.Reason)
		if !cs.RevokedAt.IsZero() {
			t := cs.RevokedAt.UTC()
			r.RevokedAt = &t
		}
		j.Status, j.RenewalOpen = sessions.StatusRevoked, false
	}
	j.Revocation = r
	j.Chain = make([]string, 0, len(cs.Chain))
	for _, der := range cs.Chain {
		j.Chain = append(j.Chain, certs.get(der).pem)
	}
}

// describeRecorded describes the certificate a session used: the registry
// entry of its key reference with the status recorded at completion. When
// the registry holds another certificate for that key by now (a renewal),
// the one checked, the head of the recorded chain, is described instead:
// it is the one the signature belongs to.
func describeRecorded(c sessions.Certificate, cs *sessions.CertificateStatus, now time.Time) CertificateInfo {
	if cs != nil && len(cs.Chain) > 0 && !bytes.Equal(cs.Chain[0], c.DER) {
		if pc := certs.get(cs.Chain[0]); pc.err == nil {
			c.DER, c.NotBefore, c.NotAfter = cs.Chain[0], pc.x509.NotBefore, pc.x509.NotAfter
		}
	}
	j := DescribeCertificate(c, now)
	withStatus(&j, cs)
	return j
}

// pemDER returns the DER of the first certificate of a PEM text (nil if
// none).
func pemDER(s string) []byte {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil
	}
	return b.Bytes
}
