package smpp

import (
	"encoding/binary"
	"fmt"
)

// TLVTag is an optional parameter tag (SMPP 3.4 §5.3.2).
type TLVTag uint16

// TLV tags with a typed accessor or a length check. Others are kept as raw
// TLVs, unchanged, when a PDU is decoded and re-encoded.
const (
	// TagReceiptedMessageID: C-octet string ≤ 65 octets, the SMSC message id a
	// receipt refers to (§5.3.2.12).
	TagReceiptedMessageID TLVTag = 0x001E
	// TagUserMessageReference: 2 octets, the ESME's reference (§5.3.2.17).
	TagUserMessageReference TLVTag = 0x0204
	// TagDestAddrSubunit: 1 octet, 1 MS display, 2 mobile equipment, 3 SIM
	// (§5.3.2.1).
	TagDestAddrSubunit TLVTag = 0x0005
	// TagSarMsgRefNum: 2 octets, concatenation reference (§5.3.2.22).
	TagSarMsgRefNum TLVTag = 0x020C
	// TagSarTotalSegments: 1 octet, number of parts (§5.3.2.23).
	TagSarTotalSegments TLVTag = 0x020E
	// TagSarSegmentSeqnum: 1 octet, this part's number from 1 (§5.3.2.24).
	TagSarSegmentSeqnum TLVTag = 0x020F
	// TagSCInterfaceVersion: 1 octet, in bind responses (§5.3.2.25).
	TagSCInterfaceVersion TLVTag = 0x0210
	// TagNetworkErrorCode: 3 octets, network type then 2-octet code (§5.3.2.31).
	TagNetworkErrorCode TLVTag = 0x0423
	// TagMessagePayload: up to 64 KiB of user data instead of short_message
	// (§5.3.2.32).
	TagMessagePayload TLVTag = 0x0424
	// TagMoreMessagesToSend: 1 octet (§5.3.2.34).
	TagMoreMessagesToSend TLVTag = 0x0426
	// TagMessageState: 1 octet MessageState (§5.3.2.35).
	TagMessageState TLVTag = 0x0427
)

// String names known tags; others print as hex. Used in field errors.
func (t TLVTag) String() string {
	switch t {
	case TagReceiptedMessageID:
		return "receipted_message_id"
	case TagUserMessageReference:
		return "user_message_reference"
	case TagDestAddrSubunit:
		return "dest_addr_subunit"
	case TagSarMsgRefNum:
		return "sar_msg_ref_num"
	case TagSarTotalSegments:
		return "sar_total_segments"
	case TagSarSegmentSeqnum:
		return "sar_segment_seqnum"
	case TagSCInterfaceVersion:
		return "sc_interface_version"
	case TagNetworkErrorCode:
		return "network_error_code"
	case TagMessagePayload:
		return "message_payload"
	case TagMoreMessagesToSend:
		return "more_messages_to_send"
	case TagMessageState:
		return "message_state"
	}
	return fmt.Sprintf("tlv_0x%04x", uint16(t))
}

// checkLen enforces the sizes fixed by SMPP 3.4 §5.3.2 for the tags we read.
func (t TLVTag) checkLen(n int) error {
	want := 0
	switch t {
	case TagDestAddrSubunit, TagSarTotalSegments, TagSarSegmentSeqnum, TagSCInterfaceVersion,
		TagMoreMessagesToSend, TagMessageState:
		want = 1
	case TagUserMessageReference, TagSarMsgRefNum:
		want = 2
	case TagNetworkErrorCode:
		want = 3
	case TagReceiptedMessageID:
		if n > 65 {
			return ErrTooLong
		}
		return nil
	default:
		return nil
	}
	if n != want {
		return fmt.Errorf("%w: %d octets, want %d", ErrBadLength, n, want)
	}
	return nil
}

// TLV is one optional parameter, kept generically so unknown tags survive a
// decode/encode round trip.
type TLV struct {
	Tag   TLVTag
	Value []byte
}

// TLVs is the optional-parameter list of a PDU, in wire order.
type TLVs []TLV

// Get returns the value of the first TLV with the tag.
func (t TLVs) Get(tag TLVTag) ([]byte, bool) {
	for _, v := range t {
		if v.Tag == tag {
			return v.Value, true
		}
	}
	return nil, false
}

// Has reports whether a TLV with the tag is present.
func (t TLVs) Has(tag TLVTag) bool {
	_, ok := t.Get(tag)
	return ok
}

// Set replaces the first TLV with the tag or appends one.
func (t *TLVs) Set(tag TLVTag, value []byte) {
	for i, v := range *t {
		if v.Tag == tag {
			(*t)[i].Value = value
			return
		}
	}
	*t = append(*t, TLV{Tag: tag, Value: value})
}

