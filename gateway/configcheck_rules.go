package gateway

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/trust"
)

// MinPepperLen is the shortest pepper the gateway accepts, in bytes of the
// value as written (it is never hex-decoded: 64 hex digits are 64 bytes).
// `imzagate secrets generate` writes 64 hex digits, as does
// `openssl rand -hex 32`.
const MinPepperLen = 32

// CheckPepper refuses a pepper shorter than MinPepperLen; the message says
// how long it is, never what it is.
func CheckPepper(pepper []byte) error {
	if len(pepper) < MinPepperLen {
		return fmt.Errorf("the pepper is %d bytes long; at least %d are required", len(pepper), MinPepperLen)
	}
	return nil
}

// Fixes shared by several rules.
const (
	fixGenerate   = "`imzagate secrets generate --out DIR` writes a pepper, master keys and an API key with its hash"
	fixRelative   = "relative paths are read from the directory imzagate runs in"
	fixPepperLong = "use a longer random value: `openssl rand -hex 32` (64 characters) or " + fixGenerate +
		". If this gateway already holds subscribers, a new pepper makes every stored User ID wrong: provision them again"
)

// rules checks the meaning of a decoded configuration.
func (c *checker) rules(cfg *Config) {
	c.checkHTTP(cfg)
	c.checkLogAndTimes(cfg)
	c.checkRedis(cfg)
	c.checkPepper(cfg)
	c.checkMasterKeys(cfg)
	c.checkOperators(cfg)
	c.checkPortals(cfg)
	c.checkTrust(cfg)
}

// checkTrust loads the trust section as serve would (its files read and
// checked, nothing fetched), so a missing root is found before serve.
func (c *checker) checkTrust(cfg *Config) {
	o, _, err := cfg.Trust.options()
	if err == nil {
		_, err = trust.New(o)
	}
	if err == nil {
		return
	}
	msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "config: "), "trust: invalid configuration: ")
	path, fix := "trust", "see docs/trust.md"
	switch {
	case strings.HasPrefix(msg, "trust.intermediates: "):
		msg = strings.TrimPrefix(msg, "trust.intermediates: ")
		fallthrough
	case strings.HasPrefix(msg, "trust.intermediates"):
		path, fix = "trust.intermediates", "name PEM files or directories of the issuing CAs' certificates"
	case strings.HasPrefix(msg, "trust.roots: "):
		msg = strings.TrimPrefix(msg, "trust.roots: ")
		fallthrough
	case strings.HasPrefix(msg, "trust.roots"):
		path, fix = "trust.roots", "name the certification authority's root certificates (PEM files or directories); trust.mode: provisioned-only exists for migrations only"
	}
	c.add(path, msg, fix)
}

// secretSource is one secret as the configuration names it.
type secretSource struct {
	what             string // "the pepper"
	envKey, fileKey  string // key paths
	envName, file    string // as configured
	defaultEnv       string // variable read when neither is named ("" : the secret is optional)
	fixUnsetTemplate string // how to provide it
}

// resolveSecret finds a secret's value, reporting every way it can fail:
// two sources, a file that is missing, unreadable or empty, a variable
// that is not set. ok is false when a problem was reported.
func (c *checker) resolveSecret(s secretSource) (string, bool) {
	if s.envName != "" && s.file != "" {
		c.add(s.fileKey, fmt.Sprintf("%s has two sources: the variable %s and the file %s", s.what, s.envName, s.file),
			fmt.Sprintf("keep one: remove %s or %s", lastKey(s.envKey), lastKey(s.fileKey)))
		return "", false
	}
	if s.file != "" {
		b, err := os.ReadFile(s.file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			c.add(s.fileKey, fmt.Sprintf("the file %s (%s) does not exist", s.file, s.what), "create it or correct the path; "+fixRelative)
			return "", false
		case err != nil:
			c.add(s.fileKey, fmt.Sprintf("the file %s (%s) cannot be read: %v", s.file, s.what, unwrapPathError(err)),
				"make it readable by the user imzagate runs as (and by no one else)")
			return "", false
		case strings.TrimSpace(string(b)) == "":
			c.add(s.fileKey, fmt.Sprintf("the file %s (%s) is empty", s.file, s.what), s.fixUnsetTemplate)
			return "", false
		}
		return strings.TrimSpace(string(b)), true
	}
	name := s.envName
	if name == "" {
		name = s.defaultEnv
	}
	if name == "" {
		return "", true
	}
	v, set := c.env(name)
	switch {
	case !set:
		fix := "export " + name + " before starting imzagate; " + s.fixUnsetTemplate
		if s.fileKey != "" && s.fileKey != s.envKey {
			fix = fmt.Sprintf("export %s before starting imzagate, or name a file with %s; %s", name, lastKey(s.fileKey), s.fixUnsetTemplate)
		}
		c.add(s.envKey, fmt.Sprintf("the environment variable %s (%s) is not set", name, s.what), fix)
		return "", false
	case v == "":
		c.add(s.envKey, fmt.Sprintf("the environment variable %s (%s) is set but empty", name, s.what), s.fixUnsetTemplate)
		return "", false
	}
	return v, true
}

