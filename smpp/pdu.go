package smpp

import (
	"encoding/binary"
	"fmt"
)

// HeaderLen is the size of the fixed SMPP header: command_length, command_id,
// command_status and sequence_number, four big-endian uint32 (SMPP 3.4 §3.2).
const HeaderLen = 16

// MaxPDULen caps command_length. The largest PDU we accept carries a
// message_payload TLV of up to 64 KiB; anything larger is a framing error and
// is rejected before any allocation.
const MaxPDULen = 64<<10 + 1024

// MaxSeq is the largest sequence number a request may carry (SMPP 3.4 §3.2:
// 0x00000001..0x7FFFFFFF).
const MaxSeq = 0x7FFFFFFF

// CommandID identifies the SMPP operation in the header (SMPP 3.4 §5.1.2.1).
// A response has bit 31 set.
type CommandID uint32

// Command ids used by an ESME and a test SMSC (SMPP 3.4 §5.1.2.1).
const (
	// GenericNackID: header only; answers a PDU that could not be parsed (§4.3).
	GenericNackID CommandID = 0x80000000
	// BindReceiverID: system_id, password, system_type, interface_version,
	// addr_ton, addr_npi, address_range (§4.1.3).
	BindReceiverID CommandID = 0x00000001
	// BindReceiverRespID: system_id, optional sc_interface_version TLV (§4.1.4).
	BindReceiverRespID CommandID = 0x80000001
	// BindTransmitterID: same body as bind_receiver (§4.1.1).
	BindTransmitterID CommandID = 0x00000002
	// BindTransmitterRespID: same body as bind_receiver_resp (§4.1.2).
	BindTransmitterRespID CommandID = 0x80000002
	// QuerySMID: message_id, source_addr_ton, source_addr_npi, source_addr (§4.8.1).
	QuerySMID CommandID = 0x00000003
	// QuerySMRespID: message_id, final_date, message_state, error_code (§4.8.2).
	QuerySMRespID CommandID = 0x80000003
	// SubmitSMID: the mandatory short-message fields plus TLVs (§4.4.1).
	SubmitSMID CommandID = 0x00000004
	// SubmitSMRespID: message_id (§4.4.2).
	SubmitSMRespID CommandID = 0x80000004
	// DeliverSMID: same layout as submit_sm (§4.6.1).
	DeliverSMID CommandID = 0x00000005
	// DeliverSMRespID: message_id, always empty (§4.6.2).
	DeliverSMRespID CommandID = 0x80000005
	// UnbindID: header only (§4.2.1).
	UnbindID CommandID = 0x00000006
	// UnbindRespID: header only (§4.2.2).
	UnbindRespID CommandID = 0x80000006
	// BindTransceiverID: same body as bind_receiver (§4.1.5).
	BindTransceiverID CommandID = 0x00000009
	// BindTransceiverRespID: same body as bind_receiver_resp (§4.1.6).
	BindTransceiverRespID CommandID = 0x80000009
	// OutbindID: system_id, password (§4.1.7).
	OutbindID CommandID = 0x0000000B
	// EnquireLinkID: header only (§4.11.1).
	EnquireLinkID CommandID = 0x00000015
	// EnquireLinkRespID: header only (§4.11.2).
	EnquireLinkRespID CommandID = 0x80000015
	// AlertNotificationID: source and esme addresses plus TLVs; no response (§4.12.1).
	AlertNotificationID CommandID = 0x00000102
	// DataSMID: service_type, addresses, esm_class, registered_delivery,
	// data_coding plus TLVs (§4.7.1).
	DataSMID CommandID = 0x00000103
	// DataSMRespID: message_id plus TLVs (§4.7.2).
	DataSMRespID CommandID = 0x80000103
)

// IsResponse reports whether bit 31 (the response flag) is set.
func (id CommandID) IsResponse() bool { return id&0x80000000 != 0 }

// String returns the spec name of the command, used as a bounded metric label.
func (id CommandID) String() string {
	switch id {
	case GenericNackID:
		return "generic_nack"
	case BindReceiverID:
		return "bind_receiver"
	case BindReceiverRespID:
		return "bind_receiver_resp"
	case BindTransmitterID:
		return "bind_transmitter"
	case BindTransmitterRespID:
		return "bind_transmitter_resp"
	case QuerySMID:
		return "query_sm"
	case QuerySMRespID:
		return "query_sm_resp"
	case SubmitSMID:
		return "submit_sm"
	case SubmitSMRespID:
		return "submit_sm_resp"
	case DeliverSMID:
		return "deliver_sm"
	case DeliverSMRespID:
		return "deliver_sm_resp"
	case UnbindID:
		return "unbind"
	case UnbindRespID:
		return "unbind_resp"
	case BindTransceiverID:
		return "bind_transceiver"
	case BindTransceiverRespID:
		return "bind_transceiver_resp"
	case OutbindID:
		return "outbind"
	case EnquireLinkID:
		return "enquire_link"
	case EnquireLinkRespID:
		return "enquire_link_resp"
	case AlertNotificationID:
		return "alert_notification"
	case DataSMID:
		return "data_sm"
	case DataSMRespID:
		return "data_sm_resp"
	}
	return fmt.Sprintf("command_0x%08x", uint32(id))
}

// Header is the fixed 16-octet SMPP header (SMPP 3.4 §3.2). Length is filled
// in by the encoder and set by the decoder; callers set Status and Seq.
type Header struct {
	Length uint32
	ID     CommandID
	Status CommandStatus
	Seq    uint32
}

