// Package trusttest is a certification authority as a relying party sees
// it, for tests of package trust and of the gateway that uses it: a root,
// an issuing CA whose certificates name an OCSP responder and a CRL on a
// loopback HTTP server, an unrelated second hierarchy, and a real
// `openssl ocsp` responder process behind that server.
//
// # Protocol flow
//
//	New(t)                      root "ASXM Test Root" → issuing CA (OCSP
//	                            POST /ocsp, CRL GET /issuing.crl on the
//	                            world's server; the root's CRL at
//	                            /root.crl), and "Unrelated Root" → its
//	                            issuing CA naming the same URLs
//	Leaf(kind, usage)           a certificate of the issuing CA
//	PublishCRL(this, next)      the issuing CA's current revocations, served
//	                            from then on (404 until the first)
//	StartResponder(signer, key, nmin)
//	                            `openssl ocsp` over the issuing CA's
//	                            database (OpenSSLIndex), signing with
//	                            signer; POST /ocsp is proxied to it
//	WriteIndex()                the database again after a revocation: the
//	                            responder reloads it before its next answer
//	StopResponder()             the responder is down: POST /ocsp answers 502
//
// Everything is cleaned up when the test ends. Files (PEM, keys, the
// database) live in the test's temporary directory.
package trusttest
