package gateway

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/ades"
	"github.com/imzagate/imzagate/sessions"
)

// AdESOptions configure CAdES and ASiC-E signatures (docs/ades.md). The
// zero value allows 100 documents per ASiC-E request and has no CA
// certificates: such a gateway answers a CAdES or ASiC-E request with
// CERTIFICATE_CHAIN_UNAVAILABLE, and plain signatures work as before.
type AdESOptions struct {
	// MaxDocuments bounds the documents of one ASiC-E request (default
	// 100, at most ades.MaxDocuments).
	MaxDocuments int
	// CACertificates are the CA certificates (issuing CAs and roots) the
	// containers carry above the signer's certificate.
	CACertificates []*x509.Certificate
	// Chains, when set, gives each certificate's chain instead of
	// CACertificates (for instance the path that validation found).
	Chains ChainSource
}

// defaultMaxDocuments is AdESOptions.MaxDocuments when left zero.
const defaultMaxDocuments = 100

// validate sets the defaults and builds the chain source.
func (o *AdESOptions) validate() error {
	if o.MaxDocuments < 0 || o.MaxDocuments > ades.MaxDocuments {
		return fmt.Errorf("gateway: AdES MaxDocuments %d outside 0..%d", o.MaxDocuments, ades.MaxDocuments)
	}
	if o.MaxDocuments == 0 {
		o.MaxDocuments = defaultMaxDocuments
	}
	if o.Chains == nil {
		chains, err := NewCAChains(o.CACertificates)
		if err != nil {
			return err
		}
		o.Chains = chains
	}
	return nil
}

// adesSigner builds the containers of CAdES and ASiC-E sessions around
// the card's signature (package ades): the signed attributes when the
// session starts, the CMS SignedData, checked with ades.Verify, when the
// card answers. Between the two the session's AdES state in the store is
// all there is, so any instance can finish what another started.
type adesSigner struct {
	chains       ChainSource
	maxDocuments int
}

// prepare lays out a CAdES or ASiC-E session whose certificate the policy
// chose: the signed attributes over the document digest in, the state
// the session keeps, and the hash the card is to sign (the digest of the
// signed attributes, from which the verification code derives too).
func (a *adesSigner) prepare(in *startInput, cert sessions.Certificate, now time.Time) (state, hash []byte, err error) {
	pc := certs.get(cert.DER)
	if pc.err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", pc.err)
	}
	signer := pc.x509
	if signer == nil {
		return nil, nil, errors.New("certificate does not parse")
	}
	if err := ades.CAdESSupported(signer); err != nil {
		return nil, nil, &Error{Code: CodeFormatNotSupported, Detail: fmt.Sprintf(
			"%s needs an ECDSA P-256 certificate: with Ed25519 and ML-DSA-44 keys CMS signs the signed attributes themselves, which the SIM cannot (docs/ades.md)", in.Format)}
	}
	chain, err := a.chains.ChainFor(signer)
	if err != nil {
		return nil, nil, &Error{Code: CodeChainUnavailable, Detail: "the gateway has no certificate chain for this certificate; ask for the raw signature or try later"}
	}
	p, err := ades.Prepare(ades.Request{DigestAlg: cryptoHash(in.HashAlg), Digest: in.Hash, Signer: signer, Chain: chain, SigningTime: now})
	if err != nil {
		return nil, nil, fmt.Errorf("ades prepare: %w", err)
	}
	st := adesState{kind: stateCAdES, digestAlg: in.HashAlg, signingTime: now.UTC().Truncate(time.Second),
		signer: sha256.Sum256(cert.DER), chain: chainRefs(chain), digest: in.Hash, signedAttrs: p.SignedAttrs, manifest: in.Manifest}
	if in.Format == formatASiCE {
		st.kind = stateASiCE
	}
	if len(p.SignedAttrs) > maxSignedAttrs {
		return nil, nil, fmt.Errorf("ades prepare: %d octets of signed attributes", len(p.SignedAttrs))
	}
	state = st.encode()
	if len(state) > sessions.MaxAdESLen {
		return nil, nil, &Error{Code: CodeRequestTooLarge, Detail: "the manifest of these documents is too large"}
	}
	return state, p.Hash, nil
}

