package simcard

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"fmt"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/testca"
)

// SlotSpec describes one key slot of a card and its certificate.
type SlotSpec struct {
	Ref  byte          // 01 authentication, 02..0F signing
	Alg  applet.SigAlg // key algorithm
	Kind testca.Kind   // certificate type
	// Organization and VOEN name the company or agency of a business or
	// government certificate; derived from the card when empty.
	Organization, VOEN string
	Expired            bool // issue the certificate already expired
	Revoked            bool // revoke it at the CA once issued
}

// DefaultProfile gives every card an ECDSA P-256 authentication key (01)
// and personal signing key (02); every fourth card adds an Ed25519
// business key (03) and every tenth an ML-DSA-44 government key (04).
func DefaultProfile(i int) []SlotSpec {
	p := []SlotSpec{
		{Ref: applet.KeyRefAuth, Alg: applet.SigECDSAP256, Kind: testca.Personal},
		{Ref: 0x02, Alg: applet.SigECDSAP256, Kind: testca.Personal},
	}
	if i%4 == 1 {
		p = append(p, SlotSpec{Ref: 0x03, Alg: applet.SigEd25519, Kind: testca.Business})
	}
	if i%10 == 2 {
		p = append(p, SlotSpec{Ref: 0x04, Alg: applet.SigMLDSA44, Kind: testca.Government})
	}
	return p
}

// slot is a materialised key slot.
type slot struct {
	spec  SlotSpec
	ec    *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	ml    *mldsa44.PrivateKey
	cert  *x509.Certificate
	wrong *slot // a key that does not match cert (Faults.KeyMismatch)
}

// identity is a holder with keys and certificates, one per card or per
// KeyPool entry.
type identity struct {
	holder testca.Holder
	slots  [16]*slot
}

var givenNames = [...]string{"Leyla", "Elvin", "Aysel", "Rəşad", "Günay", "Tural", "Nigar", "Orxan", "Səbinə", "Fərid"}
var surnames = [...]string{"Məmmədova", "Əliyev", "Hüseynova", "Quliyev", "İsmayılova", "Həsənov", "Abbasova", "Cəfərov"}

const finAlphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"

func (f *Farm) holder(n int) testca.Holder {
	d := f.derive("holder", n)
	fin := make([]byte, 7)
	for k := range fin {
		fin[k] = finAlphabet[int(d[k])%len(finAlphabet)]
	}
	return testca.Holder{
		GivenName: givenNames[int(d[8])%len(givenNames)],
		Surname:   surnames[int(d[9])%len(surnames)],
		FIN:       string(fin),
	}
}

// profile returns the slot specs of card or pool entry n, checked.
func (f *Farm) profile(n int) ([]SlotSpec, error) {
	specs := f.opts.Profile(n)
	seen := map[byte]bool{}
	for _, s := range specs {
		if s.Ref < applet.KeyRefAuth || s.Ref > applet.KeyRefSignLast || seen[s.Ref] {
			return nil, fmt.Errorf("simcard: card %d: bad or repeated key reference %02x", n, s.Ref)
		}
		seen[s.Ref] = true
	}
	return specs, nil
}

// makeIdentity generates keys and certificates for card or pool entry n.
func (f *Farm) makeIdentity(n int) (*identity, error) {
	specs, err := f.profile(n)
	if err != nil {
		return nil, err
	}
	id := &identity{holder: f.holder(n)}
	for _, spec := range specs {
		s, err := f.makeSlot(n, spec, "key")
		if err != nil {
			return nil, err
		}
		s.wrong, err = f.makeSlot(n, spec, "mismatched key")
		if err != nil {
			return nil, err
		}
		h := id.holder
		if spec.Kind != testca.Personal {
			h.Organization, h.VOEN = spec.Organization, spec.VOEN
			d := f.derive("org", n*16+int(spec.Ref))
			if h.Organization == "" {
				h.Organization = fmt.Sprintf("Şirkət %d MMC", n)
				if spec.Kind == testca.Government {
					h.Organization = fmt.Sprintf("Dövlət qurumu %d", n)
				}
			}
			if h.VOEN == "" {
				h.VOEN = fmt.Sprintf("%010d", (uint64(d[0])<<32|uint64(d[1])<<24|uint64(d[2])<<16|uint64(d[3])<<8|uint64(d[4]))%10_000_000_000)
			}
		}
		usage := testca.Sign
		if spec.Ref == applet.KeyRefAuth {
			usage = testca.Auth
		}
		s.cert, err = f.ca.Issue(testca.Request{Kind: spec.Kind, Usage: usage, Holder: h, PublicKey: s.public(), Expired: spec.Expired})
		if err != nil {
			return nil, fmt.Errorf("simcard: card %d slot %02x: %w", n, spec.Ref, err)
		}
		if spec.Revoked {
			f.ca.Revoke(s.cert.SerialNumber, s.cert.NotBefore)
		}
		s.spec = spec
		id.slots[spec.Ref] = s
	}
	return id, nil
}

func (f *Farm) makeSlot(n int, spec SlotSpec, label string) (*slot, error) {
	seed := f.derive(fmt.Sprintf("%s %02x", label, spec.Ref), n)
	s := &slot{spec: spec}
	switch spec.Alg {
	case applet.SigECDSAP256:
		k, err := testca.DeterministicECDSA(seed, label)
		if err != nil {
			return nil, err
		}
		s.ec = k
	case applet.SigEd25519:
		s.ed = ed25519.NewKeyFromSeed(seed)
	case applet.SigMLDSA44:
		var ms [mldsa44.SeedSize]byte
		copy(ms[:], seed)
		_, s.ml = mldsa44.NewKeyFromSeed(&ms)
	default:
		return nil, fmt.Errorf("simcard: card %d slot %02x: algorithm %v", n, spec.Ref, spec.Alg)
	}
	return s, nil
}

func (s *slot) public() any {
	switch {
	case s.ec != nil:
		return &s.ec.PublicKey
	case s.ed != nil:
		return s.ed.Public()
	default:
		return s.ml.Public()
	}
}

// sign produces the signature of docs/applet-protocol.md §4 over hash.
func (s *slot) sign(hash []byte) ([]byte, error) {
	switch {
	case s.ec != nil:
		r, ss, err := ecdsa.Sign(rand.Reader, s.ec, hash)
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		return sig, nil
	case s.ed != nil:
		return ed25519.Sign(s.ed, hash), nil
	default:
		sig := make([]byte, mldsa44.SignatureSize)
		if err := mldsa44.SignTo(s.ml, hash, nil, true, sig); err != nil {
			return nil, err
		}
		return sig, nil
	}
}

// identityOf returns card i's identity, making it on first use.
func (f *Farm) identityOf(i int) (*identity, error) {
	if f.pool == nil {
		c := &f.cards[i]
		c.idMu.Lock()
		defer c.idMu.Unlock()
		if c.id == nil {
			id, err := f.makeIdentity(i)
			if err != nil {
				return nil, err
			}
			c.id = id
		}
		return c.id, nil
	}
	n := i % len(f.pool)
	f.poolM[n].Lock()
	defer f.poolM[n].Unlock()
	if f.pool[n] == nil {
		id, err := f.makeIdentity(n)
		if err != nil {
			return nil, err
		}
		f.pool[n] = id
	}
	return f.pool[n], nil
}
