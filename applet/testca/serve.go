package testca

import (
	"bytes"
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Lifetimes of what a served hierarchy publishes. They are short so that a
// revocation shows within a minute or two however a relying party caches
// (an OCSP answer until its nextUpdate, a CRL until its next fetch).
const (
	servedOCSPValidity = time.Minute
	servedCRLValidity  = time.Hour
	maxOCSPRequestLen  = 4096
)

// Hierarchy is a root and an issuing CA under it, served over HTTP: the
// issuing CA's certificates name its OCSP responder and CRL on the
// hierarchy's listener, and its own certificate names the root's CRL. It
// is the certification authority of the demo and the simulated stack;
// tests that need a real `openssl ocsp` responder use package
// gateway/trust/trusttest instead.
type Hierarchy struct {
	// Root is the trust anchor; Issuing issues the subscribers'
	// certificates (pass it as simcard.Options.CA).
	Root, Issuing *CA
	url           string
	srv           *http.Server
	done          chan struct{}
}

// Serve listens on addr (a loopback address such as 127.0.0.1:0), builds
// the hierarchy with URLs on that listener and serves, until Close:
//
//	GET  /root.crl      the root's CRL (it covers the issuing CA)
//	GET  /issuing.crl   the issuing CA's CRL, made afresh on every request
//	POST /ocsp          OCSP (RFC 6960) for the issuing CA's certificates,
//	                    signed by the issuing CA itself
//
// opts name the root (and seed its key); the issuing CA is named after it.
func Serve(addr string, opts Options) (*Hierarchy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("testca: listen: %w", err)
	}
	base := "http://" + ln.Addr().String()
	ro := opts
	ro.OCSPServer, ro.CRLDistributionPoint = "", base+"/root.crl"
	root, err := New(ro)
	if err != nil {
		ln.Close()
		return nil, err
	}
	so := Options{Name: root.cert.Subject.CommonName + " Issuing CA", Now: opts.Now,
		OCSPServer: base + "/ocsp", CRLDistributionPoint: base + "/issuing.crl"}
	if opts.Seed != nil {
		so.Seed = append(append([]byte(nil), opts.Seed...), "/issuing"...)
	}
	issuing, err := root.NewSubordinate(so)
	if err != nil {
		ln.Close()
		return nil, err
	}
	h := &Hierarchy{Root: root, Issuing: issuing, url: base, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /root.crl", root.CRLHandler())
	mux.Handle("GET /issuing.crl", issuing.CRLHandler())
	mux.Handle("POST /ocsp", issuing.OCSPHandler())
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() {
		defer close(h.done)
		_ = h.srv.Serve(ln)
	}()
	return h, nil
}

// URL is the base URL of the hierarchy's server, http://host:port.
func (h *Hierarchy) URL() string { return h.url }

// Close stops the server.
func (h *Hierarchy) Close() error {
	err := h.srv.Close()
	<-h.done
	return err
}

// CRLHandler serves this CA's CRL, made on each request with every
// revocation so far, thisUpdate a minute ago and nextUpdate an hour on.
func (ca *CA) CRLHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := ca.now()
		der, err := ca.CRLValid(now.Add(-time.Minute), now.Add(servedCRLValidity))
		if err != nil {
			http.Error(w, "CRL: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(der)
	})
}

// OCSPHandler answers OCSP requests (RFC 6960, POST of a DER OCSPRequest)
// for the certificates this CA issued, signed by the CA itself: good,
// revoked (with time and reason) or unknown for a serial it never issued.
// A request naming another issuer is answered unauthorized, a malformed
// one malformedRequest. Answers are valid for a minute.
func (ca *CA) OCSPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxOCSPRequestLen+1))
		if err != nil || len(body) > maxOCSPRequestLen {
			writeOCSP(w, ocsp.MalformedRequestErrorResponse)
			return
		}
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			writeOCSP(w, ocsp.MalformedRequestErrorResponse)
			return
		}
		der, err := ca.answer(req)
		if errors.Is(err, errNotIssuer) {
			writeOCSP(w, ocsp.UnauthorizedErrorResponse)
			return
		}
		if err != nil {
			writeOCSP(w, ocsp.InternalErrorErrorResponse)
			return
		}
		writeOCSP(w, der)
	})
}

var errNotIssuer = errors.New("testca: OCSP request for another issuer")

// answer signs the response to req.
func (ca *CA) answer(req *ocsp.Request) ([]byte, error) {
	if !req.HashAlgorithm.Available() {
		return nil, errNotIssuer
	}
	if !ca.isIssuer(req.HashAlgorithm, req.IssuerNameHash, req.IssuerKeyHash) {
		return nil, errNotIssuer
	}
	now := ca.now().Truncate(time.Second)
	tmpl := ocsp.Response{SerialNumber: req.SerialNumber, ThisUpdate: now, NextUpdate: now.Add(servedOCSPValidity),
		IssuerHash: req.HashAlgorithm}
	switch rev, issued := ca.statusOf(req.SerialNumber); {
	case !issued:
		tmpl.Status = ocsp.Unknown
	case rev != nil:
		tmpl.Status, tmpl.RevokedAt, tmpl.RevocationReason = ocsp.Revoked, rev.at, rev.reason
	default:
		tmpl.Status = ocsp.Good
	}
	return ocsp.CreateResponse(ca.cert, ca.cert, tmpl, ca.key)
}

// isIssuer compares an OCSP CertID's issuer hashes with this CA's name and
// key (RFC 6960 §4.1.1).
func (ca *CA) isIssuer(h crypto.Hash, nameHash, keyHash []byte) bool {
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(ca.cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	nh := h.New()
	nh.Write(ca.cert.RawSubject)
	kh := h.New()
	kh.Write(spki.PublicKey.RightAlign())
	return bytes.Equal(nh.Sum(nil), nameHash) && bytes.Equal(kh.Sum(nil), keyHash)
}

// statusOf reports whether this CA issued serial and, if it is revoked, when
// and why.
func (ca *CA) statusOf(serial *big.Int) (*revocation, bool) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	_, issued := ca.issued[serial.String()]
	if r, ok := ca.revoked[serial.String()]; ok {
		return &r, true
	}
	return nil, issued
}

func writeOCSP(w http.ResponseWriter, der []byte) {
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(der)
}