// unwrapPathError keeps the reason of a file error (the path is already in the message).
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (c *checker) checkPepper(cfg *Config) {
	s := cfg.Secrets
	pepper, ok := c.resolveSecret(secretSource{what: "the pepper", envKey: "secrets.pepperEnv", fileKey: "secrets.pepperFile",
		envName: s.PepperEnv, file: s.PepperFile, defaultEnv: "IMZAGATE_PEPPER",
		fixUnsetTemplate: "the pepper is a random value of at least 32 characters (imzagate secrets generate writes one)"})
	if !ok {
		return
	}
	if err := CheckPepper([]byte(pepper)); err != nil {
		path := "secrets.pepperEnv"
		if s.PepperFile != "" {
			path = "secrets.pepperFile"
		}
		c.add(path, err.Error()+" (its characters are used as written, not hex-decoded)", fixPepperLong)
	}
}

func (c *checker) checkMasterKeys(cfg *Config) {
	s := cfg.Secrets
	if s.MasterKeysFile != "" && s.MasterKeysEnvPrefix != "" {
		c.add("secrets.masterKeysFile", "the master keys have two sources: the variables "+s.MasterKeysEnvPrefix+"* and the file "+s.MasterKeysFile,
			"keep one: remove masterKeysEnvPrefix or masterKeysFile")
		return
	}
	if s.MasterKeysFile != "" {
		data, ok := c.resolveSecret(secretSource{what: "the master keys", fileKey: "secrets.masterKeysFile", file: s.MasterKeysFile,
			fixUnsetTemplate: fixGenerate})
		if !ok {
			return
		}
		if _, err := applet.ParseMasterKeys([]byte(data)); err != nil {
			c.add("secrets.masterKeysFile", "the file "+s.MasterKeysFile+": "+strings.TrimPrefix(err.Error(), "applet: master keys: "),
				"write four lines KIc=, KID=, KIc-MO=, KID-MO=, each with 32 hex digits; "+fixGenerate)
		}
		return
	}
	prefix := s.MasterKeysEnvPrefix
	if prefix == "" {
		prefix = "IMZAGATE_MASTER_"
	}
	var unset, empty, bad []string
	for _, suffix := range []string{"KIC", "KID", "KIC_MO", "KID_MO"} {
		v, set := c.env(prefix + suffix)
		if b, err := hex.DecodeString(v); !set {
			unset = append(unset, prefix+suffix)
		} else if v == "" {
			empty = append(empty, prefix+suffix)
		} else if err != nil || len(b) != 16 {
			bad = append(bad, prefix+suffix)
		}
	}
	fix := "export all four, 32 hex digits each, or name a file with masterKeysFile; " + fixGenerate
	if len(unset) > 0 {
		c.add("secrets.masterKeysEnvPrefix", "the master keys' environment variables "+strings.Join(unset, ", ")+" are not set", fix)
	}
	if len(empty) > 0 {
		c.add("secrets.masterKeysEnvPrefix", "the master keys' environment variables "+strings.Join(empty, ", ")+" are set but empty", fix)
	}
	if len(bad) > 0 {
		c.add("secrets.masterKeysEnvPrefix", "the master keys' environment variables "+strings.Join(bad, ", ")+" are not 32 hex digits",
			"each master key is an AES-128 key written as 32 hex digits")
	}
}

func (c *checker) checkRedis(cfg *Config) {
	r := cfg.Redis
	if len(r.Addrs) == 0 {
		c.add("redis.addrs", "no Redis address", "list one address (a single server), several (a Cluster), or the Sentinels' with redis.masterName, e.g. addrs: [127.0.0.1:6379]")
	}
	for i, a := range r.Addrs {
		c.checkAddr(fmt.Sprintf("redis.addrs[%d]", i), a, false)
	}
	switch {
	case r.DB < 0 || r.DB > 15:
		c.add("redis.db", fmt.Sprintf("database %d is outside 0–15", r.DB), "use a database number from 0 to 15 (Redis has 16 by default)")
	case r.DB != 0 && len(r.Addrs) > 1 && r.MasterName == "":
		c.add("redis.db", "a Redis Cluster has only database 0", "remove redis.db, or list a single server")
	}
	c.resolveSecret(secretSource{what: "the Redis password", envKey: "redis.passwordEnv", fileKey: "redis.passwordFile",
		envName: r.PasswordEnv, file: r.PasswordFile, fixUnsetTemplate: "it holds the password Redis was configured with (requirepass)"})
}

// checkAddr checks a host:port address; allowZero accepts port 0 (pick one).
func (c *checker) checkAddr(path, addr string, allowZero bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		c.add(path, fmt.Sprintf("%q is not host:port", addr), "write it as host:port, e.g. 127.0.0.1:6379 or [::1]:2775")
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !allowZero) {
		c.add(path, fmt.Sprintf("port %q of %s is not a port number", port, addr), "use a port from 1 to 65535")
		return
	}
	if host == "" && !allowZero {
		c.add(path, fmt.Sprintf("%q has no host", addr), "write the host too, e.g. 127.0.0.1"+addr)
	}
}

