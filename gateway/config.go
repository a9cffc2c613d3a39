package gateway

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"gopkg.in/yaml.v3"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// maxConfigBytes bounds the configuration file.
const maxConfigBytes = 1 << 20

// Config is the YAML configuration of `imzagate serve` (see
// deploy/imzagate.example.yaml). Secrets never live in it: it names the
// environment variables or files that hold them, and Options resolves
// them all the same way.
type Config struct {
	HTTP struct {
		Addr string `yaml:"addr"` // default 127.0.0.1:8080
		// TLS: certificate and key files; ClientCAFile turns on mutual TLS
		// (client certificates verified against it, required).
		CertFile     string `yaml:"certFile"`
		KeyFile      string `yaml:"keyFile"`
		ClientCAFile string `yaml:"clientCAFile"`
	} `yaml:"http"`
	Admin struct {
		// Addr is the old name of metrics.addr, still read (with a warning).
		Addr string `yaml:"addr"`
		// API is the admin API (docs/admin.md), on its own listener.
		API AdminAPIConfig `yaml:"api"`
	} `yaml:"admin"`
	Metrics struct {
		Addr string `yaml:"addr"` // /metrics, /healthz, /readyz, pprof; default 127.0.0.1:9090; "off" disables
	} `yaml:"metrics"`
	Audit AuditConfig `yaml:"audit"`
	Usage struct {
		Retention time.Duration `yaml:"retention"` // default 62 days (1488h)
	} `yaml:"usage"`
	Log struct {
		Format string `yaml:"format"` // json (default) or text
		Level  string `yaml:"level"`  // debug, info (default), warn, error
	} `yaml:"log"`
	Redis struct {
		// Addrs: one address for a single server, several for a Cluster,
		// or the Sentinels' addresses with MasterName.
		Addrs      []string `yaml:"addrs"`
		MasterName string   `yaml:"masterName"`
		Username   string   `yaml:"username"`
		// PasswordEnv / PasswordFile hold the password, if Redis wants one
		// (CheckConfig refuses both; Options alone lets the file win).
		PasswordEnv  string `yaml:"passwordEnv"`
		PasswordFile string `yaml:"passwordFile"`
		DB           int    `yaml:"db"`
		TLS          bool   `yaml:"tls"`
	} `yaml:"redis"`
	Secrets struct {
		// PepperEnv / PepperFile hold the store's pepper: at least
		// MinPepperLen bytes, used as written (never hex-decoded).
		PepperEnv  string `yaml:"pepperEnv"`
		PepperFile string `yaml:"pepperFile"`
		// MasterKeysFile holds four lines "KIc=<32 hex>", "KID=…", "KIc-MO=…",
		// "KID-MO=…"; without it MasterKeysEnvPrefix+KIC, KID, KIC_MO, KID_MO are read.
		MasterKeysFile      string `yaml:"masterKeysFile"`
		MasterKeysEnvPrefix string `yaml:"masterKeysEnvPrefix"` // default IMZAGATE_MASTER_
	} `yaml:"secrets"`
	Sessions struct {
		UserTimeout   time.Duration `yaml:"userTimeout"`   // default 60s (10s–255s)
		DeliveryGrace time.Duration `yaml:"deliveryGrace"` // default 30s
	} `yaml:"sessions"`
	Callbacks struct {
		Workers  int           `yaml:"workers"`
		Queue    int           `yaml:"queue"`
		Attempts int           `yaml:"attempts"`
		Backoff  time.Duration `yaml:"backoff"`
		Timeout  time.Duration `yaml:"timeout"`
	} `yaml:"callbacks"`
	// AdES configures CAdES and ASiC-E signatures (docs/ades.md).
	AdES struct {
		MaxDocuments int      `yaml:"maxDocuments"` // default 100, at most 1000
		CAFiles      []string `yaml:"caFiles"`      // PEM: issuing CAs and roots
	} `yaml:"ades"`
	Operators       []OperatorConfig `yaml:"operators"`
	Portals         []Portal         `yaml:"portals"`
	ShutdownTimeout time.Duration    `yaml:"shutdownTimeout"`
	// Trust is the certificate checks' configuration (trustconfig.go);
	// OTA the cards' OTA key versions.
	Trust TrustConfig `yaml:"trust"`
	OTA   OTAConfig   `yaml:"ota"`

	digest [32]byte // of the file, for the audit trail's config.load record
}

