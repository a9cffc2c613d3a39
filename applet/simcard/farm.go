package simcard

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/testca"
)

// ErrUnknownNumber is returned by HandleMT when no card has the number.
var ErrUnknownNumber = errors.New("simcard: no card with that number")

// MaxCards bounds a farm (10 million cards: 12-digit numbers, 7 digits
// per prefix).
const MaxCards = 10_000_000

// Options configures a Farm. The zero value gives 1,000 cards that approve
// every request after two seconds.
type Options struct {
	// Cards is the number of cards (default 1000, at most MaxCards).
	Cards int
	// Seed makes the farm deterministic: the same seed gives the same
	// numbers, ICCIDs, User IDs and keys.
	Seed []byte
	// Master are the OTA master keys the gateway also holds.
	Master applet.MasterKeys
	// CA issues the cards' certificates (default: a new test CA).
	CA *testca.CA
	// Prefixes are the E.164 prefixes (country code and operator code, 5
	// digits) cards are spread over round-robin; default 99450, 99455,
	// 99470 (one per operator).
	Prefixes []string
	// Behaviour gives card i's scripted user (default: right PIN after 2 s).
	Behaviour func(i int) Behaviour
	// Profile gives card i's key slots (default: DefaultProfile).
	Profile func(i int) []SlotSpec
	// Faults gives card i's faults (default none).
	Faults func(i int) Faults
	// KeyVersions are the key versions the cards' OTA key sets were
	// personalised with (zero fields: applet.DefaultKeyVersions); the
	// gateway must be configured with the same.
	KeyVersions applet.KeyVersions
	// KeyPool, when positive, makes card i use the keys and certificates
	// of identity i % KeyPool: a large farm then costs KeyPool key
	// generations and certificates instead of one set per card.
	KeyPool int
	// Logger receives card events; phone numbers are never logged.
	Logger *slog.Logger
}

func (o *Options) validate() error {
	if o.Cards == 0 {
		o.Cards = 1000
	}
	if o.Cards < 0 || o.Cards > MaxCards {
		return fmt.Errorf("simcard: %d cards (1..%d)", o.Cards, MaxCards)
	}
	if len(o.Prefixes) == 0 {
		o.Prefixes = []string{"99450", "99455", "99470"}
	}
	if (o.Cards-1)/len(o.Prefixes) >= 9_000_000 {
		return fmt.Errorf("simcard: %d cards do not fit 7-digit numbers under %d prefixes", o.Cards, len(o.Prefixes))
	}
	for _, p := range o.Prefixes {
		if len(p) != 5 || !digits(p) {
			return fmt.Errorf("simcard: prefix %q is not 5 digits", p)
		}
	}
	if o.Behaviour == nil {
		o.Behaviour = func(int) Behaviour { return Behaviour{Action: Approve, Delay: 2 * time.Second} }
	}
	if o.Profile == nil {
		o.Profile = DefaultProfile
	}
	if o.Faults == nil {
		o.Faults = func(int) Faults { return Faults{} }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// Farm is a set of simulated cards addressed by MSISDN. It is safe for
// concurrent use; each card serialises its own traffic.
type Farm struct {
	opts  Options
	ota   *applet.Transport // the cards' key versions
	ca    *testca.CA
	cards []Card
	log   *slog.Logger
	// KeyPool identities, made on first use; one lock per entry so that
	// two cards sharing an identity do not make it twice.
	pool  []*identity
	poolM []sync.Mutex
}

// New creates a farm. Cards are cheap until used: keys and certificates
// are made on first need.
func New(opts Options) (*Farm, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	tr, err := applet.NewTransport(opts.KeyVersions)
	if err != nil {
		return nil, fmt.Errorf("simcard: %w", err)
	}
	ca := opts.CA
	if ca == nil {
		if ca, err = testca.New(testca.Options{Seed: opts.Seed}); err != nil {
			return nil, err
		}
	}
	f := &Farm{opts: opts, ota: tr, ca: ca, cards: make([]Card, opts.Cards), log: opts.Logger}
	for i := range f.cards {
		c := &f.cards[i]
		c.farm, c.index = f, i
		c.behaviour = opts.Behaviour(i)
		c.faults = opts.Faults(i)
	}
	if opts.KeyPool > 0 {
		f.pool = make([]*identity, opts.KeyPool)
		f.poolM = make([]sync.Mutex, opts.KeyPool)
	}
	return f, nil
}

// Len returns the number of cards.
func (f *Farm) Len() int { return len(f.cards) }

// CA returns the certification centre that issued the cards' certificates.
func (f *Farm) CA() *testca.CA { return f.ca }

// MasterKeys returns the OTA master keys (for the gateway's configuration).
func (f *Farm) MasterKeys() applet.MasterKeys { return f.opts.Master }

// Card returns card i (0 ≤ i < Len).
func (f *Farm) Card(i int) *Card {
	if i < 0 || i >= len(f.cards) {
		return nil
	}
	return &f.cards[i]
}

// Lookup returns the card with this MSISDN (E.164 digits without '+').
func (f *Farm) Lookup(msisdn string) (*Card, bool) {
	i, ok := f.index(msisdn)
	if !ok {
		return nil, false
	}
	return &f.cards[i], true
}

// msisdn(i) = prefix[i mod P] ‖ 7 digits of i div P + 1000000: computed,
// so that a farm needs no map from number to card.
func (f *Farm) msisdn(i int) string {
	p := len(f.opts.Prefixes)
	return f.opts.Prefixes[i%p] + strconv.Itoa(1_000_000+i/p)
}

func (f *Farm) index(msisdn string) (int, bool) {
	if len(msisdn) != 12 || !digits(msisdn) {
		return 0, false
	}
	n, err := strconv.Atoi(msisdn[5:])
	if err != nil || n < 1_000_000 {
		return 0, false
	}
	p := len(f.opts.Prefixes)
	for k, pre := range f.opts.Prefixes {
		if msisdn[:5] == pre {
			i := (n-1_000_000)*p + k
			if i < len(f.cards) {
				return i, true
			}
		}
	}
	return 0, false
}

// iccid(i): 19 digits, issuer 899940, the index, and a Luhn check digit.
func iccid(i int) string {
	s := fmt.Sprintf("899940%012d", i)
	return s + strconv.Itoa(luhn(s))
}

func luhn(s string) int {
	sum := 0
	for k := 0; k < len(s); k++ {
		d := int(s[len(s)-1-k] - '0')
		if k%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return (10 - sum%10) % 10
}

// derive returns 32 octets for (label, n) from the farm seed.
func (f *Farm) derive(label string, n int) []byte {
	m := hmac.New(sha256.New, f.opts.Seed)
	m.Write([]byte(label))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	m.Write(b[:])
	return m.Sum(nil)
}

func (f *Farm) userID(i int) string {
	v := binary.BigEndian.Uint32(f.derive("user-id", i)) % 1_000_000
	return fmt.Sprintf("%06d", v)
}

// HandleMT takes one MT SMS TP-UD addressed to msisdn (E.164 digits without
// '+', e.g. "994501234567"). It returns an error when no card has that
// number (the SMSC then reports the message undeliverable). reply may be
// called later, from any goroutine, once per MO SMS segment (TP-UD with
// UDH) the card sends.
func (f *Farm) HandleMT(msisdn string, userData []byte, reply func(userData []byte)) error {
	c, ok := f.Lookup(msisdn)
	if !ok {
		return ErrUnknownNumber
	}
	if reply == nil {
		reply = func([]byte) {}
	}
	c.handleMT(userData, reply)
	return nil
}
