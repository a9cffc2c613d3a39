package gateway

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// AdminAPIConfig is the admin API's part of the configuration.
type AdminAPIConfig struct {
	Addr string `yaml:"addr"` // e.g. 127.0.0.1:9443; empty or "off": no admin API
	// CertFile and KeyFile serve it over TLS; ClientCAFile turns on client
	// certificates (verified against it; principals may then be named by
	// their certificate's fingerprint).
	CertFile     string           `yaml:"certFile"`
	KeyFile      string           `yaml:"keyFile"`
	ClientCAFile string           `yaml:"clientCAFile"`
	Principals   []AdminPrincipal `yaml:"principals"`
}

// AuditConfig is the audit trail's part of the configuration. The keys are
// secrets: the configuration names the files or environment variables
// that hold them.
type AuditConfig struct {
	// SigningKeyFile / SigningKeyEnv: the Ed25519 private key, as a PEM
	// "PRIVATE KEY" (PKCS #8, what openssl genpkey -algorithm ed25519
	// writes) or 64 hex digits of its seed (the file wins).
	SigningKeyFile string `yaml:"signingKeyFile"`
	SigningKeyEnv  string `yaml:"signingKeyEnv"`
	// PhoneKeyFile / PhoneKeyEnv: the key of the records' phone HMACs
	// (at least 16 octets; hex or raw).
	PhoneKeyFile string        `yaml:"phoneKeyFile"`
	PhoneKeyEnv  string        `yaml:"phoneKeyEnv"`
	Instance     string        `yaml:"instance"`     // default: the host name
	Retention    time.Duration `yaml:"retention"`    // default 744h (31 days)
	SyncReplicas int           `yaml:"syncReplicas"` // admin records: replicas to wait for
}

// adminOptions fills the metrics listener, the audit trail and the admin
// API of o.
func (c *Config) adminOptions(o *Options, env Env) error {
	switch {
	case c.Admin.Addr != "" && c.Metrics.Addr != "":
		return errors.New("config: admin.addr is the old name of metrics.addr: keep only metrics.addr")
	case c.Admin.Addr != "":
		o.AdminAddr = c.Admin.Addr
		if o.Logger != nil {
			o.Logger.Warn("config: admin.addr is deprecated; it is the metrics listener, now metrics.addr (the admin API is admin.api.addr)")
		}
	}
	o.UsageRetention = c.Usage.Retention
	o.ConfigDigest = hex.EncodeToString(c.digest[:])
	if err := c.auditOptions(o, env); err != nil {
		return err
	}
	a := c.Admin.API
	if a.Addr == "" || a.Addr == "off" {
		return nil
	}
	if !o.Audit.enabled() {
		return errors.New("config: admin.api needs the audit trail: set audit.signingKeyFile (or signingKeyEnv) and audit.phoneKeyFile (or phoneKeyEnv)")
	}
	if a.Addr == c.HTTP.Addr || (a.Addr == o.AdminAddr && o.AdminAddr != "") {
		return errors.New("config: admin.api.addr must be a listener of its own, not the portal or metrics one")
	}
	o.AdminAPI = AdminAPIOptions{Addr: a.Addr, Principals: a.Principals}
	if a.CertFile == "" {
		if a.ClientCAFile != "" {
			return errors.New("config: admin.api.clientCAFile needs certFile and keyFile")
		}
		return nil
	}
	cert, err := tls.LoadX509KeyPair(a.CertFile, a.KeyFile)
	if err != nil {
		return fmt.Errorf("config: admin.api TLS: %w", err)
	}
	t := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if a.ClientCAFile != "" {
		pemData, err := os.ReadFile(a.ClientCAFile)
		if err != nil {
			return fmt.Errorf("config: admin.api.clientCAFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return errors.New("config: admin.api.clientCAFile: no certificates")
		}
		// A token alone still authenticates principals without a
		// certificate, so a certificate is verified when sent, not required.
		t.ClientCAs, t.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	o.AdminAPI.TLS = t
	return nil
}

// auditOptions reads the audit keys, when configured.
func (c *Config) auditOptions(o *Options, env Env) error {
	a := c.Audit
	if a.SigningKeyFile == "" && a.SigningKeyEnv == "" && a.PhoneKeyFile == "" && a.PhoneKeyEnv == "" {
		return nil
	}
	if (a.SigningKeyFile == "" && a.SigningKeyEnv == "") || (a.PhoneKeyFile == "" && a.PhoneKeyEnv == "") {
		return errors.New("config: audit needs both the signing key and the phone key")
	}
	raw, err := env.resolve("audit signing key", a.SigningKeyEnv, a.SigningKeyFile)
	if err != nil {
		return err
	}
	key, err := ParseAuditKey(raw)
	if err != nil {
		return fmt.Errorf("config: audit signing key: %w", err)
	}
	phoneKey, err := env.resolve("audit phone key", a.PhoneKeyEnv, a.PhoneKeyFile)
	if err != nil {
		return err
	}
	pk := []byte(phoneKey)
	if b, err := hex.DecodeString(phoneKey); err == nil && len(b) >= 16 {
		pk = b
	}
	if len(pk) < 16 {
		return errors.New("config: audit phone key: at least 16 octets")
	}
	o.Audit = AuditOptions{SigningKey: key, PhoneKey: pk, Instance: a.Instance, Retention: a.Retention, SyncReplicas: a.SyncReplicas}
	return nil
}

// ParseAuditKey reads an Ed25519 private key: PEM PKCS #8 or the hex seed.
func ParseAuditKey(s string) (ed25519.PrivateKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		b, _ := pem.Decode([]byte(s))
		if b == nil || b.Type != "PRIVATE KEY" {
			return nil, errors.New("want a PEM PRIVATE KEY block (openssl genpkey -algorithm ed25519)")
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, errors.New("the PEM key is not Ed25519")
		}
		return ek, nil
	}
	seed, err := hex.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, errors.New("want a PEM PKCS #8 key or 64 hex digits of the seed")
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// ParseAuditPublicKey reads an Ed25519 public key: PEM "PUBLIC KEY"
// (openssl pkey -pubout) or 64 hex digits; for verifying exports offline.
func ParseAuditPublicKey(s string) (ed25519.PublicKey, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "-----BEGIN") {
		b, _ := pem.Decode([]byte(s))
		if b == nil || b.Type != "PUBLIC KEY" {
			return nil, errors.New("want a PEM PUBLIC KEY block")
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, err
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("the PEM key is not Ed25519")
		}
		return ek, nil
	}
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("want a PEM PUBLIC KEY or 64 hex digits")
	}
	return ed25519.PublicKey(b), nil
}
