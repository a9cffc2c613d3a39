package smpp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ESM class bits (SMPP 3.4 §5.2.12).
const (
	// ESMClassUDHI: the user data starts with a UDH (bit 6).
	ESMClassUDHI = 0x40
	// esmReceiptMask: SMSC delivery receipt (0x04), SME delivery ack (0x08)
	// and intermediate notification (0x20). Any of them means "not an MO";
	// Kannel masks exactly these.
	esmReceiptMask = 0x04 | 0x08 | 0x20
)

// IsReceipt reports whether a deliver_sm/data_sm esm_class marks a receipt
// or acknowledgement rather than a mobile-originated message.
func IsReceipt(esmClass byte) bool { return esmClass&esmReceiptMask != 0 }

// MO is a complete mobile-originated message. Concatenation is already
// undone: UserData is one TP-UD whose UDH (if any) no longer holds a
// concatenation IE, e.g. 02 71 00 ‖ response packet.
type MO struct {
	Operator   string
	Source     string // the handset's MSISDN
	Dest       string
	ESMClass   byte // UDHI cleared when no UDH is left
	ProtocolID byte
	DataCoding byte
	UserData   []byte
}

// Receipt is a delivery receipt for a message we submitted.
type Receipt struct {
	Operator  string
	Source    string // the handset's MSISDN
	Dest      string
	MessageID string // normalised, comparable with Submit's ids
	State     MessageState
	Stat      string // DELIVRD, UNDELIV, EXPIRED, …
	Err       string
}

// IDFormat says how an SMSC writes message ids, so that submit_sm_resp ids
// and receipt ids can be compared (some SMSCs answer hex and report decimal;
// Kannel's msg-id-type).
type IDFormat int

// ID formats.
const (
	// IDString: compare as text (trimmed, lower case). The default.
	IDString IDFormat = iota
	// IDHex: a hexadecimal number; normalised to its decimal value.
	IDHex
	// IDDecimal: a decimal number; normalised without leading zeros.
	IDDecimal
)

// NormalizeMessageID returns the canonical form of id written in format f.
// Numbers (IDHex, IDDecimal) become their decimal value, so a hex id from
// submit_sm_resp equals the same id in decimal from a receipt. Unparseable
// ids fall back to the IDString form.
func NormalizeMessageID(id string, f IDFormat) string {
	id = strings.ToLower(strings.TrimSpace(strings.TrimRight(id, "\x00")))
	switch f {
	case IDHex:
		if v, err := strconv.ParseUint(id, 16, 64); err == nil {
			return strconv.FormatUint(v, 10)
		}
	case IDDecimal:
		if v, err := strconv.ParseUint(id, 10, 64); err == nil {
			return strconv.FormatUint(v, 10)
		}
	}
	return id
}

// receiptField returns the value after key (e.g. "stat:") in a receipt text
// (SMPP 3.4 appendix B), up to the next space. Keys match case-insensitively
// and only at the start of a word.
func receiptField(text, lower, key string) (string, bool) {
	for off := 0; off < len(lower); {
		i := strings.Index(lower[off:], key)
		if i < 0 {
			return "", false
		}
		i += off
		if i == 0 || lower[i-1] == ' ' {
			v := text[i+len(key):]
			if j := strings.IndexByte(v, ' '); j >= 0 {
				v = v[:j]
			}
			return v, true
		}
		off = i + len(key)
	}
	return "", false
}

// ParseReceipt extracts a receipt from a deliver_sm or data_sm body:
// receipted_message_id and message_state TLVs first, then the
// "id:… stat:… err:…" text. The id is normalised with f.
func ParseReceipt(text []byte, tlvs TLVs, f IDFormat) (Receipt, error) {
	var r Receipt
	t := string(text)
	if len(t) > 512 {
		t = t[:512]
	}
	lower := strings.ToLower(t)
	id, ok := tlvs.ReceiptedMessageID()
	if !ok || id == "" {
		id, ok = receiptField(t, lower, "id:")
	}
	if !ok || id == "" {
		return r, fmt.Errorf("smpp: receipt: no message id: %w", ErrBadValue)
	}
	r.MessageID = NormalizeMessageID(id, f)
	stat, statOK := receiptField(t, lower, "stat:")
	r.Stat = strings.ToUpper(stat)
	if st, ok := tlvs.MessageState(); ok {
		// The TLV is authoritative; keep Stat consistent with it.
		r.State = st
		r.Stat = st.String()
	} else if statOK {
		r.State = ParseMessageState(r.Stat)
	} else {
		return r, fmt.Errorf("smpp: receipt %s: no state: %w", r.MessageID, ErrBadValue)
	}
	if e, ok := receiptField(t, lower, "err:"); ok {
		r.Err = e
	} else if _, code, ok := tlvs.NetworkErrorCode(); ok {
		r.Err = fmt.Sprintf("%03d", code)
	}
	return r, nil
}