// Hdr returns the header itself; every PDU embeds a Header, so this gives
// generic code access to the sequence number and status.
func (h *Header) Hdr() *Header { return h }

// DecodeHeader parses the first 16 octets of b. It does not allocate and does
// not check command_length bounds (ReadPDU and Decode do).
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("smpp: header: %w", ErrShortPDU)
	}
	return Header{
		Length: binary.BigEndian.Uint32(b[0:]),
		ID:     CommandID(binary.BigEndian.Uint32(b[4:])),
		Status: CommandStatus(binary.BigEndian.Uint32(b[8:])),
		Seq:    binary.BigEndian.Uint32(b[12:]),
	}, nil
}

// PDU is one SMPP operation. The set is sealed: only this package defines
// PDUs, so a type switch over the concrete types is exhaustive.
type PDU interface {
	// CommandID is the header's command_id for this operation.
	CommandID() CommandID
	// Hdr gives access to the header (status and sequence number).
	Hdr() *Header
	// appendBody appends the body (everything after the header).
	appendBody(b []byte) ([]byte, error)
	// decodeBody parses the body from the cursor.
	decodeBody(r *reader)
}

// Encode appends the whole PDU (header and body) to b. command_length is
// computed from the appended bytes and also stored in p's header.
func Encode(b []byte, p PDU) ([]byte, error) {
	start := len(b)
	h := p.Hdr()
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(p.CommandID()))
	b = binary.BigEndian.AppendUint32(b, uint32(h.Status))
	b = binary.BigEndian.AppendUint32(b, h.Seq)
	b, err := p.appendBody(b)
	if err != nil {
		return b[:start], err
	}
	n := len(b) - start
	if n > MaxPDULen {
		return b[:start], fmt.Errorf("smpp: %s: command_length %d: %w", p.CommandID(), n, ErrTooLong)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(n))
	h.Length = uint32(n)
	h.ID = p.CommandID()
	return b, nil
}

// Decode parses one complete PDU (header included). The result does not
// alias b, so the caller may reuse its buffer. An unknown command_id gives an
// *UnknownCommandError carrying the header so the caller can answer
// generic_nack with the same sequence number.
func Decode(b []byte) (PDU, error) {
	h, err := DecodeHeader(b)
	if err != nil {
		return nil, err
	}
	if h.Length < HeaderLen || h.Length > MaxPDULen {
		return nil, &FrameError{Length: h.Length}
	}
	if int(h.Length) != len(b) {
		return nil, fmt.Errorf("smpp: %s: command_length %d but %d octets: %w", h.ID, h.Length, len(b), ErrBadLength)
	}
	p := newPDU(h.ID)
	if p == nil {
		return nil, &UnknownCommandError{Header: h}
	}
	*p.Hdr() = h
	switch q := p.(type) {
	// Hot PDUs are decoded through concrete calls so the cursor stays on
	// the stack; an interface call would move it to the heap.
	case *SubmitSM:
		r := reader{b: b, off: HeaderLen, pdu: h.ID}
		q.decodeBody(&r)
		err = r.finish()
	case *DeliverSM:
		r := reader{b: b, off: HeaderLen, pdu: h.ID}
		q.decodeBody(&r)
		err = r.finish()
	case *SubmitSMResp:
		r := reader{b: b, off: HeaderLen, pdu: h.ID}
		q.decodeBody(&r)
		err = r.finish()
	case *DeliverSMResp:
		r := reader{b: b, off: HeaderLen, pdu: h.ID}
		q.decodeBody(&r)
		err = r.finish()
	default:
		err = decodeGeneric(p, b, h.ID)
	}
	if err != nil {
		return nil, &DecodeError{Header: h, Err: err}
	}
	return p, nil
}

func decodeGeneric(p PDU, b []byte, id CommandID) error {
	r := reader{b: b, off: HeaderLen, pdu: id}
	p.decodeBody(&r)
	return r.finish()
}

// newPDU returns an empty PDU for id, or nil when the id is not one we know.
func newPDU(id CommandID) PDU {
	switch id {
	case GenericNackID:
		return &GenericNack{}
	case BindReceiverID:
		return &Bind{Type: BindReceiver}
	case BindTransmitterID:
		return &Bind{Type: BindTransmitter}
	case BindTransceiverID:
		return &Bind{Type: BindTransceiver}
	case BindReceiverRespID:
		return &BindResp{Type: BindReceiver}
	case BindTransmitterRespID:
		return &BindResp{Type: BindTransmitter}
	case BindTransceiverRespID:
		return &BindResp{Type: BindTransceiver}
	case OutbindID:
		return &Outbind{}
	case UnbindID:
		return &Unbind{}
	case UnbindRespID:
		return &UnbindResp{}
	case SubmitSMID:
		return &SubmitSM{}
	case SubmitSMRespID:
		return &SubmitSMResp{}
	case DeliverSMID:
		return &DeliverSM{}
	case DeliverSMRespID:
		return &DeliverSMResp{}
	case DataSMID:
		return &DataSM{}
	case DataSMRespID:
		return &DataSMResp{}
	case QuerySMID:
		return &QuerySM{}
	case QuerySMRespID:
		return &QuerySMResp{}
	case EnquireLinkID:
		return &EnquireLink{}
	case EnquireLinkRespID:
		return &EnquireLinkResp{}
	case AlertNotificationID:
		return &AlertNotification{}
	}
	return nil
}
