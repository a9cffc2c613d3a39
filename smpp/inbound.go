package smpp

import (
	"context"
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
	// Err is the "err:" field of the receipt text (SMPP 3.4 Appendix B:
	// a network or SMSC specific code, three digits), or, without one,
	// the network_error_code TLV's code in decimal.
	Err string
	// NetworkError is the network_error_code TLV (0x0423), when present.
	NetworkError NetworkError
}

// NetworkType is the first octet of network_error_code (SMPP 3.4
// §5.3.2.31): which network's numbering the error code uses.
type NetworkType byte

// Network types of network_error_code.
const (
	NetANSI136AccessDenied NetworkType = 1 // ANSI-136 access denied reason
	NetIS95AccessDenied    NetworkType = 2 // IS-95 access denied reason
	NetGSM                 NetworkType = 3 // GSM: a MAP error (3GPP TS 29.002) as most SMSCs report it
	NetANSI136Cause        NetworkType = 4 // ANSI-136 cause code
	NetIS95Cause           NetworkType = 5 // IS-95 cause code
	NetANSI41              NetworkType = 6 // ANSI-41 error
	NetSMPP                NetworkType = 7 // an SMPP command_status
	NetMessageCenter       NetworkType = 8 // message centre specific
)

// NetworkError is a receipt's network_error_code: the network type and a
// 2-octet error code whose meaning depends on it. The zero value means
// the receipt carried none.
type NetworkError struct {
	Type NetworkType
	Code uint16
}

// IsZero reports whether the receipt carried no network error code.
func (n NetworkError) IsZero() bool { return n.Type == 0 }

// String prints "type/code", e.g. "3/27" for a GSM absent subscriber.
func (n NetworkError) String() string {
	if n.IsZero() {
		return "none"
	}
	return strconv.Itoa(int(n.Type)) + "/" + strconv.Itoa(int(n.Code))
}

