package main

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/simcard"
	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/sessions"
)

// simOptions are the flags of the SIM farm behind the SMSC.
type simOptions struct {
	sims        int
	masterKeys  string
	seed        string
	userDelay   time.Duration
	prefixes    string
	operator    string
	subscribers string // export file, "" for none
	caFile      string // export file of the root, "" for none
	interFile   string // export file of the issuing CA, "" for none
	caListen    string // where the CA serves OCSP and CRLs
}

// maxSIMs bounds --sims: every card's certificates are made at start for
// the export, about a millisecond each.
const maxSIMs = 100_000

// newFarm builds the farm of o, its cards' keys derived from the master
// keys in o.masterKeys (the file the gateway reads too).
func newFarm(o simOptions, ca *testca.CA, log *slog.Logger) (*simcard.Farm, error) {
	if o.sims < 1 || o.sims > maxSIMs {
		return nil, fmt.Errorf("--sims %d: want 1–%d", o.sims, maxSIMs)
	}
	if o.masterKeys == "" {
		return nil, errors.New("--sims needs --master-keys FILE, the master-keys file the gateway reads (imzagate secrets generate writes one)")
	}
	data, err := os.ReadFile(o.masterKeys)
	if err != nil {
		return nil, fmt.Errorf("--master-keys: %w (imzagate secrets generate writes one)", err)
	}
	master, err := applet.ParseMasterKeys(data)
	if err != nil {
		return nil, fmt.Errorf("--master-keys %s: %w", o.masterKeys, err)
	}
	if o.userDelay < 0 {
		return nil, errors.New("--user-delay cannot be negative")
	}
	return simcard.New(simcard.Options{Cards: o.sims, Seed: []byte(o.seed), Master: master,
		Prefixes: splitList(o.prefixes), Behaviour: simcard.DemoMix(o.userDelay), CA: ca, Logger: log})
}

// exportSubscribers writes every card of farm in the provisioning format
// `imzagate provision` imports: phone, ICCID, User ID in clear, and the
// certificates. The file is only readable by its owner (it holds User IDs).
func exportSubscribers(farm *simcard.Farm, operator, path string) error {
	var b []byte
	for i := range farm.Len() {
		rec, err := farm.Record(i)
		if err != nil {
			return err
		}
		sub, err := subscriberOf(rec, operator)
		if err != nil {
			return err
		}
		if b, err = sessions.AppendImportLine(b, sub, rec.UserID); err != nil {
			return fmt.Errorf("card %d: %w", i, err)
		}
	}
	return writeAtomic(path, b, 0o600)
}

// subscriberOf is the registry entry of a simulated card. Its
// authentication certificate is typed personal, as the registry wants one
// of personal, business or government for every certificate.
func subscriberOf(rec simcard.Record, operator string) (sessions.Subscriber, error) {
	sub := sessions.Subscriber{Phone: "+" + rec.MSISDN, ICCID: rec.ICCID, KeyVersion: 1, Operator: operator}
	for _, c := range rec.Certificates {
		x, err := x509.ParseCertificate(c.DER)
		if err != nil {
			return sub, fmt.Errorf("card certificate: %w", err)
		}
		status := sessions.StatusActive
		if c.Revoked {
			status = sessions.StatusRevoked
		}
		typ := c.Kind.String()
		if c.Kind != testca.Business && c.Kind != testca.Government {
			typ = testca.Personal.String()
		}
		sub.Certificates = append(sub.Certificates, sessions.Certificate{Type: typ, TaxID: c.VOEN, KeyRef: c.KeyRef,
			DER: c.DER, NotBefore: x.NotBefore, NotAfter: x.NotAfter, Status: status})
	}
	return sub, nil
}

// serveCA starts the simulated certification authority on addr: a root
// and the issuing CA of the cards' certificates, which name its OCSP
// responder and CRLs, so a gateway checks them as it would a real CA's.
// The keys derive from the seed, and the URLs from addr, so a restart with
// the same flags issues the same certificates.
func serveCA(o simOptions) (*testca.Hierarchy, error) {
	h, err := testca.Serve(o.caListen, testca.Options{Name: "smscsim root", Seed: []byte("ca/" + o.seed)})
	if err != nil {
		return nil, fmt.Errorf("--ca-listen %s: %w", o.caListen, err)
	}
	return h, nil
}

// exportCert writes one CA certificate as PEM.
func exportCert(ca *testca.CA, path string) error {
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw})
	return writeAtomic(path, b, 0o644)
}

// writeAtomic writes data to a temporary file beside path and renames it,
// so a reader waiting for path never sees half a file.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
