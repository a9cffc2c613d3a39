package gateway

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"sync"

	"github.com/imzagate/imzagate/applet"
)

// parsedCert is what the gateway needs from a certificate's DER, worked
// out once: the subject and serial a portal is shown, the PEM form, and the
// public key a reply is verified with (keyErr says why when the key is
// not one the applet signs with). err is set when the DER does not parse
// at all.
type parsedCert struct {
	subject string
	serial  string
	pem     string
	key     applet.PublicKey
	keyErr  error
	err     error
	// x509 is the parsed certificate for the CAdES signed attributes and
	// container, parsed again from pem on first use: keeping every
	// certificate's parsed form would more than double an entry's size
	// for the few that sign containers.
	x509 func() *x509.Certificate
}

// certCacheGen is the size of one generation of the certificate cache; the
// cache holds at most two generations. A parsed entry is about 1.5 KB, so
// the bound is near 25 MB at worst; a certificate that signed a CAdES
// container also keeps its parsed form, some 3 KB more.
const certCacheGen = 8192

// certCache remembers parsed certificates by the SHA-256 of their DER.
// Every portal answer for a successful login describes the user's
// certificates, and every reply verifies against one, and parsing X.509
// cost more than the session lookup itself. Keying by the DER's hash means
// a changed certificate is simply a different entry, so there is nothing
// to invalidate. Two generations give an approximate LRU in O(1): when the
// current map is full it becomes the previous one, and a hit in the
// previous one is promoted.
type certCache struct {
	mu        sync.Mutex
	cur, prev map[[32]byte]*parsedCert
}

// certs is the process's certificate cache (certificates are immutable
// values, so one cache serves every Server).
var certs = &certCache{cur: make(map[[32]byte]*parsedCert)}

// get returns the parsed form of der, parsing it on a miss.
func (c *certCache) get(der []byte) *parsedCert {
	key := sha256.Sum256(der)
	c.mu.Lock()
	p, ok := c.cur[key]
	if !ok {
		if p, ok = c.prev[key]; ok {
			c.putLocked(key, p)
		}
	}
	c.mu.Unlock()
	if ok {
		return p
	}
	// Parse outside the lock; two goroutines may parse the same DER at
	// once, which is harmless (the results are equal).
	p = parseCert(der)
	c.mu.Lock()
	c.putLocked(key, p)
	c.mu.Unlock()
	return p
}

func (c *certCache) putLocked(key [32]byte, p *parsedCert) {
	if len(c.cur) >= certCacheGen {
		c.prev, c.cur = c.cur, make(map[[32]byte]*parsedCert, certCacheGen)
	}
	c.cur[key] = p
}

// parseCert does the work the cache saves.
func parseCert(der []byte) *parsedCert {
	p := &parsedCert{pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		p.err = err
		return p
	}
	p.x509 = sync.OnceValue(p.parseAgain)
	p.subject = subjectString(x)
	p.serial = x.SerialNumber.Text(16)
	p.key, p.keyErr = applet.ParsePublicKey(x)
	return p
}

// parseAgain parses the certificate from its PEM form (it parsed once
// already, so it parses again).
func (p *parsedCert) parseAgain() *x509.Certificate {
	b, _ := pem.Decode([]byte(p.pem))
	if b == nil {
		return nil
	}
	x, _ := x509.ParseCertificate(b.Bytes)
	return x
}
