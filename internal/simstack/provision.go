package simstack

import (
	"context"
	"crypto/x509"
	"fmt"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/sessions"
)

// Entry turns a simulated card into the registry entry of a subscriber of
// operator: its number, ICCID, key version 1 and every certificate, each
// certificate's validity taken from its DER.
func Entry(r simcard.Record, operator string) (sessions.Subscriber, error) {
	sub := sessions.Subscriber{Phone: "+" + r.MSISDN, ICCID: r.ICCID, KeyVersion: 1, Operator: operator}
	for _, c := range r.Certificates {
		x, err := x509.ParseCertificate(c.DER)
		if err != nil {
			return sub, fmt.Errorf("simstack: card certificate: %w", err)
		}
		status := sessions.StatusActive
		if c.Revoked {
			status = sessions.StatusRevoked
		}
		typ := sessions.CertPersonal
		switch c.Kind {
		case testca.Business:
			typ = sessions.CertBusiness
		case testca.Government:
			typ = sessions.CertGovernment
		}
		sub.Certificates = append(sub.Certificates, sessions.Certificate{Type: typ, TaxID: c.VOEN, KeyRef: c.KeyRef,
			DER: c.DER, NotBefore: x.NotBefore, NotAfter: x.NotAfter, Status: status})
	}
	return sub, nil
}

// provision writes every SIM of the farm to the registry, in parallel,
// and lists them in farm order.
func (s *Stack) provision(ctx context.Context) ([]Subscriber, error) {
	subs := make([]Subscriber, s.farm.Len())
	var next atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for range min(s.opts.ProvisionWorkers, len(subs)) {
		g.Go(func() error {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(subs) {
					return nil
				}
				rec, err := s.farm.Record(i)
				if err != nil {
					return err
				}
				entry, err := Entry(rec, s.opts.Operator)
				if err != nil {
					return err
				}
				if err := s.store.PutSubscriber(ctx, entry, rec.UserID); err != nil {
					return fmt.Errorf("simstack: provisioning SIM %d: %w", i, err)
				}
				subs[i] = Subscriber{Phone: entry.Phone, UserID: rec.UserID, Behaviour: rec.Behaviour}
			}
		})
	}
	return subs, g.Wait()
}
