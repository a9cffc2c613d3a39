// Package trust decides whether a subscriber's certificate may be used:
// it chains to the certification authority the gateway trusts, is valid
// at the time of the request, allows the operation, belongs to the slot,
// and has not been revoked by the CA, which it learns from the CA itself
// through OCSP (RFC 6960) and CRLs (RFC 5280 §5).
//
// # Protocol flow
//
//	New(Options)              load roots and intermediates (PEM files or
//	                          directories); refuse a missing file, a file
//	                          without a certificate, a root that is not a CA
//	                          or not valid now, an intermediate that does not
//	                          chain to a root
//	go Run(ctx)               fetch the configured CRLs, then refresh every
//	                          known CRL each RefreshInterval
//
//	session start             Check(ctx, Request{Chain, Operation, Slot, Policy, At})
//	  Validate(chain, op, slot, at)
//	      validity at at                           → CERTIFICATE_EXPIRED
//	      key usage for op                         → CERTIFICATE_KEY_USAGE
//	      organizationIdentifier against the slot  → CERTIFICATE_SUBJECT_MISMATCH
//	      path to a root (x509.Verify, remembered) → CERTIFICATE_UNTRUSTED / _EXPIRED
//	  Status(ctx, path, at)
//	      intermediates: their issuer's CRL when one is named
//	      leaf: fresh CRL lists it                 → revoked (crl)
//	            OCSP: held in process (0 round trips)
//	                  shared cache (1 Redis round trip), verified again
//	                  responder (AIA or configured URL), verified,
//	                  held and cached until nextUpdate
//	                                               → good / revoked (ocsp)
//	            fresh CRL without it               → good (crl)
//	            none                               → unknown
//	  revoked                                      → CERTIFICATE_REVOKED
//	  unknown and hard-fail                        → CERTIFICATE_STATUS_UNKNOWN
//	  → Status{status, statusSource, revokedAt, revocationReason, checkedAt, chain}
//
//	reply time                Check again with At = the reply's time: the path
//	                          comes from memory, the status is asked again
//
// # Operations and slots
//
// AUTHENTICATE needs key usage digitalSignature and, when the certificate
// lists extended key usages, clientAuth; SIGN needs nonRepudiation
// (contentCommitment). A key usage extension must be present. A business
// or government slot needs organizationIdentifier (2.5.4.97) =
// "VATAZ-" + 10 digits, equal to the expected VÖEN when one is given; a
// government slot also needs OU "Dövlət və bələdiyyə"; a personal slot
// refuses a certificate that names an organisation. A mismatch has its own
// code, CERTIFICATE_SUBJECT_MISMATCH, rather than CERTIFICATE_KEY_USAGE: the
// key may well be fit for the operation, and the portal should tell the
// user to pick the company's certificate, not that the certificate is
// unusable.
//
// # Policy: hard-fail for SIGN, soft-fail for AUTHENTICATE
//
// When neither OCSP nor a fresh CRL gives a status, a hard-fail check is
// refused (CERTIFICATE_STATUS_UNKNOWN) and a soft-fail check goes on with
// status unknown. A signature is evidence that outlives the session: a
// bank or court relying on it must be able to show the certificate was not
// revoked when it was made, and a signature made with a stolen key during
// a responder outage cannot be taken back. A login is short-lived, is
// re-checked at reply time, and refusing every login while the CA's
// responder is down would turn the CA's outage into the gateway's; the
// portal sees status unknown and may refuse on its own. Each portal may
// choose otherwise.
//
// # How fast a revocation is seen
//
// A CRL is fetched again every RefreshInterval and replaced when its
// signature, issuer, freshness, size and number check out; otherwise the
// one held is kept. An OCSP answer is held in process for at most MaxHold
// (default 30s) and in the shared cache until its nextUpdate (at most
// MaxCacheTTL). The trade-off: a shorter MaxHold shows a revocation sooner
// but costs a Redis round trip (and a signature verification) per check
// more often; the shared cache itself only ever holds what the responder
// said until the responder's own nextUpdate, which is the CA's promise of
// how long its answer stands. A fresh CRL that lists the certificate wins
// over a cached OCSP "good", so whichever source learns first refuses.
//
// # Decisions where ETSI EN 319 102-1 is silent or leaves a choice
//
//   - The validation time is the time passed in, not the signing time
//     claimed by anyone; revocation information counts when fresh at that
//     time. A revocation reported with a revocation time after that time
//     still refuses: the gateway validates at "now", and a key revoked
//     since is not to be used.
//   - certificateHold counts as revoked while listed.
//   - Only complete CRLs are used: a CRL with a critical extension (delta
//     indicator, scoped distribution point) is refused. One CRL is held
//     per issuer, from the URL configured for it or else the first http(s)
//     distribution point seen; a certificate naming another URL gets no
//     CRL status, since that CRL may be a partition that does not cover it. A CRL without
//     nextUpdate is refused. A CRL with a lower CRL number than the one
//     held is refused (rollback).
//   - An OCSP response without nextUpdate counts for MaxHold after its
//     thisUpdate (RFC 6960 §4.2.2.1: newer information is always
//     available). A response signed by any key other than the issuing CA's
//     or its delegated responder's (issued by that CA, with
//     id-kp-OCSPSigning, valid at the time) gives no status at all, never
//     good or revoked. The responder certificate's own revocation is not
//     checked (responders carry id-pkix-ocsp-nocheck and short lifetimes).
//   - Responses in the shared cache are verified again on every read, so
//     write access to Redis does not let anyone make a certificate good.
//   - Intermediates are checked against their issuer's CRL when their
//     certificate names one (or one is configured); a configured
//     intermediate that names none is trusted as configured, and removing
//     it from the configuration is how it is withdrawn.
//   - The registry's "revoked" (Request.ProvisionedRevoked) refuses in any
//     mode; its "active" never makes a certificate good except in
//     ModeProvisionedOnly.
//
// # Metrics
//
//	imzagate_trust_ocsp_request_duration_seconds            histogram
//	imzagate_trust_ocsp_responses_total{outcome}            good revoked unknown error bad_signature stale
//	imzagate_trust_ocsp_cache_lookups_total{layer,result}   process|redis × hit miss invalid error
//	imzagate_trust_crl_fetches_total{issuer,result}         ok error rejected
//	imzagate_trust_crl_age_seconds{issuer}                  now − thisUpdate, at scrape time
//	imzagate_trust_crl_next_update_timestamp_seconds{issuer}
//	imzagate_trust_status_results_total{source,status}      ocsp crl provisioned none × good revoked unknown
package trust
