package ades

import "errors"

// Errors. Each names one reason a container cannot be made or accepted, so
// that the gateway can map it to one problem code.
var (
	// ErrFormatNotSupported: the certificate's key cannot make the
	// requested format with what the applet signs (Ed25519 and ML-DSA-44
	// CAdES need a pure signature over the signed attributes, see the
	// package documentation), or the key is of a kind the applet never
	// holds.
	ErrFormatNotSupported = errors.New("ades: format not supported for this key")
	// ErrRequest: a Prepare request or prepared state that lacks the
	// signer's certificate, its chain entries or the signing time, or a
	// signing time no ASN.1 Time can state.
	ErrRequest = errors.New("ades: incomplete request")
	// ErrDigestAlgorithm: a digest algorithm other than SHA-256, SHA-384
	// or SHA-512.
	ErrDigestAlgorithm = errors.New("ades: unsupported digest algorithm")
	// ErrDigestLength: a digest whose length does not fit its algorithm.
	ErrDigestLength = errors.New("ades: digest length does not match its algorithm")
	// ErrSignatureValue: a signature value of the wrong size or encoding
	// (not 64 octets r‖s, not a DER ECDSA-Sig-Value, r or s zero).
	ErrSignatureValue = errors.New("ades: malformed signature value")
	// ErrCertificate: a missing signer certificate, a chain that does not
	// link, or a container naming another signer than expected.
	ErrCertificate = errors.New("ades: certificate mismatch")
	// ErrMalformed: a CMS structure that is not the DER this package
	// writes.
	ErrMalformed = errors.New("ades: malformed CMS")
	// ErrTooLarge: an input above the package's bounds.
	ErrTooLarge = errors.New("ades: input too large")
	// ErrSignature: the CMS signature does not verify over the signed
	// attributes with the signer's key.
	ErrSignature = errors.New("ades: signature does not verify")
	// ErrMessageDigest: the message-digest attribute is not the digest of
	// the document (a tampered or another document).
	ErrMessageDigest = errors.New("ades: message digest does not match the document")
	// ErrSigningCertificate: the signing-certificate-v2 attribute does not
	// identify the signer's certificate.
	ErrSigningCertificate = errors.New("ades: signing-certificate-v2 does not match the certificate")

	// ErrName: a document name an ASiC container cannot carry.
	ErrName = errors.New("ades: invalid document name")
	// ErrMIMEType: a MIME type that is not type/subtype of RFC 6838.
	ErrMIMEType = errors.New("ades: invalid MIME type")
	// ErrManifest: an ASiCManifest that is not the one this package writes,
	// or documents that do not match it.
	ErrManifest = errors.New("ades: invalid ASiC manifest")
	// ErrContainer: a ZIP that is not an ASiC-E container of this profile.
	ErrContainer = errors.New("ades: invalid ASiC-E container")
)
