package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/imzagate/imzagate/gateway/audit"
	"github.com/imzagate/imzagate/sessions"
)

// AuditOptions configure the gateway's audit trail (docs/audit.md). The
// trail is on when SigningKey and PhoneKey are set.
type AuditOptions struct {
	// SigningKey signs checkpoints and exports (from the secrets).
	SigningKey ed25519.PrivateKey
	// PhoneKey keys the phone HMACs of the records (from the secrets).
	PhoneKey []byte
	// Instance names this writer's chains (default: the host name).
	Instance string
	// Retention is how long Redis keeps a day's chains (default 31 days).
	Retention time.Duration
	// SyncReplicas: replicas that must acknowledge an admin record before
	// the call is answered (0: one when a replica is connected).
	SyncReplicas int
}

// enabled reports whether the trail is configured.
func (o AuditOptions) enabled() bool { return len(o.SigningKey) > 0 || len(o.PhoneKey) > 0 }

// buildTrail makes the audit trail on the gateway's Redis (nil when not
// configured).
func (g *Gateway) buildTrail() (*audit.Trail, error) {
	o := g.opts.Audit
	if !o.enabled() {
		return nil, nil
	}
	log, err := sessions.NewAuditLog(g.opts.Redis, sessions.AuditLogOptions{})
	if err != nil {
		return nil, fmt.Errorf("gateway: audit log: %w", err)
	}
	t, err := audit.New(audit.Options{
		Store: log, SigningKey: o.SigningKey, PhoneKey: o.PhoneKey, Instance: o.Instance,
		Retention: o.Retention, SyncReplicas: o.SyncReplicas,
		Logger: g.opts.Logger.With("component", "audit"), Registerer: g.opts.Registry,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: audit trail: %w", err)
	}
	return t, nil
}

// trailOrNil is the trail as an AdminTrail (a nil interface without one).
func (g *Gateway) trailOrNil() AdminTrail {
	if g.trail == nil {
		return nil
	}
	return g.trail
}

// runTrail runs the trail's writer until ctx ends (after everything that
// writes records has stopped), first recording the configuration the
// gateway started with.
func (g *Gateway) runTrail(ctx context.Context) error {
	if g.trail == nil {
		return nil
	}
	details := map[string]string{"event": "config.load", "admin_api": fmt.Sprint(g.adminAPI != nil)}
	_ = g.trail.Append(ctx, audit.Record{
		Kind: audit.KindConfigReload, Actor: audit.Actor{ID: "gateway", Role: "system"},
		Subject: audit.Subject{Ref: "sha256:" + g.opts.ConfigDigest}, Outcome: "loaded", Details: details,
	})
	return g.trail.Run(ctx)
}

// listenAdminAPI opens the admin API's own listener.
func (g *Gateway) listenAdminAPI(ctx context.Context, lc net.ListenConfig) error {
	if g.adminAPI == nil {
		return nil
	}
	ln, err := lc.Listen(ctx, "tcp", g.opts.AdminAPI.Addr)
	if err != nil {
		return fmt.Errorf("gateway: admin API listener: %w", err)
	}
	if g.opts.AdminAPI.TLS != nil {
		ln = tls.NewListener(ln, g.opts.AdminAPI.TLS)
	}
	g.adminAPILn = ln
	g.adminSrv = &http.Server{
		Handler: g.adminAPI.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 10 * time.Minute, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 16 << 10,
		ErrorLog: slog.NewLogLogger(g.opts.Logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// stopAdminAPI closes the admin API after the portal API stopped: calls
// in flight get a short grace.
func (g *Gateway) stopAdminAPI() {
	if g.adminSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.adminSrv.Shutdown(ctx); err != nil {
		_ = g.adminSrv.Close()
	}
}

// AdminAPIAddr is the admin API's listening address ("" when off).
func (g *Gateway) AdminAPIAddr() string {
	if g.adminAPILn == nil {
		return ""
	}
	return g.adminAPILn.Addr().String()
}

// Trail is the gateway's audit trail (nil when not configured).
func (g *Gateway) Trail() *audit.Trail { return g.trail }

// pepperRetry is how often the start-up pepper check retries while Redis
// does not answer.
const pepperRetry = time.Second

// checkPepper compares the pepper with the registry's canary once Redis
// answers: a wrong pepper would make every User ID look wrong, so it
// stops the gateway. A registry without a canary passes.
func (g *Gateway) checkPepper(ctx context.Context) error {
	for {
		_, err := g.store.CheckPepper(ctx, false)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, sessions.ErrWrongPepper):
			g.log.Error("wrong pepper: refusing to serve", "err", err.Error())
			return fmt.Errorf("gateway: %w", err)
		}
		t := time.NewTimer(pepperRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
