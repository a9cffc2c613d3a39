package testca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"

	"github.com/imzagate/imzagate/applet"
)

// Kind is the certificate type on an Asan İmza SIM.
type Kind byte

// Certificate kinds.
const (
	Personal   Kind = 1 // Şəxsi
	Business   Kind = 2 // bound to a company's VÖEN
	Government Kind = 3 // Dövlət və bələdiyyə: an agency's VÖEN and OU
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case Personal:
		return "personal"
	case Business:
		return "business"
	case Government:
		return "government"
	}
	return fmt.Sprintf("kind %d", byte(k))
}

// Usage is what a certificate's key is for.
type Usage byte

// Usages.
const (
	Auth Usage = 1 // key reference 01: login (clientAuth)
	Sign Usage = 2 // key references 02..0F: signatures (nonRepudiation)
)

// GovernmentOU is the organisational unit of government certificates.
const GovernmentOU = "Dövlət və bələdiyyə"

// Validity is the lifetime of every certificate issued (3 years).
const validityYears = 3

// Errors.
var (
	ErrRequest = errors.New("testca: bad request")
	ErrKeyType = errors.New("testca: unsupported public key type")
)

// Holder identifies the person (and the organisation they act for).
type Holder struct {
	GivenName, Surname string
	FIN                string // personal identification code, 7 characters
	Organization       string // company or agency: business and government only
	VOEN               string // 10-digit tax id: business and government only
}

// Request asks for one certificate.
type Request struct {
	Kind      Kind
	Usage     Usage
	Holder    Holder
	PublicKey crypto.PublicKey // *ecdsa.PublicKey (P-256), ed25519.PublicKey or *mldsa44.PublicKey
	// NotBefore starts the validity; zero means the CA's clock now.
	NotBefore time.Time
	// Expired issues a certificate whose 3 years ended a day ago.
	Expired bool
}

// Options configures a CA. The zero value is usable.
type Options struct {
	// Name is the CA's common name (default "imzagate test CA").
	Name string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Seed, when set, makes the CA key deterministic.
	Seed []byte
	// OCSPServer, when set, is the responder URL written into the
	// authority information access extension of every certificate this
	// CA issues.
	OCSPServer string
	// CRLDistributionPoint, when set, is the URL of this CA's CRL,
	// written into every certificate it issues.
	CRLDistributionPoint string
}

// CA is the test certification centre. It is safe for concurrent use.
type CA struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	now  func() time.Time
	ocsp string // stamped into issued certificates
	cdp  string

	mu      sync.Mutex
	serial  int64
	revoked map[string]revocation // serial (decimal) → when and why
	issued  map[string]*x509.Certificate
}

type revocation struct {
	at     time.Time
	reason int
}

// New creates a CA with a self-signed ECDSA P-256 root valid for 20 years.
func New(opts Options) (*CA, error) {
	return newAuthority(nil, opts)
}

// NewSubordinate creates an intermediate CA whose certificate this CA
// issues (valid 10 years, path length 0, carrying this CA's OCSP and CRL
// URLs). opts name the intermediate and the URLs it stamps in turn; a nil
// opts.Now takes this CA's clock.
func (ca *CA) NewSubordinate(opts Options) (*CA, error) {
	if opts.Name == "" {
		opts.Name = "imzagate test issuing CA"
	}
	if opts.Now == nil {
		opts.Now = ca.now
	}
	return newAuthority(ca, opts)
}

