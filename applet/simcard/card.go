package simcard

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/applet/ota"
	"github.com/imzagate/imzagate/applet/sms"
	"github.com/imzagate/imzagate/applet/testca"
)

// Action is what the scripted user does when the phone asks for a PIN.
type Action byte

// Actions.
const (
	Approve  Action = iota // enter the right PIN after Delay
	Cancel                 // press cancel after Delay
	WrongPIN               // enter a wrong PIN WrongTimes times (Delay each), then the right one if tries remain
	NoAnswer               // never answer: the command's user timeout runs out
)

// String names the action.
func (a Action) String() string {
	switch a {
	case Approve:
		return "approve"
	case Cancel:
		return "cancel"
	case WrongPIN:
		return "wrong-pin"
	case NoAnswer:
		return "no-answer"
	}
	return fmt.Sprintf("action %d", byte(a))
}

// Behaviour is a card's scripted user.
type Behaviour struct {
	Action     Action
	Delay      time.Duration // before each user step
	WrongTimes int           // WrongPIN: wrong entries before the right one
}

// Faults are card-level defects for end-to-end tests.
type Faults struct {
	// KeyMismatch signs with a key that does not match the certificate.
	KeyMismatch bool
	// BadChecksum corrupts the checksum of the card's replies.
	BadChecksum bool
	// WrongHash signs another value than the command's hash (its first
	// octet flipped) with the right key: the reply is authentic and
	// well formed, and only a check against the hash sent finds it.
	WrongHash bool
}

// Initial retry counters (docs/applet-protocol.md §5).
const (
	PINTries = 3
	PUKTries = 10
)

// Card is one simulated SIM. Its identity (MSISDN, ICCID, User ID) is
// computed from the farm seed and its index; its state is made on first
// use.
type Card struct {
	farm      *Farm
	index     int
	mu        sync.Mutex
	behaviour Behaviour
	faults    Faults
	st        *cardState
	// id holds the card's keys and certificates once made (without a
	// KeyPool). idMu is taken after mu, never before it.
	idMu sync.Mutex
	id   *identity
}

// cardState is the part of a card made on first use.
type cardState struct {
	keys      applet.CardKeys
	mt        *ota.Codec // for SPI 16 3A, the gateway's usual command
	mo        *ota.Codec
	reasm     *sms.Reassembler
	mtCounter uint64 // last accepted CNTR
	moCounter uint64 // last CNTR sent
	pin1      int
	pin2      int
	puk       int
	pending   *dialog // the operation waiting for the user, if any
}

// dialog is one operation waiting for the user.
type dialog struct {
	cmd    applet.Command
	timers []*time.Timer
	done   bool
	reply  func([]byte)
}

// Index returns the card's position in the farm.
func (c *Card) Index() int { return c.index }

// MSISDN returns the card's number, E.164 digits without '+'.
func (c *Card) MSISDN() string { return c.farm.msisdn(c.index) }

// ICCID returns the card's 19-digit ICCID (with its Luhn digit).
func (c *Card) ICCID() string { return iccid(c.index) }

// UserID returns the 6-digit User ID issued with the card's certificates.
func (c *Card) UserID() string { return c.farm.userID(c.index) }

// Behaviour returns the card's scripted user.
func (c *Card) Behaviour() Behaviour {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.behaviour
}

// SetBehaviour changes the scripted user for later commands.
func (c *Card) SetBehaviour(b Behaviour) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.behaviour = b
}

// SetFaults changes the card's faults.
func (c *Card) SetFaults(f Faults) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = f
}

// Tries returns the PIN1, PIN2 and PUK retry counters.
func (c *Card) Tries() (pin1, pin2, puk int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.state()
	if err != nil {
		return 0, 0, 0, err
	}
	return st.pin1, st.pin2, st.puk, nil
}

// SetTries sets the retry counters, as the handset would after PIN or PUK
// entries outside an operation (a PUK entry unblocks a PIN only there).
func (c *Card) SetTries(pin1, pin2, puk int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.state()
	if err != nil {
		return err
	}
	st.pin1, st.pin2, st.puk = clamp(pin1, PINTries), clamp(pin2, PINTries), clamp(puk, PUKTries)
	return nil
}

func clamp(v, hi int) int { return max(0, min(v, hi)) }

// Counters returns the last accepted MT counter and the last MO counter.
func (c *Card) Counters() (mt, mo uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st == nil {
		return 0, 0
	}
	return c.st.mtCounter, c.st.moCounter
}

// SetMTCounter sets the last MT counter the card accepted, as if the card
// had received commands the gateway no longer remembers (its Redis was
// restored from an old backup, or another platform used the card): a
// command with a counter not above it gets PoR "CNTR low". Tests use it
// for the gateway's resynchronisation.
func (c *Card) SetMTCounter(v uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.state()
	if err != nil {
		return err
	}
	st.mtCounter = v
	return nil
}