// OperatorConfig is one mobile operator in the configuration.
type OperatorConfig struct {
	Name     string       `yaml:"name"`
	Prefixes []string     `yaml:"prefixes"`
	TPS      float64      `yaml:"tps"`
	Binds    []BindConfig `yaml:"binds"`
	Breaker  struct {
		Failures    uint32        `yaml:"failures"`
		OpenTimeout time.Duration `yaml:"openTimeout"`
	} `yaml:"breaker"`
	// SubmitTimeout bounds a start's submit to this operator (default
	// 5s): an SMSC that never answers submit_sm then costs each start at
	// most this, answers 503 and opens the breaker.
	SubmitTimeout time.Duration `yaml:"submitTimeout"`
}

// BindConfig is one SMPP bind in the configuration.
type BindConfig struct {
	Addr        string  `yaml:"addr"`
	SystemID    string  `yaml:"systemId"`
	PasswordEnv string  `yaml:"passwordEnv"`
	SystemType  string  `yaml:"systemType"`
	Type        string  `yaml:"type"` // transceiver (default), transmitter, receiver
	Window      int     `yaml:"window"`
	TPS         float64 `yaml:"tps"`
	SourceAddr  string  `yaml:"sourceAddr"`
	TLS         bool    `yaml:"tls"`
}

// ParseConfig decodes a YAML configuration strictly: unknown keys are errors.
func ParseConfig(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxConfigBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigBytes {
		return nil, errors.New("config: larger than 1 MiB")
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c.digest = sha256.Sum256(data)
	return &c, nil
}

// Env reads environment variables (os.LookupEnv in production, a map in tests).
type Env func(string) (string, bool)

// secret reads a named environment variable or fails naming it.
func (e Env) secret(name, what string) (string, error) {
	v, ok := e(name)
	if !ok || v == "" {
		return "", fmt.Errorf("config: %s: environment variable %s is not set", what, name)
	}
	return v, nil
}

// resolve reads the secret what from file when one is named (surrounding
// white space trimmed), else from the environment variable envName.
func (e Env) resolve(what, envName, file string) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("config: %s file: %w", what, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return e.secret(envName, what)
}

// Options turns the configuration into gateway Options, secrets resolved
// from env (nil: the process environment) and logs written to logOut. Its
// Redis client is new and belongs to the caller, who closes it.
func (c *Config) Options(env Env, logOut io.Writer) (Options, error) {
	var o Options
	if env == nil {
		env = os.LookupEnv
	}
	o.HTTPAddr, o.AdminAddr, o.ShutdownTimeout = c.HTTP.Addr, c.Metrics.Addr, c.ShutdownTimeout
	var err error
	if o.Logger, err = c.logger(logOut); err != nil {
		return o, err
	}
	if err := c.adminOptions(&o, env); err != nil {
		return o, err
	}
	if o.TLS, err = c.tls(); err != nil {
		return o, err
	}
	if o.Pepper, err = c.Pepper(env); err != nil {
		return o, err
	}
	if o.MasterKeys, err = c.masterKeys(env); err != nil {
		return o, err
	}
	if o.Operators, err = c.operators(env); err != nil {
		return o, err
	}
	if len(c.Portals) == 0 {
		return o, errors.New("config: no portals")
	}
	o.Server = ServerOptions{
		Portals: c.Portals, UserTimeout: c.Sessions.UserTimeout, DeliveryGrace: c.Sessions.DeliveryGrace,
		Callbacks: CallbackOptions{Workers: c.Callbacks.Workers, Queue: c.Callbacks.Queue, Attempts: c.Callbacks.Attempts,
			Backoff: c.Callbacks.Backoff, Timeout: c.Callbacks.Timeout},
		LookupEnv: env,
	}
	if o.Trust, o.Server.RevocationPolicy, err = c.Trust.options(); err != nil {
		return o, err
	}
	if o.OTAKeyVersions, err = c.OTA.keyVersions(); err != nil {
		return o, err
	}
	o.Server.AdES.MaxDocuments = c.AdES.MaxDocuments
	if o.Server.AdES.CACertificates, err = LoadCertificates(c.AdES.CAFiles); err != nil {
		return o, err
	}
	ro, err := c.RedisOptions(env)
	if err != nil {
		return o, err
	}
	o.Redis = redis.NewUniversalClient(ro)
	return o, nil
}

// RedisOptions are the options of the session store's Redis client, with
// per-call deadlines (sessions.ClientOptions) and the password resolved
// like every other secret.
func (c *Config) RedisOptions(env Env) (*redis.UniversalOptions, error) {
	if env == nil {
		env = os.LookupEnv
	}
	ro := sessions.ClientOptions(c.Redis.Addrs, c.Redis.MasterName)
	ro.Username, ro.DB = c.Redis.Username, c.Redis.DB
	if c.Redis.PasswordEnv != "" || c.Redis.PasswordFile != "" {
		pw, err := env.resolve("redis password", c.Redis.PasswordEnv, c.Redis.PasswordFile)
		if err != nil {
			return nil, err
		}
		ro.Password = pw
	}
	if c.Redis.TLS {
		ro.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return ro, nil
}

// logger builds the logger of log.format and log.level.
func (c *Config) logger(out io.Writer) (*slog.Logger, error) {
	lvl := slog.LevelInfo
	if c.Log.Level != "" {
		if err := lvl.UnmarshalText([]byte(c.Log.Level)); err != nil {
			return nil, fmt.Errorf("config: log.level: %w", err)
		}
	}
	switch c.Log.Format {
	case "", "json":
		return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: lvl, ReplaceAttr: ReadableDurations})), nil
	case "text":
		return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: lvl})), nil
	}
	return nil, fmt.Errorf("config: log.format %q: json or text", c.Log.Format)
}

