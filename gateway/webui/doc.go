// Package webui is the demo portal page served by `imzagate demo` at "/":
// the test users listed by behaviour (a click fills the form), "Log in
// with Asan İmza", then the signature of a sample document with a
// certificate of the user's choice; results and refusals in words with
// what to do next, the user's name and the certificate's type rather than
// a distinguished name, a countdown to the session's expiry and "Start
// over". It is a plain HTML page with a small script that calls the API the
// way a portal's backend does, so it doubles as a worked example.
//
// # Protocol flow
//
//	GET  /                          the page (no key in it)
//	GET  /demo/api/users            test users by behaviour
//	POST /demo/api/authentications  ─┐ only for a simulated user's number:
//	POST /demo/api/signatures        ├ passed in process to the portal API's
//	GET  /demo/api/sessions/{id}    ─┘ /v1/… with the demo portal's key added
//
// The browser never holds an API key: the demo server adds it on the way,
// as a portal's own server does, and only for the demo's simulated users
// (anyone else's number is answered 403 DEMO_USERS_ONLY). Adding
// ?auto=1&pick=PHONE (or &phone=…&userId=…) runs the whole flow without
// clicks; &cert=type[:VÖEN] chooses the signing certificate and &restart=1
// presses "Start over" at the end. The page's tests use that in headless
// Chromium at desktop and phone widths.
package webui
