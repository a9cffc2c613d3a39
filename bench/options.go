package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Defaults of the zero Options.
const (
	DefaultConcurrency    = 64
	DefaultDuration       = 10 * time.Second
	DefaultPollTimeout    = 30 * time.Second
	DefaultSessionTimeout = 2 * time.Minute
	DefaultMaxInFlight    = 20000
	DefaultProgress       = time.Second
)

// Bounds on what a run may ask for, so a typo cannot exhaust the machine.
const (
	maxConcurrency = 100000
	maxRate        = 1e6
	maxInFlight    = 1000000
	maxUsers       = 10000000
)

// Options configure one load run. The zero value of every field but Target,
// APIKey and Users has a safe default.
type Options struct {
	// Target is the base URL of the portal API, e.g. http://127.0.0.1:8080.
	Target string
	// APIKey is the portal's bearer API key.
	APIKey string
	// Users are the subscribers sessions are started for. A user has at most
	// one session running at a time (the gateway refuses a second one), so
	// the closed-loop concurrency and the open-loop rate × session time must
	// stay below len(Users).
	Users []User

	// Concurrency is the number of closed-loop workers, each running one
	// session after another. Ignored when Rate is set. Default 64 (or
	// the number of users, when fewer).
	Concurrency int
	// Rate, when positive, runs an open loop: sessions are started at this
	// many per second on a fixed schedule whatever the gateway does, and
	// every latency is measured from the scheduled (intended) start, so a
	// stalled gateway shows up in the figures (no coordinated omission).
	Rate float64
	// Duration is the measured part of the run. Default 10 s.
	Duration time.Duration
	// Warmup runs load before the measurement without recording it.
	Warmup time.Duration
	// Mix is the share of each operation. Default all AUTHENTICATE.
	Mix Mix
	// CertificateType is the certificate a SIGN asks for: personal,
	// business or government. Default personal.
	CertificateType string
	// HashType is SHA256, SHA384 or SHA512. Default SHA256.
	HashType string

	// PollTimeout is the long-poll timeoutMs sent with each GET. Default 30 s.
	PollTimeout time.Duration
	// SessionTimeout is how long a session may take before the generator
	// gives up on it and counts CLIENT_TIMEOUT. Default 2 min.
	SessionTimeout time.Duration
	// MaxInFlight bounds the open loop's outstanding sessions; a scheduled
	// start beyond it is counted as CLIENT_OVERLOAD instead of queueing
	// without bound. Default 20,000.
	MaxInFlight int

	// Progress receives a live line every ProgressInterval (rate, errors,
	// p99); nil prints nothing.
	Progress io.Writer
	// ProgressInterval defaults to one second.
	ProgressInterval time.Duration
	// ProgressCR rewrites one terminal line with carriage returns instead
	// of printing a line per tick.
	ProgressCR bool
	// OnTick, when set, is called with the run's state every
	// ProgressInterval, e.g. to sample the gateway's resources while the
	// load is on.
	OnTick func(Tick)

	// HTTPClient is used for every request; nil builds one whose
	// connection pool fits the concurrency.
	HTTPClient *http.Client
	// Logger gets run events; nil discards them.
	Logger *slog.Logger
}

// User is one subscriber: phone number (E.164) and 6-digit User ID.
type User struct {
	Phone  string
	UserID string
}

