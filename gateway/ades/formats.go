package ades

import "crypto/x509"

// Format names a form in which the gateway can hand a signature to a
// portal.
type Format string

// Formats.
const (
	// FormatRaw is the applet's signature value as it came: r ‖ s for
	// ECDSA P-256, the 64-octet Ed25519 or 2420-octet ML-DSA-44 signature
	// of the hash value.
	FormatRaw Format = "raw"
	// FormatDER is the ECDSA-Sig-Value (RawToDER); ECDSA only, the other
	// algorithms have no second encoding.
	FormatDER Format = "der"
	// FormatCAdES is the detached CAdES-B signature (.p7s) of the
	// document digest.
	FormatCAdES Format = "cades"
	// FormatASiCE is an ASiC-E container whose CAdES signature covers a
	// manifest of the documents' digests.
	FormatASiCE Format = "asic-e"
)

// Formats lists the formats a signature made with the certificate's key
// can take. Ed25519 and ML-DSA-44 keys give the raw value only: their CMS
// conventions sign the signed attributes themselves (see CAdESSupported).
func Formats(cert *x509.Certificate) []Format {
	if CAdESSupported(cert) == nil {
		return []Format{FormatRaw, FormatDER, FormatCAdES, FormatASiCE}
	}
	return []Format{FormatRaw}
}