func (t TLVs) u8(tag TLVTag) (byte, bool) {
	v, ok := t.Get(tag)
	if !ok || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

func (t TLVs) u16(tag TLVTag) (uint16, bool) {
	v, ok := t.Get(tag)
	if !ok || len(v) != 2 {
		return 0, false
	}
	return binary.BigEndian.Uint16(v), true
}

// MessagePayload returns the message_payload TLV (0x0424).
func (t TLVs) MessagePayload() ([]byte, bool) { return t.Get(TagMessagePayload) }

// SAR returns the sar_msg_ref_num, sar_total_segments and sar_segment_seqnum
// TLVs; ok is false unless all three are present with valid sizes.
func (t TLVs) SAR() (ref uint16, total, seq byte, ok bool) {
	ref, ok1 := t.u16(TagSarMsgRefNum)
	total, ok2 := t.u8(TagSarTotalSegments)
	seq, ok3 := t.u8(TagSarSegmentSeqnum)
	return ref, total, seq, ok1 && ok2 && ok3
}

// SetSAR sets the three sar_* TLVs.
func (t *TLVs) SetSAR(ref uint16, total, seq byte) {
	t.Set(TagSarMsgRefNum, binary.BigEndian.AppendUint16(nil, ref))
	t.Set(TagSarTotalSegments, []byte{total})
	t.Set(TagSarSegmentSeqnum, []byte{seq})
}

// ReceiptedMessageID returns the receipted_message_id TLV without its NUL.
func (t TLVs) ReceiptedMessageID() (string, bool) {
	v, ok := t.Get(TagReceiptedMessageID)
	if !ok {
		return "", false
	}
	for i, c := range v {
		if c == 0 {
			v = v[:i]
			break
		}
	}
	return string(v), true
}

// SetReceiptedMessageID sets receipted_message_id as a C-octet string.
func (t *TLVs) SetReceiptedMessageID(id string) {
	t.Set(TagReceiptedMessageID, append([]byte(id), 0))
}

// MessageState returns the message_state TLV.
func (t TLVs) MessageState() (MessageState, bool) {
	v, ok := t.u8(TagMessageState)
	return MessageState(v), ok
}

// NetworkErrorCode returns the network_error_code TLV: network type (1 GSM,
// 2 ANSI-136, 3 IS-95) and the 2-octet error code.
func (t TLVs) NetworkErrorCode() (netType byte, code uint16, ok bool) {
	v, ok := t.Get(TagNetworkErrorCode)
	if !ok || len(v) != 3 {
		return 0, 0, false
	}
	return v[0], binary.BigEndian.Uint16(v[1:]), true
}

// UserMessageReference returns the user_message_reference TLV.
func (t TLVs) UserMessageReference() (uint16, bool) { return t.u16(TagUserMessageReference) }

// DestAddrSubunit returns the dest_addr_subunit TLV.
func (t TLVs) DestAddrSubunit() (byte, bool) { return t.u8(TagDestAddrSubunit) }

// MessageState is the state of a message in the SMSC (SMPP 3.4 §5.2.28).
type MessageState byte

// Message states (SMPP 3.4 §5.2.28).
const (
	StateEnroute       MessageState = 1
	StateDelivered     MessageState = 2
	StateExpired       MessageState = 3
	StateDeleted       MessageState = 4
	StateUndeliverable MessageState = 5
	StateAccepted      MessageState = 6
	StateUnknown       MessageState = 7
	StateRejected      MessageState = 8
)

// String returns the receipt text form of the state (SMPP 3.4 appendix B).
func (s MessageState) String() string {
	switch s {
	case StateEnroute:
		return "ENROUTE"
	case StateDelivered:
		return "DELIVRD"
	case StateExpired:
		return "EXPIRED"
	case StateDeleted:
		return "DELETED"
	case StateUndeliverable:
		return "UNDELIV"
	case StateAccepted:
		return "ACCEPTD"
	case StateUnknown:
		return "UNKNOWN"
	case StateRejected:
		return "REJECTD"
	}
	return fmt.Sprintf("STATE_%d", byte(s))
}

// Final reports whether no further receipt will follow for the message.
func (s MessageState) Final() bool {
	switch s {
	case StateDelivered, StateExpired, StateDeleted, StateUndeliverable, StateRejected:
		return true
	}
	return false
}

// ParseMessageState maps the receipt text "stat:" value to a state.
func ParseMessageState(stat string) MessageState {
	for s := StateEnroute; s <= StateRejected; s++ {
		if s.String() == stat {
			return s
		}
	}
	switch stat {
	case "DELIVERED":
		return StateDelivered
	case "UNDELIVERABLE":
		return StateUndeliverable
	case "ACCEPTED":
		return StateAccepted
	case "REJECTED":
		return StateRejected
	}
	return StateUnknown
}
