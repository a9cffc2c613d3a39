package smpp

// Maximum C-octet string sizes, NUL included (SMPP 3.4 §4 field tables).
const (
	maxSystemID     = 16
	maxPassword     = 9
	maxSystemType   = 13
	maxAddressRange = 41
	maxServiceType  = 6
	maxAddr         = 21 // source_addr / destination_addr of submit_sm, deliver_sm, query_sm
	maxAddr65       = 65 // data_sm and alert_notification addresses
	maxTime         = 17 // schedule_delivery_time, validity_period, final_date
	maxMessageID    = 65
	// MaxShortMessage is the largest short_message: sm_length is one octet
	// and SMPP 3.4 §4.4.1 limits it to 254.
	MaxShortMessage = 254
)

// InterfaceVersion is the interface_version we send in binds (SMPP 3.4 §5.2.4).
const InterfaceVersion = 0x34

// BindType is the kind of bind: transmitter, receiver or transceiver.
type BindType byte

// Bind types. The zero value is a transceiver, the usual choice for an ESME
// that both submits and receives (SMPP 3.4 §4.1.5).
const (
	BindTransceiver BindType = iota
	BindTransmitter
	BindReceiver
)

// String names the bind type.
func (t BindType) String() string {
	switch t {
	case BindTransceiver:
		return "transceiver"
	case BindTransmitter:
		return "transmitter"
	case BindReceiver:
		return "receiver"
	}
	return "invalid"
}

// CanSubmit reports whether the bind type may send submit_sm.
func (t BindType) CanSubmit() bool { return t == BindTransceiver || t == BindTransmitter }

// CanReceive reports whether the bind type receives deliver_sm.
func (t BindType) CanReceive() bool { return t == BindTransceiver || t == BindReceiver }

// Bind is bind_transmitter, bind_receiver or bind_transceiver (SMPP 3.4
// §4.1.1, §4.1.3, §4.1.5): the three share one body.
type Bind struct {
	Header
	Type             BindType
	SystemID         string
	Password         string
	SystemType       string
	InterfaceVersion byte
	AddrTON, AddrNPI byte
	AddressRange     string
}

// BindResp answers a Bind (§4.1.2, §4.1.4, §4.1.6). An error response may come
// with no body at all; it then decodes with empty fields.
type BindResp struct {
	Header
	Type     BindType
	SystemID string
	TLVs     TLVs
}

// Outbind asks an ESME to bind as receiver (§4.1.7).
type Outbind struct {
	Header
	SystemID string
	Password string
}

// Unbind starts closing the session (§4.2.1).
type Unbind struct{ Header }

// UnbindResp answers Unbind (§4.2.2).
type UnbindResp struct{ Header }

// EnquireLink checks the peer is alive (§4.11.1).
type EnquireLink struct{ Header }

// EnquireLinkResp answers EnquireLink (§4.11.2).
type EnquireLinkResp struct{ Header }

// GenericNack answers a PDU that could not be processed (§4.3).
type GenericNack struct{ Header }

// Message is the body shared by submit_sm and deliver_sm (§4.4.1, §4.6.1).
// ESMClass, ProtocolID, DataCoding and ShortMessage are raw octets: no text
// codec decides them. Use either ShortMessage or the message_payload TLV.
type Message struct {
	ServiceType          string
	SourceTON, SourceNPI byte
	SourceAddr           string
	DestTON, DestNPI     byte
	DestAddr             string
	ESMClass             byte
	ProtocolID           byte
	PriorityFlag         byte
	ScheduleDeliveryTime string
	ValidityPeriod       string
	RegisteredDelivery   byte
	ReplaceIfPresent     byte
	DataCoding           byte
	SMDefaultMsgID       byte
	ShortMessage         []byte
	TLVs                 TLVs
}

// UserData returns the message body: short_message, or message_payload when
// short_message is empty.
func (m *Message) UserData() []byte {
	if len(m.ShortMessage) == 0 {
		if p, ok := m.TLVs.MessagePayload(); ok {
			return p
		}
	}
	return m.ShortMessage
}

