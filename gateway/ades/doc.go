// Package ades turns a signature value made by the SIM into an advanced
// electronic signature a portal can keep: a detached CAdES baseline B
// signature (ETSI EN 319 122-1) in a CMS SignedData (RFC 5652), and an
// ASiC-E container (ETSI EN 319 162-1) whose CAdES signature covers a
// manifest of the documents' digests. docs/ades.md tells portals what they
// receive and how to verify it.
//
// # Protocol flow
//
// The SIM signs only a 32, 48 or 64-octet hash value, and the answer comes
// back much later, perhaps to another gateway instance, so the signature is
// built in two phases around the SIM:
//
//	start (portal asks for CAdES or ASiC-E; the gateway has the certificate)
//	    [ASiC-E: Manifest(documents) → manifest; Sum(SHA-256, manifest) is the digest]
//	    Prepare(Request{DigestAlg, Digest, Signer, Chain, SigningTime})
//	        → Prepared{SignedAttrs, Hash}
//	    session keeps SignedAttrs and DigestAlg
//	    SIM ← SIGN with Hash (hash algorithm by its length)
//	reply (status OK, raw r ‖ s)
//	    Prepared{SignedAttrs, DigestAlg, Signer, Chain}.Assemble(r ‖ s) → .p7s
//	    Verify(.p7s, Expected{DigestAlg, Digest, Signer}); an error is the
//	        gateway's own fault and the container is not handed out
//	    [ASiC-E: the portal, or Pack, zips documents, manifest and .p7s]
//	    answer: raw value, RawToDER value, .p7s [, manifest]
//
// The SIM signs Hash, not the portal's digest, so the verification code the
// phone shows is derived from Hash, and the portal must display the code
// the gateway returns.
//
// # Signed attributes and the hash the SIM signs
//
// Prepare writes the four CAdES-B-B attributes, sorted as DER sorts a SET
// OF: content-type id-data; message-digest, the document digest;
// signing-time, UTCTime up to 2049 and GeneralizedTime from 2050 (RFC 5652
// §11.3); signing-certificate-v2 (RFC 5035) with one ESSCertIDv2: the
// SHA-256 of the signer's certificate, hashAlgorithm omitted as the
// default, and issuerSerial naming the issuer as a directoryName. Hash is
// the digest of the DER of that SET OF, tag 31 included (RFC 5652 §5.4).
//
// Hash uses the document's digest algorithm. RFC 5652 gives a SignerInfo
// one digestAlgorithm, for the message-digest attribute and for the signed
// attributes alike, and the gateway holds the portal's digest, not the
// document, so it cannot switch algorithm. SHA-256 is the normal choice
// for P-256 (equal strength, RFC 5480 §4) and keeps the SIGN command in
// one SMS. SHA-384 and SHA-512 digests are accepted: the applet takes the
// 48 or 64 octets and, as FIPS 186-5 and ecdsa-with-SHA384/512 verifiers
// (RFC 5758 §3.2) do, uses their leftmost 256 bits; the strength stays that
// of P-256, and the command takes two SMS segments. For ASiC-E the gateway
// hashes the manifest itself and always uses SHA-256.
//
// # Ed25519 and ML-DSA-44: raw value only
//
// In CMS, Ed25519 is used in PureEdDSA mode only (RFC 8419 §3; HashEdDSA
// is excluded), and ML-DSA in pure mode only (RFC 9882,
// draft-ietf-lamps-cms-ml-dsa, §3.1; HashML-DSA is not specified): with
// signed attributes the signature is over the DER signed attributes
// themselves as the message. The applet signs its 32–64 octet hash value
// as the message, and no DER signed attributes fit in 64 octets, so a
// verifier would check the signature against another message. RFC 9882 §5
// allows ML-DSA's message representative μ to be computed outside the
// signing device ("external μ"), which would fit a hash-sized input, but
// the applet computes μ itself from the value it is given; it would take a
// new applet operation. Prepare therefore refuses these keys with
// ErrFormatNotSupported (the gateway maps it to FORMAT_NOT_SUPPORTED), and
// Formats lists the raw value only for them.
//
// # Encoding and parsing
//
// DER is written and read with golang.org/x/crypto/cryptobyte. The
// ESSCertIDv2 and the attributes are assembled from its primitives, as no
// library of the module offers them. github.com/smallstep/pkcs7 was not
// used: it signs inside AddSigner with a crypto.Signer over content it is
// given, stamps its own time.Now() as signing time, and has no
// signing-certificate-v2, so it cannot hand out the attributes' hash and
// take the signature hours later.
//
// Verify reads DER only, at most MaxCMSSize octets, at most MaxChain+1
// certificates and 16 signed attributes, each structure once, and checks
// that the signed attributes are in DER order: openssl verifies them as
// received, but a verifier that re-encodes them would not, so the gateway
// must never hand out another order.
package ades
