package trust

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// crlData is one verified CRL, indexed by serial number.
type crlData struct {
	revoked    map[string]entry // serial magnitude octets → entry
	number     *big.Int
	thisUpdate time.Time
	nextUpdate time.Time
}

func (d *crlData) fresh(at time.Time, skew time.Duration) bool {
	return d != nil && !d.thisUpdate.After(at.Add(skew)) && !at.After(d.nextUpdate)
}

// lookup is the O(1) serial look-up; it does not allocate for serials of
// up to 64 octets.
func (d *crlData) lookup(serial *big.Int) entry {
	var buf [64]byte
	return d.revoked[string(serialBytes(serial, &buf))]
}

// crlSource is the CRL of one issuer at one URL. cur is replaced whole by
// a successful refresh, so look-ups never take a lock.
type crlSource struct {
	issuer     *x509.Certificate
	url        string
	label      string
	configured bool // url is an operator's override for every certificate of issuer

	cur atomic.Pointer[crlData]

	fetchMu     sync.Mutex // one fetch at a time
	lastAttempt time.Time  // guarded by fetchMu
}

// crlStore holds the CRLs of the issuers seen, at most MaxSources.
type crlStore struct {
	opts   CRLOptions
	skew   time.Duration
	client *http.Client
	m      *metrics
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	sources map[string]*crlSource // by the issuer's DER
	order   []*crlSource
	full    bool // logged once
}

func (s *crlStore) list() []*crlSource {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*crlSource(nil), s.order...)
}

// source returns the CRL source for cert under issuer, creating it from
// the configured URL or cert's first http(s) distribution point. It
// returns nil when no CRL is named, or the store is full. One CRL is held
// per issuer: a certificate whose distribution points do not include the
// URL held for its issuer gets none, since that CRL may be a partition
// that does not cover it.
func (s *crlStore) source(cert, issuer *x509.Certificate) *crlSource {
	s.mu.Lock()
	defer s.mu.Unlock()
	if src := s.sources[string(issuer.Raw)]; src != nil {
		if !src.configured && (cert == nil || !slices.Contains(cert.CRLDistributionPoints, src.url)) {
			return nil
		}
		return src
	}
	url := s.opts.URLs[issuer.Subject.CommonName]
	configured := url != ""
	if !configured && cert != nil {
		url = firstHTTP(cert.CRLDistributionPoints)
	}
	if url == "" {
		return nil
	}
	if len(s.order) >= s.opts.MaxSources {
		if !s.full {
			s.full = true
			s.log.Error("CRL sources full: certificates of further issuers get no CRL status", "max", s.opts.MaxSources, "issuer", name(issuer))
		}
		return nil
	}
	label := name(issuer)
	if len(label) > maxIssuerLabelLen {
		label = label[:maxIssuerLabelLen]
	}
	src := &crlSource{issuer: issuer, url: url, label: label, configured: configured}
	s.sources[string(issuer.Raw)] = src
	s.order = append(s.order, src)
	return src
}

// lookup answers for cert under issuer: its entry, whether the CRL held is
// fresh at at, and whether a CRL is named for it at all. A missing or
// stale CRL is fetched now, at most once per syncFetchRetryInterval, so
// status does not depend on Run having started.
func (s *crlStore) lookup(ctx context.Context, cert, issuer *x509.Certificate, at time.Time) (e entry, fresh, named bool) {
	if s == nil {
		return entry{}, false, false
	}
	src := s.source(cert, issuer)
	if src == nil {
		return entry{}, false, false
	}
	d := src.cur.Load()
	if !d.fresh(at, s.skew) {
		_ = s.refresh(ctx, src, false)
		d = src.cur.Load()
		if !d.fresh(at, s.skew) {
			return entry{}, false, true
		}
	}
	return d.lookup(cert.SerialNumber), true, true
}