// SubmitSM sends a short message to the SMSC (§4.4.1).
type SubmitSM struct {
	Header
	Message
}

// SubmitSMResp carries the SMSC's message id (§4.4.2). Error responses may
// have no body, and some SMSCs send an empty id: both decode to "".
type SubmitSMResp struct {
	Header
	MessageID string
}

// DeliverSM carries an MO message or a delivery receipt (§4.6.1).
type DeliverSM struct {
	Header
	Message
}

// DeliverSMResp answers DeliverSM; its message_id is unused (§4.6.2).
type DeliverSMResp struct {
	Header
	MessageID string
}

// DataSM is the TLV-centred alternative to submit_sm/deliver_sm (§4.7.1).
type DataSM struct {
	Header
	ServiceType          string
	SourceTON, SourceNPI byte
	SourceAddr           string
	DestTON, DestNPI     byte
	DestAddr             string
	ESMClass             byte
	RegisteredDelivery   byte
	DataCoding           byte
	TLVs                 TLVs
}

// DataSMResp answers DataSM (§4.7.2).
type DataSMResp struct {
	Header
	MessageID string
	TLVs      TLVs
}

// QuerySM asks the state of a submitted message (§4.8.1).
type QuerySM struct {
	Header
	MessageID            string
	SourceTON, SourceNPI byte
	SourceAddr           string
}

// QuerySMResp answers QuerySM (§4.8.2).
type QuerySMResp struct {
	Header
	MessageID    string
	FinalDate    string
	MessageState MessageState
	ErrorCode    byte
}

// AlertNotification tells the ESME a handset became reachable (§4.12.1). It
// has no response.
type AlertNotification struct {
	Header
	SourceTON, SourceNPI byte
	SourceAddr           string
	ESMETON, ESMENPI     byte
	ESMEAddr             string
	TLVs                 TLVs
}

// CommandID implementations.

// CommandID returns the bind command for the bind type.
func (p *Bind) CommandID() CommandID {
	switch p.Type {
	case BindReceiver:
		return BindReceiverID
	case BindTransmitter:
		return BindTransmitterID
	}
	return BindTransceiverID
}

// CommandID returns the bind response command for the bind type.
func (p *BindResp) CommandID() CommandID { return (&Bind{Type: p.Type}).CommandID() | 0x80000000 }

// CommandID implements PDU.
func (*Outbind) CommandID() CommandID { return OutbindID }

// CommandID implements PDU.
func (*Unbind) CommandID() CommandID { return UnbindID }

// CommandID implements PDU.
func (*UnbindResp) CommandID() CommandID { return UnbindRespID }

// CommandID implements PDU.
func (*EnquireLink) CommandID() CommandID { return EnquireLinkID }

// CommandID implements PDU.
func (*EnquireLinkResp) CommandID() CommandID { return EnquireLinkRespID }

// CommandID implements PDU.
func (*GenericNack) CommandID() CommandID { return GenericNackID }

// CommandID implements PDU.
func (*SubmitSM) CommandID() CommandID { return SubmitSMID }

// CommandID implements PDU.
func (*SubmitSMResp) CommandID() CommandID { return SubmitSMRespID }

// CommandID implements PDU.
func (*DeliverSM) CommandID() CommandID { return DeliverSMID }

// CommandID implements PDU.
func (*DeliverSMResp) CommandID() CommandID { return DeliverSMRespID }

// CommandID implements PDU.
func (*DataSM) CommandID() CommandID { return DataSMID }

// CommandID implements PDU.
func (*DataSMResp) CommandID() CommandID { return DataSMRespID }

// CommandID implements PDU.
func (*QuerySM) CommandID() CommandID { return QuerySMID }

// CommandID implements PDU.
func (*QuerySMResp) CommandID() CommandID { return QuerySMRespID }

// CommandID implements PDU.
func (*AlertNotification) CommandID() CommandID { return AlertNotificationID }