// concat identifies one part of a concatenated message.
type concat struct {
	ref        uint16
	total, seq byte
	kind       byte // 0x00, 0x08 (UDH IEI) or 's' (sar_* TLVs)
	present    bool
}

// splitUDH parses a TP-UD with UDHI set: it returns the IEs other than a
// concatenation IE, the concatenation IE if present (IEI 0x00: 8-bit
// reference; 0x08: 16-bit reference; 3GPP TS 23.040 §9.2.3.24.1/.8) and the
// body after the UDH.
func splitUDH(ud []byte) (others []byte, c concat, body []byte, err error) {
	if len(ud) == 0 {
		return nil, c, nil, fmt.Errorf("smpp: udh: empty user data: %w", ErrBadValue)
	}
	udhl := int(ud[0])
	if 1+udhl > len(ud) {
		return nil, c, nil, fmt.Errorf("smpp: udh: length %d beyond %d octets: %w", udhl, len(ud), ErrOverflow)
	}
	ies := ud[1 : 1+udhl]
	for len(ies) > 0 {
		if len(ies) < 2 || 2+int(ies[1]) > len(ies) {
			return nil, c, nil, fmt.Errorf("smpp: udh: IE overflow: %w", ErrOverflow)
		}
		iei, d := ies[0], ies[2:2+int(ies[1])]
		switch {
		case iei == 0x00 && len(d) == 3 && !c.present:
			c = concat{ref: uint16(d[0]), total: d[1], seq: d[2], kind: 0x00, present: true}
		case iei == 0x08 && len(d) == 4 && !c.present:
			c = concat{ref: binary.BigEndian.Uint16(d), total: d[2], seq: d[3], kind: 0x08, present: true}
		case iei == 0x00 || iei == 0x08:
			return nil, c, nil, fmt.Errorf("smpp: udh: bad concatenation IE 0x%02x: %w", iei, ErrBadValue)
		default:
			others = append(others, ies[:2+len(d)]...)
		}
		ies = ies[2+len(d):]
	}
	return others, c, ud[1+udhl:], nil
}

// buildUD rebuilds a TP-UD from IEs and a body; without IEs there is no UDH.
func buildUD(ies, body []byte) []byte {
	if len(ies) == 0 {
		return append([]byte(nil), body...)
	}
	out := make([]byte, 0, 1+len(ies)+len(body))
	out = append(out, byte(len(ies)))
	out = append(out, ies...)
	return append(out, body...)
}

type reasmKey struct {
	operator, source string
	ref              uint16
	total, kind      byte
}

type partial struct {
	parts   [][]byte // body of each part, index seq-1
	have    int
	ies     []byte // non-concatenation IEs of part 1
	created time.Time
}

// reassembler holds parts of concatenated MOs, keyed by (operator, source,
// reference, total, kind), bounded in count and age.
type reassembler struct {
	mu        sync.Mutex
	m         map[reasmKey]*partial
	max       int
	ttl       time.Duration
	lastSweep time.Time
	expired   func(n int)
}

var errReassemblyFull = errors.New("smpp: too many partial messages")

// add stores one part and returns the full user data once every part is
// present. The entry stays until done is called so that a failed delivery
// of the last part can be completed by its redelivery.
func (r *reassembler) add(k reasmKey, seq byte, ies, body []byte, now time.Time) (whole []byte, udh bool, err error) {
	if k.total == 0 || seq == 0 || seq > k.total {
		return nil, false, fmt.Errorf("smpp: concatenation: part %d of %d: %w", seq, k.total, ErrBadValue)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) > r.ttl/10 {
		r.lastSweep = now
		n := 0
		for key, p := range r.m {
			if now.Sub(p.created) > r.ttl {
				delete(r.m, key)
				n++
			}
		}
		if n > 0 && r.expired != nil {
			r.expired(n)
		}
	}
	p := r.m[k]
	if p == nil {
		if len(r.m) >= r.max {
			return nil, false, errReassemblyFull
		}
		p = &partial{parts: make([][]byte, k.total), created: now}
		r.m[k] = p
	}
	if p.parts[seq-1] == nil {
		p.have++
	}
	p.parts[seq-1] = append([]byte{}, body...)
	if seq == 1 {
		p.ies = append([]byte(nil), ies...)
	}
	if p.have < int(k.total) {
		return nil, false, nil
	}
	n := 0
	for _, b := range p.parts {
		n += len(b)
	}
	body = make([]byte, 0, n)
	for _, b := range p.parts {
		body = append(body, b...)
	}
	return buildUD(p.ies, body), len(p.ies) > 0, nil
}

func (r *reassembler) done(k reasmKey) {
	r.mu.Lock()
	delete(r.m, k)
	r.mu.Unlock()
}