// Keys returns the card's OTA keys, derived from the farm's master keys.
func (c *Card) Keys() (applet.CardKeys, error) {
	return applet.DeriveCardKeys(c.farm.opts.Master, c.ICCID())
}

// Certificate describes one certificate on the card, for provisioning the
// gateway's registry.
type Certificate struct {
	KeyRef  byte
	Alg     applet.SigAlg
	Kind    testca.Kind
	VOEN    string // business and government only
	DER     []byte
	Expired bool
	Revoked bool
}

// Certificates returns the card's certificates, making its keys if needed.
func (c *Card) Certificates() ([]Certificate, error) {
	id, err := c.farm.identityOf(c.index)
	if err != nil {
		return nil, err
	}
	var out []Certificate
	for _, s := range id.slots {
		if s == nil {
			continue
		}
		ci := Certificate{KeyRef: s.spec.Ref, Alg: s.spec.Alg, Kind: s.spec.Kind, DER: s.cert.Raw,
			Expired: s.spec.Expired, Revoked: s.spec.Revoked}
		if s.spec.Kind != testca.Personal {
			for _, n := range s.cert.Subject.Names {
				if v, ok := n.Value.(string); ok && len(v) == 16 && v[:6] == "VATAZ-" {
					ci.VOEN = v[6:]
				}
			}
		}
		out = append(out, ci)
	}
	return out, nil
}

// Record is what the gateway's registry needs about a card.
type Record struct {
	MSISDN, ICCID, UserID string
	Behaviour             Behaviour
	Certificates          []Certificate
}

// Record returns card i's provisioning record.
func (f *Farm) Record(i int) (Record, error) {
	c := f.Card(i)
	if c == nil {
		return Record{}, fmt.Errorf("simcard: no card %d", i)
	}
	certs, err := c.Certificates()
	if err != nil {
		return Record{}, err
	}
	return Record{MSISDN: c.MSISDN(), ICCID: c.ICCID(), UserID: c.UserID(), Behaviour: c.Behaviour(), Certificates: certs}, nil
}

// state returns the card's state, making it on first use. c.mu is held.
func (c *Card) state() (*cardState, error) {
	if c.st != nil {
		return c.st, nil
	}
	keys, err := c.Keys()
	if err != nil {
		return nil, err
	}
	mt, err := c.farm.ota.MTCodec(keys)
	if err != nil {
		return nil, err
	}
	mo, err := c.farm.ota.MOCodec(keys)
	if err != nil {
		return nil, err
	}
	c.st = &cardState{keys: keys, mt: mt, mo: mo, pin1: PINTries, pin2: PINTries, puk: PUKTries,
		reasm: sms.NewReassembler(sms.ReassemblerOptions{MaxPending: 4})}
	return c.st, nil
}

func (c *Card) logger() *slog.Logger { return c.farm.log.With("card", c.index) }

// handleMT takes one MT segment; replies go out through deliver.
func (c *Card) handleMT(ud []byte, reply func([]byte)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := c.state()
	if err != nil {
		c.logger().Error("card state", "err", err)
		return
	}
	msg, ok, err := st.reasm.Add(ud, time.Now())
	if err != nil {
		// The handset drops what it cannot parse as a (U)SIM data download.
		c.logger().Warn("MT dropped", "err", err)
		return
	}
	if !ok || msg.Packet != sms.IEICommand {
		return
	}
	c.processPacket(st, msg.Data, reply)
}

// sendPoR sends a response packet if SPI2 asks for one by SMS-SUBMIT.
// secured says whether it is secured as SPI2 asks (needs codec) or sent in
// clear (statuses 06 and 09, or no usable keys).
func (c *Card) sendPoR(spi ota.SPI, codec *ota.Codec, cntr uint64, status ota.Status, reply func([]byte)) {
	mode := spi.PoR()
	if mode == ota.PoRNone || status == ota.StatusOK && mode != ota.PoRAlways || !spi.PoRBySubmit() {
		// Without b6 the PoR would ride in the SMS-DELIVER-REPORT, which
		// an SMPP client never sees.
		return
	}
	var (
		por []byte
		err error
	)
	if codec != nil {
		por, err = codec.SealResponse(nil, cntr, status, nil)
	} else {
		por, err = ota.AppendUnsecuredResponse(nil, applet.TAR, cntr, status, nil)
	}
	if err != nil {
		c.logger().Error("PoR", "err", err)
		return
	}
	c.logger().Info("PoR", "status", status.String())
	segs, err := sms.Segment(sms.IEIResponse, por, 0, false)
	if err != nil {
		return
	}
	deliver(segs, reply)
}

