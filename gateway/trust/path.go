package trust

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Operation is what the certificate's key is about to be used for.
type Operation uint8

// Operations.
const (
	// Authenticate is a PIN1 login: key usage digitalSignature, and
	// extended key usage clientAuth when the certificate lists any.
	Authenticate Operation = iota + 1
	// Sign is a PIN2 signature: key usage nonRepudiation
	// (contentCommitment).
	Sign
)

// String names the operation as the portal API does.
func (op Operation) String() string {
	switch op {
	case Authenticate:
		return "AUTHENTICATE"
	case Sign:
		return "SIGN"
	}
	return fmt.Sprintf("operation(%d)", uint8(op))
}

// Kind is the certificate type a slot expects (docs/applet-protocol.md §6).
type Kind uint8

// Kinds. KindAny checks no subject attribute but an expected VÖEN.
const (
	KindAny Kind = iota
	KindPersonal
	KindBusiness
	KindGovernment
)

// ParseKind reads the registry's spelling: personal, business or
// government (empty is KindAny).
func ParseKind(s string) (Kind, error) {
	switch s {
	case "":
		return KindAny, nil
	case "personal":
		return KindPersonal, nil
	case "business":
		return KindBusiness, nil
	case "government":
		return KindGovernment, nil
	}
	return 0, requestf("certificate kind %q: want personal, business or government", s)
}

// GovernmentOU is the organisational unit of government certificates.
const GovernmentOU = "Dövlət və bələdiyyə"

// Slot is what the subject must show: the kind of certificate and, for a
// company or agency, its VÖEN.
type Slot struct {
	Kind Kind
	// VOEN is the 10-digit tax number the certificate's
	// organizationIdentifier must carry (as VATAZ-<VOEN>); empty checks
	// none.
	VOEN string
}

// oidOrganizationIdentifier is 2.5.4.97 (X.520; its VATAZ- form is the one
// of ETSI EN 319 412-1 §5.1.4).
var oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}

// Path is a verified certification path, leaf first and the root last
// (in ModeProvisionedOnly, the chain as given). It is immutable and may be
// kept for the re-check at reply time.
type Path struct {
	certs               []*x509.Certificate
	pem                 []string
	notBefore, notAfter time.Time // the intersection of every validity
}

// Certificates returns the path, leaf first. The slice is shared: do not
// modify it.
func (p *Path) Certificates() []*x509.Certificate { return p.certs }

// PEM returns the path as PEM texts, leaf first. The slice is shared: do
// not modify it.
func (p *Path) PEM() []string { return p.pem }

// Leaf returns the subscriber's certificate.
func (p *Path) Leaf() *x509.Certificate { return p.certs[0] }

func newPath(certs []*x509.Certificate) *Path {
	p := &Path{certs: certs, pem: make([]string, len(certs))}
	for i, c := range certs {
		p.pem[i] = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
		if i == 0 || c.NotBefore.After(p.notBefore) {
			p.notBefore = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(p.notAfter) {
			p.notAfter = c.NotAfter
		}
	}
	return p
}

// Validate checks a subscriber's certificate for an operation at time at:
// validity, key usage for op, the subject against slot, and (in
// ModeVerify) a path to a configured root through the configured
// intermediates and any in chain[1:]. It does not look at revocation:
// Status does. Paths found are remembered by the leaf's hash, so a
// re-check at reply time costs no signature verification.
func (c *Checker) Validate(chain []*x509.Certificate, op Operation, slot Slot, at time.Time) (*Path, error) {
	if len(chain) == 0 || chain[0] == nil {
		return nil, requestf("no certificate")
	}
	if len(chain) > maxChainLen {
		return nil, requestf("%d certificates in the chain, at most %d", len(chain), maxChainLen)
	}
	if slot.VOEN != "" && !tenDigits(slot.VOEN) {
		return nil, requestf("expected VÖEN is not 10 digits")
	}
	leaf := chain[0]
	if err := checkValidity(leaf, at); err != nil {
		return nil, err
	}
	if err := checkUsage(leaf, op); err != nil {
		return nil, err
	}
	if err := checkSubject(leaf, slot); err != nil {
		return nil, err
	}
	if c.opts.Mode == ModeProvisionedOnly {
		return newPath(chain), nil
	}
	eku := x509.ExtKeyUsageAny
	if op == Authenticate && hasEKU(leaf) {
		eku = x509.ExtKeyUsageClientAuth
	}
	p := c.paths.get(leaf, eku)
	if p == nil {
		var err error
		if p, err = c.verifyPath(chain, eku, at); err != nil {
			return nil, err
		}
	}
	if at.Before(p.notBefore) || at.After(p.notAfter) {
		return nil, refusef(CodeExpired, nil, "a CA certificate of the path is not valid at %s", at.UTC().Format(time.RFC3339))
	}
	return p, nil
}

// Issuers returns the issuer certificates of leaf's validated path,
// issuer first and root last, as a signature container carries them. It
// checks only that a path to a configured root exists at time at (key
// usage and subject are Validate's job), and reuses the path Validate
// found when there is one.
func (c *Checker) Issuers(leaf *x509.Certificate, at time.Time) ([]*x509.Certificate, error) {
	if leaf == nil {
		return nil, requestf("no certificate")
	}
	if c.opts.Mode == ModeProvisionedOnly {
		return nil, refusef(CodeUntrusted, nil, "provisioned-only: no configured roots to chain to")
	}
	p := c.paths.get(leaf, x509.ExtKeyUsageAny)
	if p == nil {
		var err error
		if p, err = c.verifyPath([]*x509.Certificate{leaf}, x509.ExtKeyUsageAny, at); err != nil {
			return nil, err
		}
	}
	return p.certs[1:], nil
}

// verifyPath finds a path with the standard library, which also applies
// the extended key usage to the CA certificates (an intermediate limited
// to other usages refuses clientAuth).
func (c *Checker) verifyPath(chain []*x509.Certificate, eku x509.ExtKeyUsage, at time.Time) (*Path, error) {
	leaf := chain[0]
	inters := c.inters
	if len(chain) > 1 {
		inters = c.inters.Clone()
		for _, ic := range chain[1:] {
			if ic != nil {
				inters.AddCert(ic)
			}
		}
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: c.roots, Intermediates: inters, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{eku}})
	if err != nil {
		return nil, classifyVerify(err)
	}
	p := newPath(chains[0])
	c.paths.put(leaf, eku, p)
	return p, nil
}