// ParseNetworkErrorCode reads the 3-octet value of network_error_code
// (SMPP 3.4 §5.3.2.31). A network type of 0, which no network has, is
// malformed like a wrong length.
func ParseNetworkErrorCode(v []byte) (NetworkError, error) {
	if len(v) != 3 {
		return NetworkError{}, fmt.Errorf("smpp: network_error_code of %d octets, want 3: %w", len(v), ErrBadValue)
	}
	if v[0] == 0 {
		return NetworkError{}, fmt.Errorf("smpp: network_error_code with network type 0: %w", ErrBadValue)
	}
	return NetworkError{Type: NetworkType(v[0]), Code: binary.BigEndian.Uint16(v[1:])}, nil
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

// asciiLower and asciiUpper change the case of ASCII letters only, so the
// result has the same length and offsets as s even for invalid UTF-8
// (strings.ToLower would replace such bytes and shift offsets).
func asciiLower(s string) string { return asciiCase(s, 'A', 'Z', 'a'-'A') }
func asciiUpper(s string) string { return asciiCase(s, 'a', 'z', 'A'-'a') }

func asciiCase(s string, lo, hi byte, delta int) string {
	b := []byte(s)
	for i, c := range b {
		if lo <= c && c <= hi {
			b[i] = byte(int(c) + delta)
		}
	}
	return string(b)
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
	lower := asciiLower(t)
	id, ok := tlvs.ReceiptedMessageID()
	if !ok || id == "" {
		id, ok = receiptField(t, lower, "id:")
	}
	if !ok || id == "" {
		return r, fmt.Errorf("smpp: receipt: no message id: %w", ErrBadValue)
	}
	if r.MessageID = NormalizeMessageID(id, f); r.MessageID == "" {
		return r, fmt.Errorf("smpp: receipt: blank message id: %w", ErrBadValue)
	}
	stat, statOK := receiptField(t, lower, "stat:")
	r.Stat = asciiUpper(stat)
	if st, ok := tlvs.MessageState(); ok {
		// The TLV is authoritative; keep Stat consistent with it.
		r.State = st
		r.Stat = st.String()
	} else if statOK {
		r.State = ParseMessageState(r.Stat)
	} else {
		return r, fmt.Errorf("smpp: receipt %s: no state: %w", r.MessageID, ErrBadValue)
	}
	if v, ok := tlvs.Get(TagNetworkErrorCode); ok {
		// A malformed code is left out rather than losing the receipt:
		// its state still tells delivered from failed.
		r.NetworkError, _ = ParseNetworkErrorCode(v)
	}
	if e, ok := receiptField(t, lower, "err:"); ok {
		r.Err = e
	} else if !r.NetworkError.IsZero() {
		r.Err = fmt.Sprintf("%03d", r.NetworkError.Code)
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

// SegmentStore holds the parts of concatenated MOs until every part has
// arrived. The default keeps them in this process's memory, bounded and with
// an expiry. A shared implementation (for example in Redis) lets a gateway
// instance complete a message whose parts an SMSC delivered to several
// instances.
type SegmentStore interface {
	// Add stores part seq (1..total) of the message identified by key,
	// from source (the MO's source address), and returns every part in
	// order once all are present, else nil. Storing a part twice is
	// harmless. An error wrapping ErrSegmentRefused makes the pool
	// acknowledge the part and forget it; ErrBadValue answers
	// ESME_RX_P_APPN; any other error ESME_RX_T_APPN.
	Add(ctx context.Context, source, key string, total, seq int, part []byte) ([][]byte, error)
	// Done forgets the message once it has been handled.
	Done(ctx context.Context, source, key string) error
}

// ErrTooManyPartials: the memory SegmentStore is full.
var ErrTooManyPartials = errors.New("smpp: too many partial messages")

// ErrSegmentRefused: the SegmentStore will not keep parts from this
// source (not a subscriber). The part is acknowledged, so the SMSC does
// not redeliver it, and dropped.
var ErrSegmentRefused = errors.New("smpp: concatenated part refused")

type partial struct {
	parts   [][]byte // index seq-1
	have    int
	created time.Time
}

// memSegments is the default SegmentStore: bounded in count and age.
type memSegments struct {
	mu        sync.Mutex
	m         map[string]*partial
	max       int
	ttl       time.Duration
	lastSweep time.Time
	now       func() time.Time
	expired   func(n int)
}

func newMemSegments(max int, ttl time.Duration, expired func(int)) *memSegments {
	return &memSegments{m: map[string]*partial{}, max: max, ttl: ttl, now: time.Now, expired: expired}
}

// Add implements SegmentStore.
func (r *memSegments) Add(_ context.Context, _, key string, total, seq int, part []byte) ([][]byte, error) {
	if total < 1 || total > 255 || seq < 1 || seq > total {
		return nil, fmt.Errorf("smpp: concatenation: part %d of %d: %w", seq, total, ErrBadValue)
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) > r.ttl/10 {
		r.lastSweep = now
		n := 0
		for k, p := range r.m {
			if now.Sub(p.created) > r.ttl {
				delete(r.m, k)
				n++
			}
		}
		if n > 0 && r.expired != nil {
			r.expired(n)
		}
	}
	p := r.m[key]
	if p == nil {
		if len(r.m) >= r.max {
			return nil, ErrTooManyPartials
		}
		p = &partial{parts: make([][]byte, total), created: now}
		r.m[key] = p
	}
	if len(p.parts) != total {
		return nil, fmt.Errorf("smpp: concatenation: total %d, first seen %d: %w", total, len(p.parts), ErrBadValue)
	}
	if p.parts[seq-1] == nil {
		p.have++
	}
	p.parts[seq-1] = append([]byte{}, part...)
	if p.have < total {
		return nil, nil
	}
	return append([][]byte(nil), p.parts...), nil
}

// Done implements SegmentStore.
func (r *memSegments) Done(_ context.Context, _, key string) error {
	r.mu.Lock()
	delete(r.m, key)
	r.mu.Unlock()
	return nil
}

// segmentKey names one concatenated message: operator, originator, kind of
// concatenation, reference and part count.
func segmentKey(operator, source string, kind byte, ref uint16, total byte) string {
	return fmt.Sprintf("%s|%s|%02x|%d|%d", operator, source, kind, ref, total)
}

// packPart stores a part's non-concatenation IEs with its body:
// len(IEs) ‖ IEs ‖ body. A UDH holds at most 255 octets, so one length octet
// is enough.
func packPart(ies, body []byte) []byte {
	out := make([]byte, 0, 1+len(ies)+len(body))
	out = append(out, byte(len(ies)))
	out = append(out, ies...)
	return append(out, body...)
}

// joinParts rebuilds the TP-UD from packed parts: part 1's IEs (if any) as
// the UDH, then every body in order. udh reports whether a UDH is present.
func joinParts(parts [][]byte) (ud []byte, udh bool, err error) {
	var ies []byte
	n := 0
	for i, p := range parts {
		if len(p) < 1 || 1+int(p[0]) > len(p) {
			return nil, false, fmt.Errorf("smpp: concatenation: stored part %d malformed: %w", i+1, ErrBadValue)
		}
		if i == 0 {
			ies = p[1 : 1+int(p[0])]
		}
		n += len(p) - 1 - int(p[0])
	}
	body := make([]byte, 0, n)
	for _, p := range parts {
		body = append(body, p[1+int(p[0]):]...)
	}
	return buildUD(ies, body), len(ies) > 0, nil
}