// deliver hands segments to the SMSC from another goroutine: the caller
// may hold locks of its own while it calls HandleMT.
func deliver(segs [][]byte, reply func([]byte)) {
	go func() {
		for _, s := range segs {
			reply(s)
		}
	}()
}

// processPacket is the card's OTA layer (ETSI TS 102 225 §5, the order of
// checks of the package comment).
func (c *Card) processPacket(st *cardState, pkt []byte, reply func([]byte)) {
	h, err := ota.ParseHeader(pkt)
	if err != nil {
		if len(pkt) >= 5 {
			c.sendPoR(ota.SPI{pkt[3], pkt[4]}, nil, 0, ota.StatusUnidentifiedError, reply)
		}
		return
	}
	if h.TAR != applet.TAR {
		c.sendPoR(h.SPI, nil, 0, ota.StatusTARUnknown, reply)
		return
	}
	if mt := c.farm.ota.MTParams(); h.KIc != mt.KIc || h.KID != mt.KID {
		c.sendPoR(h.SPI, nil, 0, ota.StatusUnidentifiedError, reply)
		return
	}
	codec := st.mt
	if h.SPI != applet.SPIMT {
		p := c.farm.ota.MTParams()
		p.SPI = h.SPI
		if codec, err = ota.NewCodec(p, ota.Keys{KIc: st.keys.KIc[:], KID: st.keys.KID[:]}); err != nil {
			c.sendPoR(h.SPI, nil, 0, ota.StatusUnidentifiedError, reply)
			return
		}
	}
	cmd, err := codec.OpenCommand(pkt)
	switch {
	case err == ota.ErrChecksum:
		c.sendPoR(h.SPI, codec, cmd.Counter, ota.StatusChecksumFailed, reply)
		return
	case errors.Is(err, ota.ErrHeaderLength):
		// A CHL that does not fit the algorithm: the header is not
		// understood, so the PoR cannot be secured.
		c.sendPoR(h.SPI, nil, 0, ota.StatusUnidentifiedError, reply)
		return
	case err != nil:
		c.sendPoR(h.SPI, codec, cmd.Counter, ota.StatusCipheringError, reply)
		return
	}
	if !h.SPI.CommandCiphered() || h.SPI.CommandIntegrity() != ota.IntegrityCC || h.SPI.Counter() < ota.CounterHigher {
		c.sendPoR(h.SPI, codec, cmd.Counter, ota.StatusInsufficientSecurity, reply)
		return
	}
	if err := ota.CheckCounter(h.SPI.Counter(), cmd.Counter, st.mtCounter); err != nil {
		c.logger().Info("MT counter rejected", "err", err)
		c.sendPoR(h.SPI, codec, cmd.Counter, ota.CounterStatus(err), reply)
		return
	}
	st.mtCounter = cmd.Counter
	c.sendPoR(h.SPI, codec, cmd.Counter, ota.StatusOK, reply)
	c.runApplet(st, cmd.Data, reply)
}

// runApplet is the signing applet (docs/applet-protocol.md §3–§5).
func (c *Card) runApplet(st *cardState, data []byte, reply func([]byte)) {
	cmd, err := applet.ParseCommand(data)
	if err != nil {
		c.logger().Info("bad request", "err", err)
		c.answer(st, applet.Response{TxnID: applet.TxnIDOf(data), Status: applet.StatusBadRequest, PINTriesLeft: -1}, reply)
		return
	}
	if applet.VerificationCode(cmd.Hash) != cmd.VerificationCode {
		c.answer(st, applet.Response{TxnID: cmd.TxnID, Status: applet.StatusBadRequest, PINTriesLeft: -1}, reply)
		return
	}
	pin := &st.pin1
	if cmd.Operation == applet.OpSign {
		pin = &st.pin2
	}
	resp := applet.Response{TxnID: cmd.TxnID, PINTriesLeft: *pin}
	specs, err := c.farm.profile(c.profileIndex())
	if err != nil {
		resp.Status = applet.StatusInternalError
		c.answer(st, resp, reply)
		return
	}
	hasKey := false
	for _, s := range specs {
		hasKey = hasKey || s.Ref == cmd.KeyRef
	}
	switch {
	case st.pending != nil:
		resp.Status = applet.StatusBusy
	case st.puk == 0:
		resp.Status = applet.StatusCardBlocked
	case !hasKey:
		resp.Status = applet.StatusNoSuchKey
	case *pin == 0:
		resp.Status = applet.StatusPINBlocked
	}
	if resp.Status != applet.StatusOK {
		c.answer(st, resp, reply)
		return
	}
	c.startDialog(st, cmd, reply)
}

func (c *Card) profileIndex() int {
	if n := len(c.farm.pool); n > 0 {
		return c.index % n
	}
	return c.index
}