func newAuthority(parent *CA, opts Options) (*CA, error) {
	if opts.Name == "" {
		opts.Name = "imzagate test CA"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var (
		key *ecdsa.PrivateKey
		err error
	)
	if opts.Seed != nil {
		key, err = DeterministicECDSA(opts.Seed, "testca")
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	now := opts.Now()
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	ski := sha1.Sum(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Country: []string{"AZ"}, Organization: []string{"imzagate test"}, CommonName: opts.Name},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.AddDate(20, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski[:],
	}
	parentCert, parentKey := tmpl, key
	if parent != nil {
		tmpl.SerialNumber = parent.nextSerial()
		tmpl.NotAfter = now.AddDate(10, 0, 0)
		tmpl.MaxPathLenZero = true
		tmpl.AuthorityKeyId = parent.cert.SubjectKeyId
		parent.stampURLs(tmpl)
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	if parent != nil {
		parent.record(cert)
	}
	return &CA{key: key, cert: cert, now: opts.Now, ocsp: opts.OCSPServer, cdp: opts.CRLDistributionPoint,
		serial: 1, revoked: make(map[string]revocation), issued: make(map[string]*x509.Certificate)}, nil
}

// stampURLs writes the CA's responder and CRL URLs into a template.
func (ca *CA) stampURLs(tmpl *x509.Certificate) {
	if ca.ocsp != "" {
		tmpl.OCSPServer = []string{ca.ocsp}
	}
	if ca.cdp != "" {
		tmpl.CRLDistributionPoints = []string{ca.cdp}
	}
}

// record remembers an issued certificate for OpenSSLIndex.
func (ca *CA) record(c *x509.Certificate) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.issued[c.SerialNumber.String()] = c
}

// DeterministicECDSA derives a P-256 key from a seed and a label, so that
// a simulated card can be rebuilt identically from its seed.
func DeterministicECDSA(seed []byte, label string) (*ecdsa.PrivateKey, error) {
	n := elliptic.P256().Params().N
	for i := byte(0); ; i++ {
		h := sha256.New()
		h.Write([]byte("imzagate ecdsa\x00"))
		h.Write([]byte(label))
		h.Write([]byte{0, i})
		h.Write(seed)
		d := h.Sum(nil)
		if v := new(big.Int).SetBytes(d); v.Sign() > 0 && v.Cmp(n) < 0 {
			return ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
		}
	}
}

// Certificate returns the CA's certificate (self-signed for a root).
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Key returns the CA's private key, so a test can hand it to another
// program (an OCSP responder signing as the CA itself) or sign a CRL with
// it by hand.
func (ca *CA) Key() *ecdsa.PrivateKey { return ca.key }

// Pool returns a pool holding the CA certificate, for chain verification.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

func (ca *CA) nextSerial() *big.Int {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.serial++
	return big.NewInt(ca.serial)
}

func validVOEN(s string) bool {
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

// Issue signs a certificate for req.
func (ca *CA) Issue(req Request) (*x509.Certificate, error) {
	h := req.Holder
	if h.GivenName == "" || h.Surname == "" || h.FIN == "" {
		return nil, fmt.Errorf("%w: holder needs given name, surname and FIN", ErrRequest)
	}
	if req.Usage != Auth && req.Usage != Sign {
		return nil, fmt.Errorf("%w: usage %d", ErrRequest, req.Usage)
	}
	subject := pkix.Name{
		Country:      []string{"AZ"},
		CommonName:   h.GivenName + " " + h.Surname,
		SerialNumber: "PNOAZ-" + h.FIN,
		ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 42}, Value: h.GivenName},
			{Type: asn1.ObjectIdentifier{2, 5, 4, 4}, Value: h.Surname},
		},
	}
	switch req.Kind {
	case Personal:
	case Business, Government:
		if h.Organization == "" || !validVOEN(h.VOEN) {
			return nil, fmt.Errorf("%w: %v certificate needs an organisation and a 10-digit VÖEN", ErrRequest, req.Kind)
		}
		subject.Organization = []string{h.Organization}
		subject.ExtraNames = append(subject.ExtraNames, pkix.AttributeTypeAndValue{
			Type: asn1.ObjectIdentifier{2, 5, 4, 97}, Value: "VATAZ-" + h.VOEN})
		if req.Kind == Government {
			subject.OrganizationalUnit = []string{GovernmentOU}
		}
	default:
		return nil, fmt.Errorf("%w: kind %d", ErrRequest, req.Kind)
	}
	notBefore := req.NotBefore
	if notBefore.IsZero() {
		notBefore = ca.now().Add(-time.Minute)
	}
	if req.Expired {
		notBefore = ca.now().AddDate(-validityYears, 0, -1)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   ca.nextSerial(),
		Subject:        subject,
		NotBefore:      notBefore,
		NotAfter:       notBefore.AddDate(validityYears, 0, 0),
		AuthorityKeyId: ca.cert.SubjectKeyId,
	}
	ca.stampURLs(tmpl)
	if req.Usage == Auth {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment
	}
	var der []byte
	var err error
	switch k := req.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ECDSA curve %s", ErrKeyType, k.Curve.Params().Name)
		}
		der, err = ca.create(tmpl, k)
	case ed25519.PublicKey:
		der, err = ca.create(tmpl, k)
	case *mldsa44.PublicKey:
		der, err = ca.createMLDSA(tmpl, k)
	default:
		return nil, fmt.Errorf("%w: %T", ErrKeyType, req.PublicKey)
	}
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	ca.record(c)
	return c, nil
}