// Bodies. Each decoder is a flat list of reads; the cursor keeps the first
// error. Each encoder appends and stops at the first field error.

func (p *Bind) appendBody(b []byte) ([]byte, error) {
	id := p.CommandID()
	var err error
	if b, err = appendCString(b, id, "system_id", p.SystemID, maxSystemID); err != nil {
		return b, err
	}
	if b, err = appendCString(b, id, "password", p.Password, maxPassword); err != nil {
		return b, err
	}
	if b, err = appendCString(b, id, "system_type", p.SystemType, maxSystemType); err != nil {
		return b, err
	}
	b = append(b, p.InterfaceVersion, p.AddrTON, p.AddrNPI)
	return appendCString(b, id, "address_range", p.AddressRange, maxAddressRange)
}

func (p *Bind) decodeBody(r *reader) {
	p.SystemID = r.cstr("system_id", maxSystemID)
	p.Password = r.cstr("password", maxPassword)
	p.SystemType = r.cstr("system_type", maxSystemType)
	p.InterfaceVersion = r.u8("interface_version")
	p.AddrTON = r.u8("addr_ton")
	p.AddrNPI = r.u8("addr_npi")
	p.AddressRange = r.cstr("address_range", maxAddressRange)
}

func (p *BindResp) appendBody(b []byte) ([]byte, error) {
	b, err := appendCString(b, p.CommandID(), "system_id", p.SystemID, maxSystemID)
	if err != nil {
		return b, err
	}
	return appendTLVs(b, p.CommandID(), p.TLVs)
}

func (p *BindResp) decodeBody(r *reader) {
	if r.empty() { // error responses may omit the body
		return
	}
	p.SystemID = r.cstr("system_id", maxSystemID)
	p.TLVs = r.tlvs()
}

func (p *Outbind) appendBody(b []byte) ([]byte, error) {
	b, err := appendCString(b, OutbindID, "system_id", p.SystemID, maxSystemID)
	if err != nil {
		return b, err
	}
	return appendCString(b, OutbindID, "password", p.Password, maxPassword)
}

func (p *Outbind) decodeBody(r *reader) {
	p.SystemID = r.cstr("system_id", maxSystemID)
	p.Password = r.cstr("password", maxPassword)
}

func (*Unbind) appendBody(b []byte) ([]byte, error)          { return b, nil }
func (*Unbind) decodeBody(*reader)                           {}
func (*UnbindResp) appendBody(b []byte) ([]byte, error)      { return b, nil }
func (*UnbindResp) decodeBody(*reader)                       {}
func (*EnquireLink) appendBody(b []byte) ([]byte, error)     { return b, nil }
func (*EnquireLink) decodeBody(*reader)                      {}
func (*EnquireLinkResp) appendBody(b []byte) ([]byte, error) { return b, nil }
func (*EnquireLinkResp) decodeBody(*reader)                  {}
func (*GenericNack) appendBody(b []byte) ([]byte, error)     { return b, nil }
func (*GenericNack) decodeBody(*reader)                      {}

func (m *Message) appendBody(b []byte, id CommandID) ([]byte, error) {
	var err error
	if len(m.ShortMessage) > MaxShortMessage {
		return b, &FieldError{Command: id, Field: "short_message", Err: ErrTooLong}
	}
	if len(m.ShortMessage) > 0 && m.TLVs.Has(TagMessagePayload) {
		return b, &FieldError{Command: id, Field: "message_payload", Err: ErrBothBodies}
	}
	if b, err = appendCString(b, id, "service_type", m.ServiceType, maxServiceType); err != nil {
		return b, err
	}
	b = append(b, m.SourceTON, m.SourceNPI)
	if b, err = appendCString(b, id, "source_addr", m.SourceAddr, maxAddr); err != nil {
		return b, err
	}
	b = append(b, m.DestTON, m.DestNPI)
	if b, err = appendCString(b, id, "destination_addr", m.DestAddr, maxAddr); err != nil {
		return b, err
	}
	b = append(b, m.ESMClass, m.ProtocolID, m.PriorityFlag)
	if b, err = appendCString(b, id, "schedule_delivery_time", m.ScheduleDeliveryTime, maxTime); err != nil {
		return b, err
	}
	if b, err = appendCString(b, id, "validity_period", m.ValidityPeriod, maxTime); err != nil {
		return b, err
	}
	b = append(b, m.RegisteredDelivery, m.ReplaceIfPresent, m.DataCoding, m.SMDefaultMsgID,
		byte(len(m.ShortMessage)))
	b = append(b, m.ShortMessage...)
	return appendTLVs(b, id, m.TLVs)
}