func chainRefs(chain []*x509.Certificate) [][32]byte {
	refs := make([][32]byte, len(chain))
	for i, c := range chain {
		refs[i] = sha256.Sum256(c.Raw)
	}
	return refs
}

// errContainer wraps every reason a container is not handed out; the
// session ends as SIGNATURE_INVALID.
var errContainer = errors.New("container")

// seal assembles the container of an AdES session around the card's
// signature r and checks it as a verifier would (ades.Verify: the
// signature over the signed attributes with the certificate's key, the
// message digest against the document's or the manifest's digest, the
// signer identified as the certificate chosen at the start). Only a
// container that passes is returned.
func (a *adesSigner) seal(sub sessions.Subscriber, sess sessions.Session, r applet.Response) ([]byte, error) {
	st, err := decodeAdESState(sess.AdES)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errContainer, err)
	}
	signer, chain, err := a.certificates(sub, sess.KeyRef, st)
	if err != nil {
		return nil, err
	}
	if r.SigAlg != applet.SigECDSAP256 {
		return nil, fmt.Errorf("%w: a %v signature for a CAdES container", errContainer, r.SigAlg)
	}
	digest := st.digest
	if st.kind == stateASiCE {
		// What the portal gets is the stored manifest: the signature must
		// cover exactly those octets.
		if digest, err = ades.Sum(cryptoHash(st.digestAlg), st.manifest); err != nil {
			return nil, fmt.Errorf("%w: %w", errContainer, err)
		}
	}
	p := ades.Prepared{SignedAttrs: st.signedAttrs, DigestAlg: cryptoHash(st.digestAlg), Signer: signer, Chain: chain}
	der, err := p.Assemble(r.Signature)
	if err != nil {
		return nil, fmt.Errorf("%w: assemble: %w", errContainer, err)
	}
	if _, err := ades.Verify(der, ades.Expected{DigestAlg: p.DigestAlg, Digest: digest, Signer: signer}); err != nil {
		return nil, fmt.Errorf("%w: verify: %w", errContainer, err)
	}
	return der, nil
}

// certificates finds the signer's certificate (the session's key
// reference in the subscriber's record) and its chain again, and checks
// that both are the ones the signed attributes were built with.
func (a *adesSigner) certificates(sub sessions.Subscriber, keyRef byte, st *adesState) (*x509.Certificate, []*x509.Certificate, error) {
	for _, c := range sub.Certificates {
		if c.KeyRef != keyRef {
			continue
		}
		if sha256.Sum256(c.DER) != st.signer {
			return nil, nil, fmt.Errorf("%w: the key's certificate changed since the start", errContainer)
		}
		pc := certs.get(c.DER)
		if pc.err != nil {
			return nil, nil, fmt.Errorf("%w: certificate: %w", errContainer, pc.err)
		}
		signer := pc.x509
		if signer == nil {
			return nil, nil, fmt.Errorf("%w: certificate does not parse", errContainer)
		}
		chain, err := a.chains.ChainFor(signer)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", errContainer, err)
		}
		refs := chainRefs(chain)
		if len(refs) != len(st.chain) {
			return nil, nil, fmt.Errorf("%w: the certificate chain changed since the start", errContainer)
		}
		for i := range refs {
			if !bytes.Equal(refs[i][:], st.chain[i][:]) {
				return nil, nil, fmt.Errorf("%w: the certificate chain changed since the start", errContainer)
			}
		}
		return signer, chain, nil
	}
	return nil, nil, fmt.Errorf("%w: no certificate for the key reference", errContainer)
}