func (ca *CA) create(tmpl *x509.Certificate, pub crypto.PublicKey) ([]byte, error) {
	raw, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	ski := sha1.Sum(raw)
	tmpl.SubjectKeyId = ski[:]
	return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
}

// createMLDSA issues the certificate for a stand-in key, then replaces the
// subjectPublicKeyInfo in the to-be-signed part with the ML-DSA-44 one
// (RFC 9881: algorithm id-ml-dsa-44 without parameters, the 1312-octet key
// as the BIT STRING) and signs the result again.
func (ca *CA) createMLDSA(tmpl *x509.Certificate, pub *mldsa44.PublicKey) ([]byte, error) {
	keyBytes, err := pub.MarshalBinary()
	if err != nil {
		return nil, err
	}
	spki, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{pkix.AlgorithmIdentifier{Algorithm: applet.OIDMLDSA44()}, asn1.BitString{Bytes: keyBytes, BitLength: 8 * len(keyBytes)}})
	if err != nil {
		return nil, err
	}
	ski := sha1.Sum(spki)
	tmpl.SubjectKeyId = ski[:]
	stand, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &ca.key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	var outer struct {
		TBS asn1.RawValue
		Alg asn1.RawValue
		Sig asn1.BitString
	}
	if _, err := asn1.Unmarshal(stand, &outer); err != nil {
		return nil, err
	}
	var elems [][]byte
	for rest := outer.TBS.Bytes; len(rest) > 0; {
		var rv asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &rv); err != nil {
			return nil, err
		}
		elems = append(elems, rv.FullBytes)
	}
	// version [0], serialNumber, signature, issuer, validity, subject,
	// subjectPublicKeyInfo, extensions [3] (RFC 5280 §4.1).
	if len(elems) < 7 {
		return nil, errors.New("testca: unexpected TBSCertificate layout")
	}
	elems[6] = spki
	tbs, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: bytes.Join(elems, nil)})
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256(tbs)
	sig, err := ecdsa.SignASN1(rand.Reader, ca.key, digest[:])
	if err != nil {
		return nil, err
	}
	outer.TBS = asn1.RawValue{FullBytes: tbs}
	outer.Sig = asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	return asn1.Marshal(outer)
}

// Revoke marks a certificate revoked from at on, reason unspecified.
func (ca *CA) Revoke(serial *big.Int, at time.Time) {
	ca.RevokeWithReason(serial, at, 0)
}

// RevokeWithReason marks a certificate revoked from at on with an RFC 5280
// §5.3.1 CRLReason code (0 unspecified, 1 keyCompromise, ... 10
// aACompromise).
func (ca *CA) RevokeWithReason(serial *big.Int, at time.Time, reason int) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.revoked[serial.String()] = revocation{at: at, reason: reason}
}

// IsRevoked reports whether the certificate with this serial was revoked
// at or before t.
func (ca *CA) IsRevoked(serial *big.Int, t time.Time) bool {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	r, ok := ca.revoked[serial.String()]
	return ok && !r.at.After(t)
}

// Revoked returns the revoked serials and when each was revoked.
func (ca *CA) Revoked() map[string]time.Time {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	m := make(map[string]time.Time, len(ca.revoked))
	for k, v := range ca.revoked {
		m[k] = v.at
	}
	return m
}