// startDialog runs the scripted user. Every step runs on a timer; the
// user timeout runs on its own and whichever comes first answers.
func (c *Card) startDialog(st *cardState, cmd applet.Command, reply func([]byte)) {
	d := &dialog{cmd: cmd, reply: reply}
	st.pending = d
	d.timers = append(d.timers, time.AfterFunc(time.Duration(cmd.UserTimeout)*time.Second, func() {
		c.finish(d, func(st *cardState) applet.Response {
			return applet.Response{TxnID: cmd.TxnID, Status: applet.StatusTimeout, PINTriesLeft: c.pinOf(st, cmd.Operation)}
		})
	}))
	b := c.behaviour
	switch b.Action {
	case NoAnswer:
	case Cancel:
		d.timers = append(d.timers, time.AfterFunc(b.Delay, func() {
			c.finish(d, func(st *cardState) applet.Response {
				return applet.Response{TxnID: cmd.TxnID, Status: applet.StatusUserCancelled, PINTriesLeft: c.pinOf(st, cmd.Operation)}
			})
		}))
	default:
		wrong := 0
		if b.Action == WrongPIN {
			wrong = b.WrongTimes
		}
		c.scheduleEntry(d, b.Delay, wrong)
	}
}

func (c *Card) pinOf(st *cardState, op applet.Operation) int {
	if op == applet.OpSign {
		return st.pin2
	}
	return st.pin1
}

// scheduleEntry schedules the user's next PIN entry, wrong ones first.
// c.mu is held.
func (c *Card) scheduleEntry(d *dialog, delay time.Duration, wrongLeft int) {
	d.timers = append(d.timers, time.AfterFunc(delay, func() { c.pinEntry(d, delay, wrongLeft) }))
}

// pinEntry is one PIN entry by the user. A wrong one costs a try and the
// applet asks again within the same command; at zero the PIN is blocked.
func (c *Card) pinEntry(d *dialog, delay time.Duration, wrongLeft int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.done {
		return
	}
	st := c.st
	if wrongLeft == 0 {
		c.finishLocked(d, c.sign(st, d.cmd))
		return
	}
	pin := &st.pin1
	if d.cmd.Operation == applet.OpSign {
		pin = &st.pin2
	}
	*pin--
	if *pin > 0 {
		c.scheduleEntry(d, delay, wrongLeft-1)
		return
	}
	c.finishLocked(d, applet.Response{TxnID: d.cmd.TxnID, Status: applet.StatusPINBlocked, PINTriesLeft: 0})
}

// sign is the right PIN entry: the count resets and the key signs. c.mu
// is held.
func (c *Card) sign(st *cardState, cmd applet.Command) applet.Response {
	resp := applet.Response{TxnID: cmd.TxnID, PINTriesLeft: PINTries}
	if cmd.Operation == applet.OpSign {
		st.pin2 = PINTries
	} else {
		st.pin1 = PINTries
	}
	id, err := c.farm.identityOf(c.index)
	if err != nil || id.slots[cmd.KeyRef] == nil {
		c.logger().Error("signing key", "err", err)
		resp.Status = applet.StatusInternalError
		return resp
	}
	s := id.slots[cmd.KeyRef]
	if c.faults.KeyMismatch {
		s = s.wrong
	}
	hash := cmd.Hash
	if c.faults.WrongHash {
		hash = append([]byte{hash[0] ^ 0xFF}, hash[1:]...)
	}
	sig, err := s.sign(hash)
	if err != nil {
		resp.Status = applet.StatusInternalError
		return resp
	}
	resp.Status, resp.SigAlg, resp.Signature = applet.StatusOK, s.spec.Alg, sig
	return resp
}

// finish ends a dialog once, with the response build makes.
func (c *Card) finish(d *dialog, build func(*cardState) applet.Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d.done {
		return
	}
	c.finishLocked(d, build(c.st))
}

// finishLocked stops the dialog's timers, frees the applet and answers.
// c.mu is held.
func (c *Card) finishLocked(d *dialog, resp applet.Response) {
	if d.done {
		return
	}
	d.done = true
	c.st.pending = nil
	for _, t := range d.timers {
		t.Stop()
	}
	c.answer(c.st, resp, d.reply)
}

// answer seals resp as the card's next MO and sends it. c.mu is held.
func (c *Card) answer(st *cardState, resp applet.Response, reply func([]byte)) {
	st.moCounter++
	segs, err := c.farm.ota.SealMO(st.keys, st.moCounter, &resp, byte(st.moCounter))
	if err != nil {
		c.logger().Error("seal reply", "err", err)
		return
	}
	if c.faults.BadChecksum {
		// The last octet of the packet is ciphered data inside the
		// checksum: flipping it makes the reply fail its check.
		last := segs[len(segs)-1]
		last[len(last)-1] ^= 0x5A
	}
	c.logger().Info("reply", "status", resp.Status.String(), "segments", len(segs))
	deliver(segs, reply)
}