func (m *Message) decodeBody(r *reader) {
	m.ServiceType = r.cstr("service_type", maxServiceType)
	m.SourceTON = r.u8("source_addr_ton")
	m.SourceNPI = r.u8("source_addr_npi")
	m.SourceAddr = r.cstr("source_addr", maxAddr)
	m.DestTON = r.u8("dest_addr_ton")
	m.DestNPI = r.u8("dest_addr_npi")
	m.DestAddr = r.cstr("destination_addr", maxAddr)
	m.ESMClass = r.u8("esm_class")
	m.ProtocolID = r.u8("protocol_id")
	m.PriorityFlag = r.u8("priority_flag")
	m.ScheduleDeliveryTime = r.cstr("schedule_delivery_time", maxTime)
	m.ValidityPeriod = r.cstr("validity_period", maxTime)
	m.RegisteredDelivery = r.u8("registered_delivery")
	m.ReplaceIfPresent = r.u8("replace_if_present_flag")
	m.DataCoding = r.u8("data_coding")
	m.SMDefaultMsgID = r.u8("sm_default_msg_id")
	n := int(r.u8("sm_length"))
	if n > MaxShortMessage {
		r.fail("sm_length", ErrTooLong)
	}
	m.ShortMessage = r.bytes("short_message", n)
	m.TLVs = r.tlvs()
	if r.err == nil && n > 0 && m.TLVs.Has(TagMessagePayload) {
		r.fail("message_payload", ErrBothBodies)
	}
}

func (p *SubmitSM) appendBody(b []byte) ([]byte, error) { return p.Message.appendBody(b, SubmitSMID) }
func (p *SubmitSM) decodeBody(r *reader)                { p.Message.decodeBody(r) }

func (p *DeliverSM) appendBody(b []byte) ([]byte, error) {
	return p.Message.appendBody(b, DeliverSMID)
}
func (p *DeliverSM) decodeBody(r *reader) { p.Message.decodeBody(r) }

func (p *SubmitSMResp) appendBody(b []byte) ([]byte, error) {
	return appendCString(b, SubmitSMRespID, "message_id", p.MessageID, maxMessageID)
}

func (p *SubmitSMResp) decodeBody(r *reader) {
	if r.empty() { // error responses and some peers omit the body
		return
	}
	p.MessageID = r.cstr("message_id", maxMessageID)
}

func (p *DeliverSMResp) appendBody(b []byte) ([]byte, error) {
	return appendCString(b, DeliverSMRespID, "message_id", p.MessageID, maxMessageID)
}

func (p *DeliverSMResp) decodeBody(r *reader) {
	if r.empty() {
		return
	}
	p.MessageID = r.cstr("message_id", maxMessageID)
}

func (p *DataSM) appendBody(b []byte) ([]byte, error) {
	var err error
	if b, err = appendCString(b, DataSMID, "service_type", p.ServiceType, maxServiceType); err != nil {
		return b, err
	}
	b = append(b, p.SourceTON, p.SourceNPI)
	if b, err = appendCString(b, DataSMID, "source_addr", p.SourceAddr, maxAddr65); err != nil {
		return b, err
	}
	b = append(b, p.DestTON, p.DestNPI)
	if b, err = appendCString(b, DataSMID, "destination_addr", p.DestAddr, maxAddr65); err != nil {
		return b, err
	}
	b = append(b, p.ESMClass, p.RegisteredDelivery, p.DataCoding)
	return appendTLVs(b, DataSMID, p.TLVs)
}