// CRL returns a DER certificate revocation list of every revoked
// certificate, valid for a day.
func (ca *CA) CRL() ([]byte, error) {
	now := ca.now()
	return ca.CRLValid(now, now.Add(24*time.Hour))
}

// CRLValid returns a DER CRL of every revoked certificate (with its
// reason) with the given thisUpdate and nextUpdate, numbered above every
// CRL this CA issued before.
func (ca *CA) CRLValid(thisUpdate, nextUpdate time.Time) ([]byte, error) {
	ca.mu.Lock()
	var entries []x509.RevocationListEntry
	for s, r := range ca.revoked {
		n, _ := new(big.Int).SetString(s, 10)
		entries = append(entries, x509.RevocationListEntry{SerialNumber: n, RevocationTime: r.at, ReasonCode: r.reason})
	}
	ca.serial++
	num := big.NewInt(ca.serial)
	ca.mu.Unlock()
	return x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: num, ThisUpdate: thisUpdate, NextUpdate: nextUpdate, RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
}

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): clients
// need not check the revocation status of the responder's certificate.
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// IssueResponder issues a delegated OCSP responder certificate (RFC 6960
// §4.2.2.2) with a fresh P-256 key, valid 30 days from the CA's clock,
// with id-pkix-ocsp-nocheck. ocspSigning false leaves out the
// id-kp-OCSPSigning extended key usage, which a verifier must then refuse.
func (ca *CA) IssueResponder(name string, ocspSigning bool) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := ca.now()
	null, _ := asn1.Marshal(asn1.NullRawValue)
	tmpl := &x509.Certificate{
		SerialNumber:    ca.nextSerial(),
		Subject:         pkix.Name{Country: []string{"AZ"}, Organization: []string{"imzagate test"}, CommonName: name},
		NotBefore:       now.Add(-time.Hour),
		NotAfter:        now.AddDate(0, 0, 30),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		AuthorityKeyId:  ca.cert.SubjectKeyId,
		ExtraExtensions: []pkix.Extension{{Id: oidOCSPNoCheck, Value: null}},
	}
	if ocspSigning {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}
	}
	der, err := ca.create(tmpl, &key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	ca.record(c)
	return c, key, nil
}

// crlReasonNames are OpenSSL's names of the CRLReason codes, as its CA
// database writes them.
var crlReasonNames = [...]string{"unspecified", "keyCompromise", "CACompromise", "affiliationChanged",
	"superseded", "cessationOfOperation", "certificateHold", "", "removeFromCRL"}

// OpenSSLIndex returns the CA database of `openssl ca` (index.txt) for
// every certificate this CA issued, so `openssl ocsp -index` and
// `openssl ca -gencrl` answer for it: one line per certificate,
//
//	V|R <TAB> notAfter <TAB> [revocationTime[,reason]] <TAB> serial (hex) <TAB> unknown <TAB> subject
//
// with times as YYMMDDHHMMSSZ. Subjects are made unique by the serial, so
// the database loads whatever OpenSSL's unique_subject setting.
func (ca *CA) OpenSSLIndex() []byte {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	serials := make([]*big.Int, 0, len(ca.issued))
	for _, c := range ca.issued {
		serials = append(serials, c.SerialNumber)
	}
	slices.SortFunc(serials, func(a, b *big.Int) int { return a.Cmp(b) })
	const ts = "060102150405Z"
	var b bytes.Buffer
	for _, n := range serials {
		c := ca.issued[n.String()]
		state, revoked := "V", ""
		if r, ok := ca.revoked[n.String()]; ok {
			state, revoked = "R", r.at.UTC().Format(ts)
			if r.reason > 0 && r.reason < len(crlReasonNames) && crlReasonNames[r.reason] != "" {
				revoked += "," + crlReasonNames[r.reason]
			}
		}
		hex := strings.ToUpper(n.Text(16))
		if len(hex)%2 == 1 {
			hex = "0" + hex
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%s\tunknown\t/O=imzagate test/CN=serial %s\n",
			state, c.NotAfter.UTC().Format(ts), revoked, hex, hex)
	}
	return b.Bytes()
}
