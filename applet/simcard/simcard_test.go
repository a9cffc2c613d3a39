package simcard

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/ota"
	"github.com/imzagate/imzagate/applet/sms"
	"github.com/imzagate/imzagate/applet/testca"
)

var master = applet.MasterKeys{KIc: [16]byte{1, 1}, KID: [16]byte{2, 2}, KIcMO: [16]byte{3, 3}, KIDMO: [16]byte{4, 4}}

func fullProfile(int) []SlotSpec {
	return []SlotSpec{
		{Ref: 0x01, Alg: applet.SigECDSAP256, Kind: testca.Personal},
		{Ref: 0x02, Alg: applet.SigECDSAP256, Kind: testca.Personal},
		{Ref: 0x03, Alg: applet.SigEd25519, Kind: testca.Business},
		{Ref: 0x04, Alg: applet.SigMLDSA44, Kind: testca.Government},
	}
}

func newFarm(t *testing.T, b Behaviour) *Farm {
	t.Helper()
	f, err := New(Options{Cards: 10, Seed: []byte("test"), Master: master, Profile: fullProfile,
		Behaviour: func(int) Behaviour { return b }, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// gw plays the gateway for one card: it seals commands with SealCommand
// and opens what comes back with OpenMO.
type gw struct {
	t       *testing.T
	f       *Farm
	c       *Card
	keys    applet.CardKeys
	counter uint64
	mu      sync.Mutex
	mo      [][]byte
}

func newGW(t *testing.T, f *Farm, i int) *gw {
	c := f.Card(i)
	keys, err := applet.DeriveCardKeys(master, c.ICCID())
	if err != nil {
		t.Fatal(err)
	}
	return &gw{t: t, f: f, c: c, keys: keys}
}

func (g *gw) reply(ud []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mo = append(g.mo, ud)
}

func (g *gw) sendSegs(segs [][]byte) {
	for _, s := range segs {
		if err := g.f.HandleMT(g.c.MSISDN(), s, g.reply); err != nil {
			g.t.Fatal(err)
		}
	}
}

func (g *gw) send(cmd applet.Command) [][]byte {
	g.t.Helper()
	g.counter++
	segs, err := applet.SealCommand(g.keys, g.counter, &cmd, byte(g.counter))
	if err != nil {
		g.t.Fatal(err)
	}
	g.sendSegs(segs)
	return segs
}

// take returns the MOs received so far, reassembled and opened.
func (g *gw) take() []applet.MO {
	g.t.Helper()
	synctest.Wait()
	g.mu.Lock()
	in := g.mo
	g.mo = nil
	g.mu.Unlock()
	r := sms.NewReassembler(sms.ReassemblerOptions{})
	var out []applet.MO
	for _, ud := range in {
		m, ok, err := r.Add(ud, time.Now())
		if err != nil {
			g.t.Fatal(err)
		}
		if !ok {
			continue
		}
		full := append([]byte{0x02, byte(m.Packet), 0x00}, m.Data...)
		mo, err := applet.OpenMO(g.keys, full)
		if err != nil {
			g.t.Fatalf("OpenMO: %v", err)
		}
		out = append(out, mo)
	}
	return out
}

func (g *gw) one() applet.MO {
	g.t.Helper()
	mos := g.take()
	if len(mos) != 1 {
		g.t.Fatalf("%d MOs, want 1", len(mos))
	}
	return mos[0]
}

func command(op applet.Operation, ref byte, hash []byte) applet.Command {
	alg := applet.HashSHA256
	if len(hash) == 64 {
		alg = applet.HashSHA512
	}
	return applet.Command{TxnID: [8]byte{byte(op), ref, 0xAA}, Operation: op, KeyRef: ref, HashAlg: alg, Hash: hash,
		VerificationCode: applet.VerificationCode(hash), DisplayText: "Bank: ödəniş", UserTimeout: 60}
}

func certFor(t *testing.T, c *Card, ref byte) *x509.Certificate {
	t.Helper()
	certs, err := c.Certificates()
	if err != nil {
		t.Fatal(err)
	}
	for _, ci := range certs {
		if ci.KeyRef == ref {
			cert, err := x509.ParseCertificate(ci.DER)
			if err != nil {
				t.Fatal(err)
			}
			return cert
		}
	}
	t.Fatalf("no certificate for %02x", ref)
	return nil
}

func TestAuthenticateAndSignEveryAlgorithm(t *testing.T) {
	tests := []struct {
		name string
		op   applet.Operation
		ref  byte
		alg  applet.SigAlg
		hash []byte
	}{
		{"authenticate-ecdsa", applet.OpAuthenticate, 0x01, applet.SigECDSAP256, sum256("login")},
		{"sign-ecdsa", applet.OpSign, 0x02, applet.SigECDSAP256, sum256("doc")},
		{"sign-ecdsa-sha512", applet.OpSign, 0x02, applet.SigECDSAP256, sum512("doc")},
		{"sign-ed25519", applet.OpSign, 0x03, applet.SigEd25519, sum256("doc")},
		{"sign-mldsa44", applet.OpSign, 0x04, applet.SigMLDSA44, sum256("doc")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFarm(t, Behaviour{Action: Approve, Delay: 3 * time.Second})
				g := newGW(t, f, 3)
				cmd := command(tt.op, tt.ref, tt.hash)
				g.send(cmd)
				if mos := g.take(); len(mos) != 0 {
					t.Fatalf("answered before the user: %+v", mos)
				}
				time.Sleep(3 * time.Second)
				mo := g.one()
				r := mo.Response
				if mo.Kind != applet.MOReply || mo.Counter != 1 || r.Status != applet.StatusOK || r.SigAlg != tt.alg || r.TxnID != cmd.TxnID || r.PINTriesLeft != 3 {
					t.Fatalf("MO %+v", mo)
				}
				cert := certFor(t, g.c, tt.ref)
				if err := applet.VerifySignature(cert, r.SigAlg, tt.hash, r.Signature); err != nil {
					t.Fatalf("signature: %v", err)
				}
				eku := x509.ExtKeyUsageAny
				if tt.op == applet.OpAuthenticate {
					eku = x509.ExtKeyUsageClientAuth
				}
				if _, err := cert.Verify(x509.VerifyOptions{Roots: f.CA().Pool(), KeyUsages: []x509.ExtKeyUsage{eku}}); err != nil {
					t.Fatalf("chain: %v", err)
				}
			})
		})
	}
}