func (p *DataSM) decodeBody(r *reader) {
	p.ServiceType = r.cstr("service_type", maxServiceType)
	p.SourceTON = r.u8("source_addr_ton")
	p.SourceNPI = r.u8("source_addr_npi")
	p.SourceAddr = r.cstr("source_addr", maxAddr65)
	p.DestTON = r.u8("dest_addr_ton")
	p.DestNPI = r.u8("dest_addr_npi")
	p.DestAddr = r.cstr("destination_addr", maxAddr65)
	p.ESMClass = r.u8("esm_class")
	p.RegisteredDelivery = r.u8("registered_delivery")
	p.DataCoding = r.u8("data_coding")
	p.TLVs = r.tlvs()
}

func (p *DataSMResp) appendBody(b []byte) ([]byte, error) {
	b, err := appendCString(b, DataSMRespID, "message_id", p.MessageID, maxMessageID)
	if err != nil {
		return b, err
	}
	return appendTLVs(b, DataSMRespID, p.TLVs)
}

func (p *DataSMResp) decodeBody(r *reader) {
	if r.empty() {
		return
	}
	p.MessageID = r.cstr("message_id", maxMessageID)
	p.TLVs = r.tlvs()
}

func (p *QuerySM) appendBody(b []byte) ([]byte, error) {
	b, err := appendCString(b, QuerySMID, "message_id", p.MessageID, maxMessageID)
	if err != nil {
		return b, err
	}
	b = append(b, p.SourceTON, p.SourceNPI)
	return appendCString(b, QuerySMID, "source_addr", p.SourceAddr, maxAddr)
}

func (p *QuerySM) decodeBody(r *reader) {
	p.MessageID = r.cstr("message_id", maxMessageID)
	p.SourceTON = r.u8("source_addr_ton")
	p.SourceNPI = r.u8("source_addr_npi")
	p.SourceAddr = r.cstr("source_addr", maxAddr)
}

func (p *QuerySMResp) appendBody(b []byte) ([]byte, error) {
	b, err := appendCString(b, QuerySMRespID, "message_id", p.MessageID, maxMessageID)
	if err != nil {
		return b, err
	}
	if b, err = appendCString(b, QuerySMRespID, "final_date", p.FinalDate, maxTime); err != nil {
		return b, err
	}
	return append(b, byte(p.MessageState), p.ErrorCode), nil
}

func (p *QuerySMResp) decodeBody(r *reader) {
	if r.empty() {
		return
	}
	p.MessageID = r.cstr("message_id", maxMessageID)
	p.FinalDate = r.cstr("final_date", maxTime)
	p.MessageState = MessageState(r.u8("message_state"))
	p.ErrorCode = r.u8("error_code")
}

func (p *AlertNotification) appendBody(b []byte) ([]byte, error) {
	var err error
	b = append(b, p.SourceTON, p.SourceNPI)
	if b, err = appendCString(b, AlertNotificationID, "source_addr", p.SourceAddr, maxAddr65); err != nil {
		return b, err
	}
	b = append(b, p.ESMETON, p.ESMENPI)
	if b, err = appendCString(b, AlertNotificationID, "esme_addr", p.ESMEAddr, maxAddr65); err != nil {
		return b, err
	}
	return appendTLVs(b, AlertNotificationID, p.TLVs)
}

func (p *AlertNotification) decodeBody(r *reader) {
	p.SourceTON = r.u8("source_addr_ton")
	p.SourceNPI = r.u8("source_addr_npi")
	p.SourceAddr = r.cstr("source_addr", maxAddr65)
	p.ESMETON = r.u8("esme_addr_ton")
	p.ESMENPI = r.u8("esme_addr_npi")
	p.ESMEAddr = r.cstr("esme_addr", maxAddr65)
	p.TLVs = r.tlvs()
}
