package gateway

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// SMPP 3.4 field limits (§5.2.1–5.2.3 of the specification): the
// C-Octet Strings' sizes without their NUL.
const (
	smppMaxSystemID   = 15
	smppMaxPassword   = 8
	smppMaxSystemType = 12
	smppMaxSourceAddr = 20
	maxBindWindow     = 1000
	maxTPS            = 100_000
)

func (c *checker) checkOperators(cfg *Config) {
	if len(cfg.Operators) == 0 {
		c.add("operators", "no operators", "add at least one operator with its prefixes and binds (see deploy/imzagate.example.yaml)")
		return
	}
	names := map[string]int{}
	prefixes := map[string]string{}
	for i, op := range cfg.Operators {
		p := fmt.Sprintf("operators[%d]", i)
		switch {
		case op.Name == "":
			c.add(p+".name", "the operator has no name", "name it, e.g. azercell (it labels metrics and logs)")
		case !validOperatorName(op.Name):
			c.add(p+".name", fmt.Sprintf("operator name %q is not up to 32 of a-z, 0-9, '.', '_' and '-'", op.Name), "use a short lower-case name such as azercell")
		default:
			if j, dup := names[op.Name]; dup {
				c.add(p+".name", fmt.Sprintf("operator %q is also operators[%d]", op.Name, j), "give every operator its own name")
			}
			names[op.Name] = i
		}
		if len(op.Prefixes) == 0 {
			c.add(p+".prefixes", "the operator has no prefixes, so no phone number is routed to it", `list the E.164 prefixes of its numbers, e.g. ["99450", "99451"]`)
		}
		for k, pre := range op.Prefixes {
			pp := fmt.Sprintf("%s.prefixes[%d]", p, k)
			if !digitsOnly(pre) || len(pre) > 15 {
				c.add(pp, fmt.Sprintf("prefix %q is not 1–15 digits", pre), "write the country and operator code without '+', e.g. \"99450\"")
			} else if other, dup := prefixes[pre]; dup {
				c.add(pp, fmt.Sprintf("prefix %s is also routed to %s", pre, other), "route each prefix to one operator")
			} else {
				prefixes[pre] = p
			}
		}
		c.checkRate(p+".tps", op.TPS, maxTPS, "no account-wide limit")
		c.checkInt(p+".breaker.failures", int(op.Breaker.Failures), 0, 1000, "5")
		c.checkDuration(p+".breaker.openTimeout", op.Breaker.OpenTimeout, time.Second, time.Hour, "30s")
		if len(op.Binds) == 0 {
			c.add(p+".binds", "the operator has no binds", "add at least one bind: addr, systemId and passwordEnv of the SMPP account")
		}
		for k, b := range op.Binds {
			c.checkBind(fmt.Sprintf("%s.binds[%d]", p, k), b)
		}
	}
}

func (c *checker) checkBind(p string, b BindConfig) {
	if b.Addr == "" {
		c.add(p+".addr", "the bind has no address", "write the operator's SMSC as host:port, e.g. smsc.operator.example:2775")
	} else {
		c.checkAddr(p+".addr", b.Addr, false)
	}
	switch {
	case b.SystemID == "":
		c.add(p+".systemId", "the bind has no systemId", "write the SMPP account's system_id the operator gave you")
	case len(b.SystemID) > smppMaxSystemID:
		c.add(p+".systemId", fmt.Sprintf("systemId is %d characters; SMPP allows %d", len(b.SystemID), smppMaxSystemID), "use the system_id the operator gave you")
	}
	if len(b.SystemType) > smppMaxSystemType {
		c.add(p+".systemType", fmt.Sprintf("systemType is %d characters; SMPP allows %d", len(b.SystemType), smppMaxSystemType), "shorten it, or leave it out")
	}
	if len(b.SourceAddr) > smppMaxSourceAddr {
		c.add(p+".sourceAddr", fmt.Sprintf("sourceAddr is %d characters; SMPP allows %d", len(b.SourceAddr), smppMaxSourceAddr), "use the short code or number the operator assigned")
	}
	c.checkInt(p+".window", b.Window, 0, maxBindWindow, "10")
	c.checkRate(p+".tps", b.TPS, maxTPS, "no per-bind limit")
	if b.PasswordEnv != "" {
		pw, ok := c.resolveSecret(secretSource{what: "the SMPP password", envKey: p + ".passwordEnv", fileKey: p + ".passwordEnv",
			defaultEnv: b.PasswordEnv, fixUnsetTemplate: "it holds the SMPP account's password the operator gave you"})
		if ok && len(pw) > smppMaxPassword {
			c.add(p+".passwordEnv", fmt.Sprintf("the SMPP password in %s is %d characters; SMPP allows %d", b.PasswordEnv, len(pw), smppMaxPassword),
				"check the value: SMPP 3.4 passwords are at most 8 characters")
		}
	}
}