func (c *checker) checkHTTP(cfg *Config) {
	h := cfg.HTTP
	if h.Addr != "" {
		c.checkAddr("http.addr", h.Addr, true)
	}
	c.checkListeners(cfg)
	switch {
	case h.CertFile != "" && h.KeyFile == "", h.CertFile == "" && h.KeyFile != "":
		c.add("http.certFile", "TLS needs both http.certFile and http.keyFile", "set both (PEM files), or neither for plain HTTP")
	case h.CertFile != "":
		if _, err := tls.LoadX509KeyPair(h.CertFile, h.KeyFile); err != nil {
			c.add("http.certFile", "the TLS certificate and key do not load: "+unwrapPathError(err).Error(), "name a PEM certificate and its matching PEM private key; "+fixRelative)
		}
	}
	if h.ClientCAFile != "" {
		if h.CertFile == "" {
			c.add("http.clientCAFile", "mutual TLS needs the API served over TLS", "set http.certFile and http.keyFile too")
		}
		b, err := os.ReadFile(h.ClientCAFile)
		if err != nil {
			c.add("http.clientCAFile", "the file "+h.ClientCAFile+" cannot be read: "+unwrapPathError(err).Error(), "name the PEM file of the CA that issues the portals' client certificates; "+fixRelative)
		} else if !x509.NewCertPool().AppendCertsFromPEM(b) {
			c.add("http.clientCAFile", "the file "+h.ClientCAFile+" holds no PEM certificate", "name the PEM file of the CA that issues the portals' client certificates")
		}
	}
}

// checkListeners checks the addresses of the metrics listener (metrics.addr,
// or its old name admin.addr) and of the admin API against the portal
// API's and each other's: each needs a port of its own.
func (c *checker) checkListeners(cfg *Config) {
	if cfg.Admin.Addr != "" && cfg.Metrics.Addr != "" {
		c.add("admin.addr", "both admin.addr (the old name) and metrics.addr are set", "keep only metrics.addr")
	}
	type listener struct{ path, addr, what string }
	seen := []listener{{"http.addr", cfg.HTTP.Addr, "the portal API"}}
	for _, l := range []listener{
		{"metrics.addr", cfg.Metrics.Addr, "the metrics listener"},
		{"admin.addr", cfg.Admin.Addr, "the metrics listener"},
		{"admin.api.addr", cfg.Admin.API.Addr, "the admin API"},
	} {
		if l.addr == "" || l.addr == "off" {
			continue
		}
		c.checkAddr(l.path, l.addr, true)
		for _, other := range seen {
			if other.addr == l.addr {
				c.add(l.path, l.what+" and "+other.what+" have the same address "+l.addr, "give "+l.what+" its own port, or write off")
			}
		}
		seen = append(seen, l)
	}
}

// checkRange reports a duration outside [lo, hi]; zero means the default
// and is always accepted.
func (c *checker) checkDuration(path string, d, lo, hi time.Duration, def string) {
	if d == 0 || (d >= lo && d <= hi) {
		return
	}
	c.add(path, fmt.Sprintf("%v is outside %v–%v", d, lo, hi), fmt.Sprintf("use a value from %v to %v, or leave it out for the default (%s)", lo, hi, def))
}

// checkInt reports a number outside [lo, hi].
func (c *checker) checkInt(path string, v, lo, hi int, def string) {
	if v >= lo && v <= hi {
		return
	}
	c.add(path, fmt.Sprintf("%d is outside %d–%d", v, lo, hi), fmt.Sprintf("use a value from %d to %d (0 or left out: %s)", lo, hi, def))
}

// checkRate reports a rate outside [0, hi].
func (c *checker) checkRate(path string, v, hi float64, def string) {
	if v >= 0 && v <= hi {
		return
	}
	c.add(path, fmt.Sprintf("%g is outside 0–%g", v, hi), fmt.Sprintf("use a value from 0 to %g (0 or left out: %s)", hi, def))
}

func (c *checker) checkLogAndTimes(cfg *Config) {
	c.checkDuration("sessions.userTimeout", cfg.Sessions.UserTimeout, minUserTimeout, maxUserTimeout, "60s; the applet counts it in whole seconds, 10–255")
	c.checkDuration("sessions.deliveryGrace", cfg.Sessions.DeliveryGrace, 0, 10*time.Minute, "30s")
	cb := cfg.Callbacks
	c.checkInt("callbacks.workers", cb.Workers, 0, maxCallbackWorkers, "8")
	c.checkInt("callbacks.queue", cb.Queue, 0, maxCallbackQueue, "1024")
	c.checkInt("callbacks.attempts", cb.Attempts, 0, maxCallbackAttempts, "5")
	c.checkDuration("callbacks.backoff", cb.Backoff, time.Millisecond, time.Hour, "1s, doubling")
	c.checkDuration("callbacks.timeout", cb.Timeout, time.Millisecond, 5*time.Minute, "5s")
	c.checkDuration("shutdownTimeout", cfg.ShutdownTimeout, time.Second, 10*time.Minute, "20s")
}