// tls builds the API's TLS configuration (nil: plain HTTP).
func (c *Config) tls() (*tls.Config, error) {
	if c.HTTP.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.HTTP.CertFile, c.HTTP.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("config: http TLS: %w", err)
	}
	t := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.HTTP.ClientCAFile != "" {
		pemData, err := os.ReadFile(c.HTTP.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("config: http clientCAFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, errors.New("config: http clientCAFile: no certificates")
		}
		t.ClientCAs, t.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return t, nil
}

// operators builds the SMPP operators with their bind passwords.
func (c *Config) operators(env Env) ([]smpp.Operator, error) {
	if len(c.Operators) == 0 {
		return nil, errors.New("config: no operators")
	}
	var ops []smpp.Operator
	for _, oc := range c.Operators {
		op := smpp.Operator{Name: oc.Name, Prefixes: oc.Prefixes, TPS: oc.TPS, SubmitTimeout: oc.SubmitTimeout,
			Breaker: smpp.BreakerConfig{Failures: oc.Breaker.Failures, OpenTimeout: oc.Breaker.OpenTimeout}}
		for _, bc := range oc.Binds {
			b, err := bc.bind(env, oc.Name)
			if err != nil {
				return nil, err
			}
			op.Binds = append(op.Binds, b)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// bind builds one SMPP bind of operator.
func (bc BindConfig) bind(env Env, operator string) (smpp.BindConfig, error) {
	pw := ""
	if bc.PasswordEnv != "" {
		var err error
		if pw, err = env.secret(bc.PasswordEnv, "operator "+operator+" bind password"); err != nil {
			return smpp.BindConfig{}, err
		}
	}
	b := smpp.BindConfig{Addr: bc.Addr, SystemID: bc.SystemID, Password: pw, SystemType: bc.SystemType,
		Window: bc.Window, TPS: bc.TPS, SourceAddr: bc.SourceAddr}
	switch bc.Type {
	case "", "transceiver":
		b.Type = smpp.BindTransceiver
	case "transmitter":
		b.Type = smpp.BindTransmitter
	case "receiver":
		b.Type = smpp.BindReceiver
	default:
		return b, fmt.Errorf("config: operator %s: bind type %q", operator, bc.Type)
	}
	if bc.TLS {
		host := bc.Addr
		if i := strings.LastIndex(host, ":"); i > 0 {
			host = host[:i]
		}
		b.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	return b, nil
}

// masterKeys reads the four AES-128 master keys from the file or environment.
func (c *Config) masterKeys(env Env) (applet.MasterKeys, error) {
	var m applet.MasterKeys
	vals := map[string]string{}
	if c.Secrets.MasterKeysFile != "" {
		b, err := os.ReadFile(c.Secrets.MasterKeysFile)
		if err != nil {
			return m, fmt.Errorf("config: masterKeysFile: %w", err)
		}
		if m, err = applet.ParseMasterKeys(b); err != nil {
			return m, fmt.Errorf("config: masterKeysFile %s: %w", c.Secrets.MasterKeysFile, err)
		}
		return m, nil
	} else {
		prefix := c.Secrets.MasterKeysEnvPrefix
		if prefix == "" {
			prefix = "IMZAGATE_MASTER_"
		}
		for k, suffix := range map[string]string{"KIc": "KIC", "KID": "KID", "KIc-MO": "KIC_MO", "KID-MO": "KID_MO"} {
			v, err := env.secret(prefix+suffix, "master key "+k)
			if err != nil {
				return m, err
			}
			vals[k] = v
		}
	}
	for name, dst := range map[string]*[16]byte{"KIc": &m.KIc, "KID": &m.KID, "KIc-MO": &m.KIcMO, "KID-MO": &m.KIDMO} {
		b, err := hex.DecodeString(vals[name])
		if err != nil || len(b) != 16 {
			return m, fmt.Errorf("config: master key %s: want 32 hex digits", name)
		}
		copy(dst[:], b)
	}
	return m, nil
}
