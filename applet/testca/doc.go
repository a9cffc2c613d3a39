// Package testca is a small certification centre for tests and the demo: it
// issues the X.509 certificates of simulated SIM cards with the profile of
// docs/applet-protocol.md §6, and can issue expired certificates and revoke them.
// It can also build a whole hierarchy for revocation tests: a root, an
// issuing CA under it, delegated OCSP responders, and the CA database that
// `openssl ocsp` and `openssl ca -gencrl` read.
//
// # Protocol flow
//
//	New(Options)                  self-signed ECDSA P-256 root
//	NewSubordinate(Options)       issuing CA under it (path length 0)
//	Issue(Request{Kind, Usage, Holder, PublicKey})
//	    → v3 certificate, 3 years, subject C=AZ CN givenName surname
//	      serialNumber=PNOAZ-<FIN> [O, organizationIdentifier=VATAZ-<VÖEN>
//	      [, OU=Dövlət və bələdiyyə]], with the issuing CA's OCSP URL
//	      (authority information access) and CRL distribution point
//	IssueResponder(name, ocspSigning)
//	    → delegated OCSP responder certificate and key
//	Revoke(serial) / RevokeWithReason / IsRevoked
//	CRL() / CRLValid(thisUpdate, nextUpdate)   DER CRL signed by the CA
//	OpenSSLIndex()                index.txt lines (V/R) for openssl
//	Serve(addr, Options)          root → issuing CA on a loopback HTTP
//	                              server: GET /root.crl, GET /issuing.crl
//	                              (made afresh per request), POST /ocsp
//	                              (answers signed by the issuing CA); the
//	                              issuing CA's certificates name these URLs
//
// Authentication certificates (key reference 01) carry key usage
// digitalSignature and extended key usage clientAuth; signing certificates
// carry nonRepudiation and digitalSignature and no extended key usage.
// Subject keys may be ECDSA P-256, Ed25519 or ML-DSA-44; the standard
// library cannot encode the last, so its subjectPublicKeyInfo (RFC 9881) is
// spliced into the to-be-signed certificate, which is then signed again.
package testca