func sum256(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
func sum512(s string) []byte { h := sha512.Sum512([]byte(s)); return h[:] }

func TestWrongPINThreeTimesBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFarm(t, Behaviour{Action: WrongPIN, Delay: time.Second, WrongTimes: 3})
		g := newGW(t, f, 0)
		g.send(command(applet.OpSign, 0x02, sum256("x")))
		time.Sleep(3 * time.Second)
		mo := g.one()
		if mo.Response.Status != applet.StatusPINBlocked || mo.Response.PINTriesLeft != 0 {
			t.Fatalf("MO %+v", mo.Response)
		}
		// Blocked for later commands too, without prompting; PIN1 intact.
		g.send(command(applet.OpSign, 0x02, sum256("y")))
		if mo := g.one(); mo.Response.Status != applet.StatusPINBlocked || mo.Counter != 2 {
			t.Fatalf("second MO %+v", mo)
		}
		if p1, p2, puk, _ := g.c.Tries(); p1 != 3 || p2 != 0 || puk != 10 {
			t.Fatalf("tries %d %d %d", p1, p2, puk)
		}
	})
}

func TestWrongPINThenRight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFarm(t, Behaviour{Action: WrongPIN, Delay: time.Second, WrongTimes: 2})
		g := newGW(t, f, 0)
		g.send(command(applet.OpAuthenticate, 0x01, sum256("x")))
		time.Sleep(3 * time.Second)
		if mo := g.one(); mo.Response.Status != applet.StatusOK || mo.Response.PINTriesLeft != 3 {
			t.Fatalf("MO %+v", mo.Response)
		}
	})
}