func (c *checker) checkPortals(cfg *Config) {
	if len(cfg.Portals) == 0 {
		c.add("portals", "no portals", "add at least one portal: id, displayName and apiKeySHA256 (see deploy/imzagate.example.yaml)")
		return
	}
	ids := map[string]int{}
	hashes := map[string]int{}
	for i, pt := range cfg.Portals {
		p := fmt.Sprintf("portals[%d]", i)
		switch {
		case pt.ID == "" || len(pt.ID) > 64 || strings.ContainsAny(pt.ID, " \t\n\""):
			c.add(p+".id", fmt.Sprintf("portal id %q is not 1–64 characters without spaces or quotes", pt.ID), "name the portal, e.g. etaxes (it labels metrics and logs)")
		default:
			if j, dup := ids[pt.ID]; dup {
				c.add(p+".id", fmt.Sprintf("portal id %q is also portals[%d]", pt.ID, j), "give every portal its own id")
			}
			ids[pt.ID] = i
		}
		kh, err := hex.DecodeString(pt.APIKeySHA256)
		switch {
		case pt.APIKeySHA256 == "":
			c.add(p+".apiKeySHA256", "the portal has no API-key hash", fixAPIKeyHash)
		case err != nil || len(kh) != 32:
			c.add(p+".apiKeySHA256", "apiKeySHA256 is not 64 hex digits", fixAPIKeyHash)
		default:
			norm := hex.EncodeToString(kh)
			if j, dup := hashes[norm]; dup {
				c.add(p+".apiKeySHA256", fmt.Sprintf("portals[%d] (%s) has the same API-key hash: that key would always authenticate as %s", j, cfg.Portals[j].ID, cfg.Portals[j].ID),
					"give every portal its own API key")
			}
			hashes[norm] = i
		}
		c.checkPortalLimits(p, pt, cfg)
	}
}

// fixAPIKeyHash says how to make an API-key hash.
const fixAPIKeyHash = "write the hex SHA-256 of the portal's API key: printf %s \"$KEY\" | sha256sum (not echo: its newline changes the hash); " +
	"`imzagate secrets generate` writes api-key.sha256"

func (c *checker) checkPortalLimits(p string, pt Portal, cfg *Config) {
	c.checkRate(p+".rateLimit", pt.RateLimit, maxTPS, "10 per second")
	c.checkInt(p+".burst", pt.Burst, 0, 1_000_000, "twice the rate limit")
	if len(pt.CallbackHosts) > 0 && pt.CallbackSecretEnv == "" {
		c.add(p+".callbackHosts", "callbacks need a signing secret", "name the variable that holds the portal's HMAC key with callbackSecretEnv")
	}
	if pt.CallbackSecretEnv != "" {
		c.resolveSecret(secretSource{what: "the callback secret", envKey: p + ".callbackSecretEnv", fileKey: p + ".callbackSecretEnv",
			defaultEnv: pt.CallbackSecretEnv, fixUnsetTemplate: "it holds the HMAC key the portal checks callbacks with"})
	}
	if pt.ClientCertSHA256 != "" {
		if ch, err := hex.DecodeString(strings.ReplaceAll(pt.ClientCertSHA256, ":", "")); err != nil || len(ch) != 32 {
			c.add(p+".clientCertSHA256", "clientCertSHA256 is not 64 hex digits", "write the certificate's SHA-256 fingerprint: openssl x509 -in portal.crt -noout -fingerprint -sha256")
		}
		if cfg.HTTP.ClientCAFile == "" {
			c.add(p+".clientCertSHA256", "a client certificate is named but mutual TLS is off", "set http.clientCAFile (and http.certFile, http.keyFile), or remove clientCertSHA256")
		}
	}
}