// classifyVerify maps an x509 verification error to its refusal code.
func classifyVerify(err error) error {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) {
		switch inv.Reason {
		case x509.Expired:
			return refusef(CodeExpired, err, "path")
		case x509.IncompatibleUsage:
			return refusef(CodeKeyUsage, err, "path")
		}
	}
	return refusef(CodeUntrusted, err, "no path to a configured root")
}

func checkValidity(c *x509.Certificate, at time.Time) error {
	switch {
	case at.After(c.NotAfter):
		return refusef(CodeExpired, nil, "expired on %s", c.NotAfter.UTC().Format(time.RFC3339))
	case at.Before(c.NotBefore):
		return refusef(CodeExpired, nil, "not valid before %s", c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func hasEKU(c *x509.Certificate) bool { return len(c.ExtKeyUsage)+len(c.UnknownExtKeyUsage) > 0 }

// checkUsage: a key usage extension is required, not assumed from its
// absence (RFC 5280 would allow any use then; a qualified certificate
// always carries one).
func checkUsage(c *x509.Certificate, op Operation) error {
	if c.IsCA {
		return refusef(CodeKeyUsage, nil, "a CA certificate cannot %s", strings.ToLower(op.String()))
	}
	switch op {
	case Authenticate:
		if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
			return refusef(CodeKeyUsage, nil, "AUTHENTICATE needs key usage digitalSignature")
		}
		if hasEKU(c) && !hasExtUsage(c, x509.ExtKeyUsageClientAuth) {
			return refusef(CodeKeyUsage, nil, "AUTHENTICATE needs extended key usage clientAuth")
		}
	case Sign:
		if c.KeyUsage&x509.KeyUsageContentCommitment == 0 {
			return refusef(CodeKeyUsage, nil, "SIGN needs key usage nonRepudiation (contentCommitment)")
		}
	default:
		return requestf("unknown operation %d", op)
	}
	return nil
}

func hasExtUsage(c *x509.Certificate, want x509.ExtKeyUsage) bool {
	for _, u := range c.ExtKeyUsage {
		if u == want || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// checkSubject compares the subject with the slot. The VÖEN is public (it
// names a company), so it may appear in the error.
func checkSubject(c *x509.Certificate, slot Slot) error {
	orgID := organizationIdentifier(c)
	switch slot.Kind {
	case KindAny:
	case KindPersonal:
		if orgID != "" {
			return refusef(CodeSubjectMismatch, nil, "a personal slot holds a certificate of organisation %s", orgID)
		}
	case KindBusiness, KindGovernment:
		if !strings.HasPrefix(orgID, "VATAZ-") || !tenDigits(orgID[len("VATAZ-"):]) {
			return refusef(CodeSubjectMismatch, nil, "no organizationIdentifier VATAZ-<10 digits> in the subject")
		}
		if slot.Kind == KindGovernment && !containsString(c.Subject.OrganizationalUnit, GovernmentOU) {
			return refusef(CodeSubjectMismatch, nil, "a government certificate needs OU %q", GovernmentOU)
		}
	default:
		return requestf("unknown certificate kind %d", slot.Kind)
	}
	if slot.VOEN != "" && orgID != "VATAZ-"+slot.VOEN {
		return refusef(CodeSubjectMismatch, nil, "organizationIdentifier %q, expected VATAZ-%s", orgID, slot.VOEN)
	}
	return nil
}

func organizationIdentifier(c *x509.Certificate) string {
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidOrganizationIdentifier) {
			s, _ := n.Value.(string)
			return s
		}
	}
	return ""
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func tenDigits(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// pathCache remembers verified paths by the SHA-256 of the leaf and the
// extended key usage they were verified for. The configuration does not
// change while the Checker lives, so a path once verified stays a path;
// only its validity window is checked again. When full it is emptied,
// which bounds memory with no bookkeeping per hit.
type pathCache struct {
	max int
	mu  sync.RWMutex
	m   map[pathKey]*Path
}

type pathKey struct {
	leaf [32]byte
	eku  x509.ExtKeyUsage
}

func newPathCache(max int) *pathCache {
	return &pathCache{max: max, m: make(map[pathKey]*Path)}
}

func (pc *pathCache) get(leaf *x509.Certificate, eku x509.ExtKeyUsage) *Path {
	if pc.max < 0 {
		return nil
	}
	k := pathKey{sha256.Sum256(leaf.Raw), eku}
	pc.mu.RLock()
	p := pc.m[k]
	pc.mu.RUnlock()
	return p
}

func (pc *pathCache) put(leaf *x509.Certificate, eku x509.ExtKeyUsage, p *Path) {
	if pc.max < 0 {
		return
	}
	k := pathKey{sha256.Sum256(leaf.Raw), eku}
	pc.mu.Lock()
	if len(pc.m) >= pc.max {
		clear(pc.m)
	}
	pc.m[k] = p
	pc.mu.Unlock()
}