func TestReplayGetsCounterLowPoR(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFarm(t, Behaviour{Action: Cancel, Delay: time.Second})
		g := newGW(t, f, 1)
		segs := g.send(command(applet.OpAuthenticate, 0x01, sum256("x")))
		time.Sleep(time.Second)
		if mo := g.one(); mo.Response.Status != applet.StatusUserCancelled {
			t.Fatalf("MO %+v", mo)
		}
		g.sendSegs(segs) // the same MT again
		mo := g.one()
		if mo.Kind != applet.MOPoR || ota.Status(mo.PoRStatus) != ota.StatusCounterLow || mo.Counter != 1 {
			t.Fatalf("replay answered %+v", mo)
		}
		if _, moCntr := g.c.Counters(); moCntr != 1 {
			t.Fatalf("PoR advanced the MO counter to %d", moCntr)
		}
	})
}

// A card whose counter was moved ahead refuses the gateway's next command
// with a secured "CNTR low" PoR echoing the command's counter, and takes
// the first command above its counter.
func TestCounterAheadGetsCounterLowPoR(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFarm(t, Behaviour{Action: Cancel, Delay: time.Second})
		g := newGW(t, f, 3)
		if err := g.c.SetMTCounter(1 << 30); err != nil {
			t.Fatal(err)
		}
		cmd := command(applet.OpAuthenticate, 0x01, sum256("x"))
		segs, _ := applet.SealCommand(g.keys, 7, &cmd, 1)
		g.sendSegs(segs)
		mo := g.one()
		if mo.Kind != applet.MOPoR || ota.Status(mo.PoRStatus) != ota.StatusCounterLow || mo.Counter != 7 || !mo.PoRSecured {
			t.Fatalf("command below the card's counter answered %+v", mo)
		}
		segs, _ = applet.SealCommand(g.keys, 1<<30+1, &cmd, 1)
		g.sendSegs(segs)
		time.Sleep(time.Second)
		if mo := g.one(); mo.Kind != applet.MOReply || mo.Response.Status != applet.StatusUserCancelled {
			t.Fatalf("command above the card's counter answered %+v", mo)
		}
		if mt, _ := g.c.Counters(); mt != 1<<30+1 {
			t.Fatalf("card's MT counter %d", mt)
		}
	})
}

func TestOTAErrorsGetPoRs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFarm(t, Behaviour{Action: NoAnswer})
		g := newGW(t, f, 2)
		cmd := command(applet.OpAuthenticate, 0x01, sum256("x"))
		// Sealed with another card's keys: checksum failure.
		other, _ := applet.DeriveCardKeys(master, f.Card(5).ICCID())
		segs, _ := applet.SealCommand(other, 10, &cmd, 1)
		g.sendSegs(segs)
		if mo := g.one(); mo.Kind != applet.MOPoR || ota.Status(mo.PoRStatus) != ota.StatusChecksumFailed {
			t.Fatalf("wrong keys: %+v", mo)
		}
		// Unknown TAR: unsecured PoR 09.
		p := applet.MTParams()
		p.TAR = [3]byte{1, 2, 3}
		c, _ := ota.NewCodec(p, ota.Keys{KIc: g.keys.KIc[:], KID: g.keys.KID[:]})
		pkt, _ := c.SealCommand([]byte{2, 0x70, 0}, 11, []byte{1})
		g.sendSegs([][]byte{pkt})
		synctest.Wait()
		g.mu.Lock()
		got := g.mo
		g.mo = nil
		g.mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("%d MOs", len(got))
		}
		r, err := c.OpenResponse(got[0][3:])
		if err != nil || r.Status != ota.StatusTARUnknown || r.Secured {
			t.Fatalf("TAR PoR %+v %v", r, err)
		}
		// Below the minimum security level: clear text with CC → 0A.
		p = applet.MTParams()
		p.SPI = ota.SPI{0x12, 0x3A}
		c, _ = ota.NewCodec(p, ota.Keys{KIc: g.keys.KIc[:], KID: g.keys.KID[:]})
		data, _ := cmd.AppendBinary(nil)
		pkt, _ = c.SealCommand([]byte{2, 0x70, 0}, 12, data)
		g.sendSegs([][]byte{pkt})
		if mo := g.one(); ota.Status(mo.PoRStatus) != ota.StatusInsufficientSecurity {
			t.Fatalf("weak SPI: %+v", mo)
		}
		// A CHL that no AES-CMAC length fits: header not understood, 06
		// in clear.
		segs, _ = applet.SealCommand(g.keys, 13, &cmd, 1)
		segs[0][3+2] = 0x0F
		g.sendSegs(segs)
		if mo := g.one(); ota.Status(mo.PoRStatus) != ota.StatusUnidentifiedError || mo.Counter != 0 {
			t.Fatalf("bad CHL: %+v", mo)
		}
		// None of these advanced the card's counter.
		if mt, _ := g.c.Counters(); mt != 0 {
			t.Fatalf("MT counter %d", mt)
		}
	})
}

func TestAppletStatuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFarm(t, Behaviour{Action: NoAnswer})
		g := newGW(t, f, 4)
		// No key in slot 09.
		g.send(command(applet.OpSign, 0x09, sum256("x")))
		if mo := g.one(); mo.Response.Status != applet.StatusNoSuchKey || mo.Response.PINTriesLeft != 3 {
			t.Fatalf("no key: %+v", mo.Response)
		}
		// Wrong verification code.
		cmd := command(applet.OpSign, 0x02, sum256("x"))
		cmd.VerificationCode = (cmd.VerificationCode + 1) % 8192
		g.send(cmd)
		if mo := g.one(); mo.Response.Status != applet.StatusBadRequest || mo.Response.TxnID != cmd.TxnID || mo.Response.PINTriesLeft != -1 {
			t.Fatalf("bad code: %+v", mo.Response)
		}
		// One waits for the user; a second is busy; the first times out.
		g.send(command(applet.OpSign, 0x02, sum256("a")))
		g.send(command(applet.OpAuthenticate, 0x01, sum256("b")))
		if mo := g.one(); mo.Response.Status != applet.StatusBusy {
			t.Fatalf("busy: %+v", mo.Response)
		}
		time.Sleep(60 * time.Second)
		if mo := g.one(); mo.Response.Status != applet.StatusTimeout {
			t.Fatalf("timeout: %+v", mo.Response)
		}
		// PUK blocked: card blocked, before anything else.
		if err := g.c.SetTries(3, 0, 0); err != nil {
			t.Fatal(err)
		}
		g.send(command(applet.OpSign, 0x02, sum256("c")))
		if mo := g.one(); mo.Response.Status != applet.StatusCardBlocked {
			t.Fatalf("card blocked: %+v", mo.Response)
		}
		if _, moc := g.c.Counters(); moc != 5 {
			t.Fatalf("MO counter %d, want 5", moc)
		}
	})
}

func TestFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFarm(t, Behaviour{Action: Approve, Delay: time.Second})
		g := newGW(t, f, 6)
		g.c.SetFaults(Faults{KeyMismatch: true})
		h := sum256("x")
		g.send(command(applet.OpSign, 0x03, h))
		time.Sleep(time.Second)
		mo := g.one()
		if mo.Response.Status != applet.StatusOK {
			t.Fatal(mo.Response)
		}
		if err := applet.VerifySignature(certFor(t, g.c, 0x03), mo.Response.SigAlg, h, mo.Response.Signature); !errors.Is(err, applet.ErrSignature) {
			t.Fatalf("mismatched key verified: %v", err)
		}
		// WrongHash: the right key over another value; the slot 02 key is
		// ECDSA, whose signature carries no trace of the hash it is over.
		g.c.SetFaults(Faults{WrongHash: true})
		g.send(command(applet.OpSign, 0x02, h))
		time.Sleep(time.Second)
		mo = g.one()
		if mo.Response.Status != applet.StatusOK {
			t.Fatal(mo.Response)
		}
		cert := certFor(t, g.c, 0x02)
		if err := applet.VerifySignature(cert, mo.Response.SigAlg, h, mo.Response.Signature); !errors.Is(err, applet.ErrSignature) {
			t.Fatalf("signature over the wrong hash verified: %v", err)
		}
		other := append([]byte{h[0] ^ 0xFF}, h[1:]...)
		if err := applet.VerifySignature(cert, mo.Response.SigAlg, other, mo.Response.Signature); err != nil {
			t.Fatalf("WrongHash did not sign the flipped hash with the right key: %v", err)
		}
		g.c.SetFaults(Faults{BadChecksum: true})
		g.send(command(applet.OpSign, 0x03, h))
		time.Sleep(time.Second)
		synctest.Wait()
		g.mu.Lock()
		got := g.mo
		g.mo = nil
		g.mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("%d MOs", len(got))
		}
		if _, err := applet.OpenMO(g.keys, got[0]); !errors.Is(err, ota.ErrChecksum) {
			t.Fatalf("corrupted reply: %v", err)
		}
	})
}

