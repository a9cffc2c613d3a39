// Package webui is the demo portal page served by `imzagate demo` at "/":
// "Log in with Asan İmza", then sign a sample document with a chosen
// certificate. It is a plain HTML page with a small script that calls the
// portal API exactly as a portal's backend would, so it doubles as a worked
// example of the API.
//
// # Protocol flow
//
//	page: phone + User ID ── POST /v1/authentications {hash of a fresh challenge}
//	      shows the verification code ── GET /v1/sessions/{id}?timeoutMs=… until COMPLETE
//	      shows the result and the user's certificates; the user picks one
//	      ── POST /v1/signatures {SHA-256 of the sample document, certificate{type, taxId}}
//	      shows the code ── long-poll ── shows the signature and the certificate
//
// The page carries the demo portal's API key (demo mode only: a real
// portal keeps its key on its server). Adding ?phone=…&userId=…&auto=1
// runs the whole flow without clicks, choosing the first signing
// certificate (or the one given by &cert=type[:VÖEN]); tests use that.
package webui