// validate fills defaults and checks bounds; the error names the field.
func (o *Options) validate() error {
	u, err := url.Parse(o.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("bench: target %q: want an http or https base URL", o.Target)
	}
	o.Target = strings.TrimSuffix(o.Target, "/")
	if o.APIKey == "" {
		return errors.New("bench: an API key is required")
	}
	if len(o.Users) == 0 {
		return errors.New("bench: no users to start sessions for")
	}
	if len(o.Users) > maxUsers {
		return fmt.Errorf("bench: %d users: at most %d", len(o.Users), maxUsers)
	}
	for i, usr := range o.Users {
		if err := usr.check(); err != nil {
			return fmt.Errorf("bench: user %d: %w", i, err)
		}
	}
	if o.Concurrency == 0 {
		o.Concurrency = min(DefaultConcurrency, len(o.Users))
	}
	if o.Concurrency < 0 || o.Concurrency > maxConcurrency {
		return fmt.Errorf("bench: concurrency %d: want 1..%d", o.Concurrency, maxConcurrency)
	}
	if o.Rate < 0 || o.Rate > maxRate || math.IsNaN(o.Rate) {
		return fmt.Errorf("bench: rate %v: want 0..%g per second", o.Rate, float64(maxRate))
	}
	if o.Rate == 0 && o.Concurrency > len(o.Users) {
		return fmt.Errorf("bench: concurrency %d exceeds the %d users (one running session per phone)", o.Concurrency, len(o.Users))
	}
	if o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Duration < 0 || o.Warmup < 0 {
		return errors.New("bench: duration and warmup must not be negative")
	}
	if err := o.validateRequest(); err != nil {
		return err
	}
	if err := o.validateTimes(); err != nil {
		return err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// check accepts an E.164 phone number with '+' and a 6-digit User ID. The
// request bodies are built without a JSON encoder, so only these characters
// may reach them.
func (u User) check() error {
	if len(u.Phone) < 8 || len(u.Phone) > 16 || u.Phone[0] != '+' || !allDigits(u.Phone[1:]) {
		return errors.New("phone number: want + and 7 to 15 digits")
	}
	if len(u.UserID) != 6 || !allDigits(u.UserID) {
		return errors.New("user id: want exactly 6 digits")
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Mix is the share of each operation in the load; the shares are weights
// and need not add up to one.
type Mix struct {
	Auth float64 // AUTHENTICATE
	Sign float64 // SIGN
}

func (m Mix) check() error {
	if m.Auth < 0 || m.Sign < 0 || math.IsNaN(m.Auth) || math.IsNaN(m.Sign) ||
		math.IsInf(m.Auth, 0) || math.IsInf(m.Sign, 0) || m.Auth+m.Sign <= 0 {
		return fmt.Errorf("bench: mix %v: want non-negative finite shares, not all zero", m)
	}
	return nil
}

// signShare is the probability of a SIGN.
func (m Mix) signShare() float64 { return m.Sign / (m.Auth + m.Sign) }

// String formats m the way ParseMix reads it.
func (m Mix) String() string {
	return "auth=" + strconv.FormatFloat(m.Auth, 'g', -1, 64) + ",sign=" + strconv.FormatFloat(m.Sign, 'g', -1, 64)
}

// ParseMix reads "auth=0.8,sign=0.2" (either part may be left out and then
// counts as zero; "authenticate" is a synonym of "auth").
func ParseMix(s string) (Mix, error) {
	if len(s) > 100 {
		return Mix{}, errors.New("bench: mix: too long")
	}
	var m Mix
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Mix{}, fmt.Errorf("bench: mix %q: want name=share pairs", s)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return Mix{}, fmt.Errorf("bench: mix %q: share of %s is not a number", s, name)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "auth", "authenticate":
			name = "auth"
			m.Auth = f
		case "sign":
			m.Sign = f
		default:
			return Mix{}, fmt.Errorf("bench: mix %q: unknown operation %q (want auth, sign)", s, name)
		}
		if seen[name] {
			return Mix{}, fmt.Errorf("bench: mix %q: %s given twice", s, name)
		}
		seen[name] = true
	}
	if err := m.check(); err != nil {
		return Mix{}, err
	}
	return m, nil
}

// ParseRates reads a comma-separated list of positive rates for a sweep,
// e.g. "500,1000,2000", and returns them in increasing order.
func ParseRates(s string) ([]float64, error) {
	if len(s) > 1000 {
		return nil, errors.New("bench: rates: too long")
	}
	var rates []float64
	for part := range strings.SplitSeq(s, ",") {
		f, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil || f <= 0 || f > maxRate || math.IsInf(f, 0) {
			return nil, fmt.Errorf("bench: rates %q: %q is not a rate in (0, %g]", s, part, float64(maxRate))
		}
		rates = append(rates, f)
	}
	if len(rates) > 50 {
		return nil, errors.New("bench: rates: at most 50 steps")
	}
	sort.Float64s(rates)
	return rates, nil
}

// validateRequest sets and checks what the sessions ask for: the mix of
// operations, the certificate type and the hash type.
func (o *Options) validateRequest() error {
	if o.Mix == (Mix{}) {
		o.Mix = Mix{Auth: 1}
	}
	if err := o.Mix.check(); err != nil {
		return err
	}
	switch o.CertificateType {
	case "":
		o.CertificateType = "personal"
	case "personal", "business", "government":
	default:
		return fmt.Errorf("bench: certificate type %q: want personal, business or government", o.CertificateType)
	}
	switch o.HashType {
	case "":
		o.HashType = "SHA256"
	case "SHA256", "SHA384", "SHA512":
	default:
		return fmt.Errorf("bench: hash type %q: want SHA256, SHA384 or SHA512", o.HashType)
	}
	return nil
}

// validateTimes sets and checks the waits and bounds of a run.
func (o *Options) validateTimes() error {
	if o.PollTimeout == 0 {
		o.PollTimeout = DefaultPollTimeout
	}
	if o.PollTimeout < 0 || o.PollTimeout > 120*time.Second {
		return fmt.Errorf("bench: poll timeout %v: want up to 120 s (the API's bound)", o.PollTimeout)
	}
	if o.SessionTimeout == 0 {
		o.SessionTimeout = DefaultSessionTimeout
	}
	if o.SessionTimeout < 0 {
		return errors.New("bench: session timeout must not be negative")
	}
	if o.MaxInFlight == 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.MaxInFlight < 0 || o.MaxInFlight > maxInFlight {
		return fmt.Errorf("bench: max in flight %d: want 1..%d", o.MaxInFlight, maxInFlight)
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = DefaultProgress
	}
	return nil
}