// refresh fetches and installs the source's CRL. Unless forced it gives up
// when another fetch ran within syncFetchRetryInterval. A CRL that fails
// any check is refused and the one held is kept.
func (s *crlStore) refresh(ctx context.Context, src *crlSource, force bool) error {
	src.fetchMu.Lock()
	defer src.fetchMu.Unlock()
	now := s.now()
	if !force && now.Sub(src.lastAttempt) < syncFetchRetryInterval {
		return nil
	}
	src.lastAttempt = now
	der, err := s.fetch(ctx, src.url)
	if err != nil && !errors.Is(err, errCRL) {
		s.m.crlFetches.WithLabelValues(src.label, "error").Inc()
		s.log.Warn("CRL fetch failed", "issuer", src.label, "url", src.url, "err", err)
		return err
	}
	var d *crlData
	if err == nil {
		d, err = s.verify(der, src, now)
	}
	if err != nil {
		s.m.crlFetches.WithLabelValues(src.label, "rejected").Inc()
		s.log.Error("CRL refused, keeping the previous one", "issuer", src.label, "url", src.url, "err", err)
		return err
	}
	src.cur.Store(d)
	s.m.crlFetches.WithLabelValues(src.label, "ok").Inc()
	return nil
}

func (s *crlStore) fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > s.opts.MaxBytes {
		return nil, fmt.Errorf("%w: %d octets, larger than trust.crl.maxBytes %d", errCRL, resp.ContentLength, s.opts.MaxBytes)
	}
	der, err := io.ReadAll(io.LimitReader(resp.Body, s.opts.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(der)) > s.opts.MaxBytes {
		return nil, fmt.Errorf("%w: larger than trust.crl.maxBytes %d", errCRL, s.opts.MaxBytes)
	}
	return der, nil
}

// errCRL marks a CRL refused on its content (the fetch worked).
var errCRL = errors.New("CRL refused")

// verify checks a fetched CRL: it parses (the standard library's parser),
// is signed by the issuer and names it, is complete (no critical
// extension such as a delta indicator or a scoped distribution point),
// has a nextUpdate that has not passed and a thisUpdate not in the future,
// has at most MaxEntries entries, and is not older than the one held.
func (s *crlStore) verify(der []byte, src *crlSource, now time.Time) (*crlData, error) {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parse: %w", errCRL, err)
	}
	if err := crl.CheckSignatureFrom(src.issuer); err != nil {
		return nil, fmt.Errorf("%w: signature does not verify against %q: %w", errCRL, src.label, err)
	}
	if !bytes.Equal(crl.RawIssuer, src.issuer.RawSubject) {
		return nil, fmt.Errorf("%w: issued by %q, not %q", errCRL, crl.Issuer.String(), src.label)
	}
	for _, e := range crl.Extensions {
		if e.Critical {
			return nil, fmt.Errorf("%w: critical extension %v (only complete CRLs are used)", errCRL, e.Id)
		}
	}
	switch n := len(crl.RevokedCertificateEntries); {
	case crl.NextUpdate.IsZero():
		return nil, fmt.Errorf("%w: no nextUpdate", errCRL)
	case crl.ThisUpdate.After(now.Add(s.skew)):
		return nil, fmt.Errorf("%w: thisUpdate %s is in the future", errCRL, crl.ThisUpdate.UTC().Format(time.RFC3339))
	case now.After(crl.NextUpdate):
		return nil, fmt.Errorf("%w: stale, nextUpdate %s has passed", errCRL, crl.NextUpdate.UTC().Format(time.RFC3339))
	case n > s.opts.MaxEntries:
		return nil, fmt.Errorf("%w: %d entries, more than trust.crl.maxEntries %d", errCRL, n, s.opts.MaxEntries)
	}
	if old := src.cur.Load(); old != nil && old.number != nil && crl.Number != nil && crl.Number.Cmp(old.number) < 0 {
		return nil, fmt.Errorf("%w: CRL number %v older than the %v held", errCRL, crl.Number, old.number)
	}
	d := &crlData{revoked: make(map[string]entry, len(crl.RevokedCertificateEntries)),
		number: crl.Number, thisUpdate: crl.ThisUpdate, nextUpdate: crl.NextUpdate}
	var buf [64]byte
	for _, e := range crl.RevokedCertificateEntries {
		d.revoked[string(serialBytes(e.SerialNumber, &buf))] = entry{revoked: true, revokedAt: e.RevocationTime, reason: e.ReasonCode}
	}
	return d, nil
}

// run refreshes every source each RefreshInterval, and the configured ones
// at once.
func (s *crlStore) run(ctx context.Context) {
	t := time.NewTicker(s.opts.RefreshInterval)
	defer t.Stop()
	for {
		for _, src := range s.list() {
			if ctx.Err() != nil {
				return
			}
			_ = s.refresh(ctx, src, true)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
