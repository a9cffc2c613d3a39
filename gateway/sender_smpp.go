package gateway

import (
	"context"
	"errors"
	"log/slog"

	"github.com/imzagate/imzagate/smpp"
)

// SMPPSender binds the Sender interface to an smpp.Pool.
type SMPPSender struct{ pool *smpp.Pool }

var _ Sender = (*SMPPSender)(nil)

// NewSMPPSender wraps a pool.
func NewSMPPSender(p *smpp.Pool) *SMPPSender { return &SMPPSender{pool: p} }

// Submit implements Sender, translating the pool's errors.
func (s *SMPPSender) Submit(ctx context.Context, msisdn string, segs [][]byte) ([]string, error) {
	ids, err := s.pool.Submit(ctx, msisdn, segs)
	switch {
	case err == nil:
		return ids, nil
	case errors.Is(err, smpp.ErrNoRoute):
		return nil, errors.Join(ErrNoRoute, err)
	case errors.Is(err, smpp.ErrOperatorUnavailable):
		return nil, errors.Join(ErrOperatorUnavailable, err)
	case errors.Is(err, smpp.ErrOutcomeUnknown):
		return ids, errors.Join(ErrOutcomeUnknown, err)
	}
	return ids, err
}

// SMPPHandler feeds the pool's inbound traffic to a Server's correlator.
// Set Server before the pool starts.
type SMPPHandler struct {
	Server *Server
}

var _ smpp.Handler = (*SMPPHandler)(nil)

// okDCS are the data codings an OTA MO may arrive with (applet-protocol §1:
// SMSCs may rewrite F6 as 04 or 16).
func okDCS(dcs byte) bool { return dcs == 0x04 || dcs == 0xF6 || dcs == 0x16 }

// HandleMO implements smpp.Handler.
func (h *SMPPHandler) HandleMO(ctx context.Context, mo smpp.MO) error {
	if !okDCS(mo.DataCoding) || len(mo.UserData) < 3 {
		// A text SMS to our service number, or something else we cannot
		// use: acknowledge it so it is not redelivered forever.
		h.Server.metrics.moReceived.WithLabelValues("invalid").Inc()
		h.Server.log.LogAttrs(ctx, slog.LevelInfo, "MO ignored", slog.Int("data_coding", int(mo.DataCoding)))
		return nil
	}
	return permanent(h.Server.HandleMO(ctx, mo.Source, mo.UserData))
}

// HandleReceipt implements smpp.Handler.
func (h *SMPPHandler) HandleReceipt(ctx context.Context, r smpp.Receipt) error {
	return permanent(h.Server.HandleReceipt(ctx, Receipt{Source: r.Source, MessageID: r.MessageID, Stat: r.Stat}))
}

// permanent carries the gateway's ErrPermanent over to the pool's.
func permanent(err error) error {
	if err != nil && errors.Is(err, ErrPermanent) {
		return errors.Join(smpp.ErrPermanent, err)
	}
	return err
}