func TestUnknownNumberAndIdentity(t *testing.T) {
	f, err := New(Options{Cards: 7, Seed: []byte("x"), Prefixes: []string{"99450", "99470"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.HandleMT("994990000000", []byte{2, 0x70, 0}, nil); !errors.Is(err, ErrUnknownNumber) {
		t.Fatalf("err = %v", err)
	}
	seen := map[string]bool{}
	for i := range f.Len() {
		c := f.Card(i)
		m := c.MSISDN()
		if len(m) != 12 || seen[m] {
			t.Fatalf("card %d number %s", i, m)
		}
		seen[m] = true
		if got, ok := f.Lookup(m); !ok || got.Index() != i {
			t.Fatalf("Lookup(%s) = %v", m, ok)
		}
		if id := c.ICCID(); len(id) != 19 || luhn(id[:18]) != int(id[18]-'0') || !applet.ValidICCID(id) {
			t.Fatalf("ICCID %s", id)
		}
		if u := c.UserID(); len(u) != 6 || !digits(u) {
			t.Fatalf("User ID %s", u)
		}
	}
	if _, err := New(Options{Cards: 9_000_001, Prefixes: []string{"99450"}}); err == nil {
		t.Fatal("a farm whose numbers overflow 12 digits was created")
	}
	if _, err := New(Options{Prefixes: []string{"9945"}}); err == nil {
		t.Fatal("a 4-digit prefix was accepted")
	}
	if _, ok := f.Lookup("994701000004"); ok {
		t.Fatal("number past the last card found")
	}
	if luhn("7992739871") != 3 {
		t.Fatal("Luhn check digit")
	}
	// Deterministic: the same seed gives the same User IDs.
	f2, _ := New(Options{Cards: 7, Seed: []byte("x")})
	if f2.Card(3).UserID() != f.Card(3).UserID() {
		t.Fatal("User ID not deterministic")
	}
}

func TestRecordAndKeyPool(t *testing.T) {
	f, err := New(Options{Cards: 1000, Seed: []byte("p"), KeyPool: 4})
	if err != nil {
		t.Fatal(err)
	}
	r, err := f.Record(5) // pool entry 1: DefaultProfile adds a business key
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Certificates) != 3 || r.Certificates[2].Kind != testca.Business || len(r.Certificates[2].VOEN) != 10 {
		t.Fatalf("record %+v", r.Certificates)
	}
	again, _ := f.Record(5)
	if string(again.Certificates[1].DER) != string(r.Certificates[1].DER) {
		t.Fatal("a card's certificates changed between calls")
	}
	r9, _ := f.Record(9)
	if string(r9.Certificates[0].DER) != string(r.Certificates[0].DER) {
		t.Fatal("pooled cards do not share certificates")
	}
	if r.MSISDN == r9.MSISDN || r.ICCID == r9.ICCID {
		t.Fatal("pooled cards share numbers")
	}
}

// TestFarm100k: a farm of 100,000 cards is created in well under the
// 2-second budget and every number resolves.
func TestCertificatesStable(t *testing.T) {
	f, _ := New(Options{Cards: 3, Seed: []byte("s")})
	a, err := f.Card(0).Certificates()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := f.Card(0).Certificates()
	if len(a) != 2 || string(a[0].DER) != string(b[0].DER) {
		t.Fatal("certificates re-issued on every call")
	}
}

func TestFarm100k(t *testing.T) {
	start := time.Now()
	f, err := New(Options{Cards: 100_000, Seed: []byte("big"), KeyPool: 16})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("creation took %v", d)
	}
	for _, i := range []int{0, 1, 2, 99_999, 54_321} {
		if c, ok := f.Lookup(f.Card(i).MSISDN()); !ok || c.Index() != i {
			t.Fatalf("card %d not found", i)
		}
	}
}

func BenchmarkNewFarm100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(Options{Cards: 100_000, Seed: []byte("big")}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleMTBusy: the card-side cost of one MT (reassembly, OTA
// open, counter, TLV parse) answered at once (busy, 08).
func BenchmarkHandleMTBusy(b *testing.B) {
	f, _ := New(Options{Cards: 1, Master: master, Behaviour: func(int) Behaviour { return Behaviour{Action: NoAnswer} }})
	c := f.Card(0)
	keys, _ := applet.DeriveCardKeys(master, c.ICCID())
	cmd := command(applet.OpAuthenticate, 1, sum256("x"))
	var cntr uint64 = 1
	segs, _ := applet.SealCommand(keys, cntr, &cmd, 0)
	_ = f.HandleMT(c.MSISDN(), segs[0], nil)
	b.ReportAllocs()
	for b.Loop() {
		cntr++
		segs, _ := applet.SealCommand(keys, cntr, &cmd, 0)
		_ = f.HandleMT(c.MSISDN(), segs[0], nil)
	}
}

func ExampleFarm_HandleMT() {
	f, _ := New(Options{Cards: 10, Seed: []byte("demo"),
		Behaviour: func(int) Behaviour { return Behaviour{Action: Approve, Delay: 10 * time.Millisecond} }})
	card := f.Card(0)
	keys, _ := applet.DeriveCardKeys(f.MasterKeys(), card.ICCID())
	h := sha256.Sum256([]byte("login"))
	cmd := applet.Command{TxnID: [8]byte{1}, Operation: applet.OpAuthenticate, KeyRef: 1, HashAlg: applet.HashSHA256,
		Hash: h[:], VerificationCode: applet.VerificationCode(h[:]), UserTimeout: 30}
	segs, _ := applet.SealCommand(keys, 1, &cmd, 0)
	got := make(chan []byte, 1)
	for _, s := range segs {
		_ = f.HandleMT(card.MSISDN(), s, func(ud []byte) { got <- ud })
	}
	mo, err := applet.OpenMO(keys, <-got)
	fmt.Println(mo.Kind, mo.Response.Status, mo.Response.SigAlg, err)
	// Output: reply OK ECDSA_P256 <nil>
}

// A farm personalised with key versions 3 (MT) and 5 (MO) answers a
// command sealed for version 3 with a reply that opens only with those
// versions, and refuses a command of the default version 1 with a PoR.
func TestKeyVersions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		v := applet.KeyVersions{MT: 3, MO: 5}
		tr, err := applet.NewTransport(v)
		if err != nil {
			t.Fatal(err)
		}
		f, err := New(Options{Cards: 2, Seed: []byte("versions"), Master: master, KeyVersions: v,
			Behaviour: func(int) Behaviour { return Behaviour{Action: Approve, Delay: time.Second} }})
		if err != nil {
			t.Fatal(err)
		}
		g := newGW(t, f, 1)
		cmd := command(applet.OpAuthenticate, 0x01, sum256("versions"))
		segs, err := tr.SealCommand(g.keys, 1, &cmd, 1)
		if err != nil {
			t.Fatal(err)
		}
		g.sendSegs(segs)
		synctest.Wait()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		g.mu.Lock()
		got := g.mo
		g.mo = nil
		g.mu.Unlock()
		if len(got) != 1 || got[0][8] != 0x52 || got[0][9] != 0x52 {
			t.Fatalf("%d MOs, first % x", len(got), got)
		}
		mo, err := tr.OpenMO(g.keys, got[0])
		if err != nil || mo.Kind != applet.MOReply || mo.Response.Status != applet.StatusOK {
			t.Fatalf("reply %+v: %v", mo, err)
		}
		if _, err := applet.OpenMO(g.keys, got[0]); !errors.Is(err, applet.ErrWrongKeySet) {
			t.Fatalf("default versions opened it: %v", err)
		}
		g.counter = 1
		g.send(cmd) // key version 1: not this card's MT key set
		if mo := g.one(); mo.Kind != applet.MOPoR || ota.Status(mo.PoRStatus) != ota.StatusUnidentifiedError {
			t.Fatalf("version 1 command: %+v", mo)
		}
	})
	if _, err := New(Options{Cards: 1, KeyVersions: applet.KeyVersions{MT: 2, MO: 2}}); !errors.Is(err, applet.ErrKeyVersion) {
		t.Fatalf("equal versions: %v", err)
	}
}
