package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Admin roles (docs/admin.md §1). A principal may hold several.
const (
	// RoleCA is the certification authority: registers subscribers and
	// manages certificates and their status.
	RoleCA = "ca"
	// RoleSupport is the mobile operator's support desk: look-ups,
	// lockout and User ID resets, SIM swaps, number changes, suspend,
	// resume, close, session look-up and cancel.
	RoleSupport = "support"
	// RoleAuditor reads and verifies the audit trail and exports usage.
	RoleAuditor = "auditor"
	// RoleSRE has read-only views: a redacted profile, certificates and
	// sessions.
	RoleSRE = "sre"
)

var adminRoles = []string{RoleCA, RoleSupport, RoleAuditor, RoleSRE}

// AdminPrincipal is one person or system allowed on the admin API. It
// authenticates with a bearer token (only its SHA-256 is configured) or a
// client certificate (its SHA-256 fingerprint) over mutual TLS; when both
// are configured, both are required.
type AdminPrincipal struct {
	// ID names the principal in the audit trail and logs.
	ID string `yaml:"id"`
	// Roles are the roles it holds: ca, support, auditor, sre.
	Roles []string `yaml:"roles"`
	// TokenSHA256 is the hex SHA-256 of its bearer token.
	TokenSHA256 string `yaml:"tokenSHA256"`
	// ClientCertSHA256 is the hex SHA-256 fingerprint of its client
	// certificate (colons allowed).
	ClientCertSHA256 string `yaml:"clientCertSHA256"`

	tokenHash []byte
	certHash  []byte
}

// init checks the principal and decodes its hashes.
func (p *AdminPrincipal) init() error {
	if !plainID(p.ID) || len(p.ID) > 64 {
		return fmt.Errorf("admin principal id %q: 1–64 of [A-Za-z0-9._-]", p.ID)
	}
	if len(p.Roles) == 0 {
		return fmt.Errorf("admin principal %s: no roles (want some of %s)", p.ID, strings.Join(adminRoles, ", "))
	}
	for _, r := range p.Roles {
		if !slices.Contains(adminRoles, r) {
			return fmt.Errorf("admin principal %s: unknown role %q (want %s)", p.ID, r, strings.Join(adminRoles, ", "))
		}
	}
	if p.TokenSHA256 == "" && p.ClientCertSHA256 == "" {
		return fmt.Errorf("admin principal %s: set tokenSHA256 or clientCertSHA256", p.ID)
	}
	if p.TokenSHA256 != "" {
		h, err := hex.DecodeString(p.TokenSHA256)
		if err != nil || len(h) != 32 {
			return fmt.Errorf("admin principal %s: tokenSHA256 must be 64 hex digits", p.ID)
		}
		p.tokenHash = h
	}
	if p.ClientCertSHA256 != "" {
		h, err := hex.DecodeString(strings.ReplaceAll(p.ClientCertSHA256, ":", ""))
		if err != nil || len(h) != 32 {
			return fmt.Errorf("admin principal %s: clientCertSHA256 must be 64 hex digits", p.ID)
		}
		p.certHash = h
	}
	return nil
}

// may reports the first of the principal's roles allowed, or "".
func (p *AdminPrincipal) may(allowed []string) string {
	for _, r := range p.Roles {
		if slices.Contains(allowed, r) {
			return r
		}
	}
	return ""
}

// adminPrincipals authenticates admin requests. Every configured hash is
// compared in constant time, whichever matches.
type adminPrincipals struct{ list []*AdminPrincipal }

func newAdminPrincipals(ps []AdminPrincipal) (*adminPrincipals, error) {
	if len(ps) == 0 {
		return nil, errors.New("gateway: the admin API needs at least one principal")
	}
	out := &adminPrincipals{}
	seen := map[string]bool{}
	for i := range ps {
		p := ps[i]
		if err := p.init(); err != nil {
			return nil, fmt.Errorf("gateway: %w", err)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("gateway: admin principal %s listed twice", p.ID)
		}
		seen[p.ID] = true
		out.list = append(out.list, &p)
	}
	return out, nil
}

var errAdminUnauthorized = &Error{Code: CodeUnauthorized, Detail: "send an admin bearer token (Authorization: Bearer …) or a registered client certificate"}

// authenticate finds the request's principal: by its client certificate's
// fingerprint, by its bearer token's hash, or both when the principal has
// both configured.
func (a *adminPrincipals) authenticate(r *http.Request) (*AdminPrincipal, error) {
	var tokenHash, certHash []byte
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && tok != "" && len(tok) <= 512 {
		h := sha256.Sum256([]byte(tok))
		tokenHash = h[:]
	}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		h := sha256.Sum256(r.TLS.PeerCertificates[0].Raw)
		certHash = h[:]
	}
	var found *AdminPrincipal
	for _, p := range a.list {
		tokOK := p.tokenHash != nil && tokenHash != nil && subtle.ConstantTimeCompare(p.tokenHash, tokenHash) == 1
		certOK := p.certHash != nil && certHash != nil && subtle.ConstantTimeCompare(p.certHash, certHash) == 1
		ok := (p.tokenHash == nil || tokOK) && (p.certHash == nil || certOK)
		if ok && found == nil {
			found = p
		}
	}
	if found == nil {
		return nil, errAdminUnauthorized
	}
	return found, nil
}
