// Package testca is a small certification centre for tests and the demo: it
// issues the X.509 certificates of simulated SIM cards with the profile of
// applet-protocol §6, and can issue expired certificates and revoke them.
//
// # Protocol flow
//
//	New(Options)                  self-signed ECDSA P-256 root
//	Issue(Request{Kind, Usage, Holder, PublicKey})
//	    → v3 certificate, 3 years, subject C=AZ CN givenName surname
//	      serialNumber=PNOAZ-<FIN> [O, organizationIdentifier=VATAZ-<VÖEN>
//	      [, OU=Dövlət və bələdiyyə]]
//	Revoke(serial) / IsRevoked / CRL()
//
// Authentication certificates (key reference 01) carry key usage
// digitalSignature and extended key usage clientAuth; signing certificates
// carry nonRepudiation and digitalSignature and no extended key usage.
// Subject keys may be ECDSA P-256, Ed25519 or ML-DSA-44; the standard
// library cannot encode the last, so its subjectPublicKeyInfo (RFC 9881) is
// spliced into the to-be-signed certificate, which is then signed again.
package testca
