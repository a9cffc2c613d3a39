package smpp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

// loadGolden reads testdata/pdus.hex into name → bytes.
func loadGolden(t testing.TB) map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/pdus.hex")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hx, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("bad golden line %q", line)
		}
		b, err := hex.DecodeString(strings.ReplaceAll(hx, " ", ""))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = b
	}
	return out
}

// goldenPDUs are the values the golden hex must decode to and encode from.
func goldenPDUs() map[string]PDU {
	h := func(status CommandStatus, seq uint32) Header { return Header{Status: status, Seq: seq} }
	return map[string]PDU{
		"enquire_link":                 &EnquireLink{h(0, 1)},
		"enquire_link_resp":            &EnquireLinkResp{h(0, 1)},
		"unbind":                       &Unbind{h(0, 2)},
		"unbind_resp":                  &UnbindResp{h(0, 2)},
		"generic_nack":                 &GenericNack{h(StatusInvCmdID, 7)},
		"bind_transceiver":             &Bind{Header: h(0, 1), Type: BindTransceiver, SystemID: "esme1", Password: "secret", InterfaceVersion: 0x34, AddrTON: 1, AddrNPI: 1},
		"bind_transceiver_resp":        &BindResp{Header: h(0, 1), Type: BindTransceiver, SystemID: "SMSC", TLVs: TLVs{{TagSCInterfaceVersion, []byte{0x34}}}},
		"bind_transmitter_resp_nobody": &BindResp{Header: h(StatusInvPaswd, 1), Type: BindTransmitter},
		"bind_receiver":                &Bind{Header: h(0, 3), Type: BindReceiver, SystemID: "r", Password: "p", SystemType: "OTA", InterfaceVersion: 0x34},
		"bind_transmitter":             &Bind{Header: h(0, 4), Type: BindTransmitter, SystemID: "r", Password: "p", SystemType: "OTA", InterfaceVersion: 0x34},
		"outbind":                      &Outbind{Header: h(0, 5), SystemID: "smsc", Password: "pw"},
		"submit_sm": &SubmitSM{Header: h(0, 9), Message: Message{SourceTON: 1, SourceNPI: 1, SourceAddr: "99412",
			DestTON: 1, DestNPI: 1, DestAddr: "994501234567", ESMClass: 0x40, ProtocolID: 0x7F,
			RegisteredDelivery: 1, DataCoding: 0xF6, ShortMessage: []byte{0x02, 0x70, 0x00, 0xAA, 0xBB}}},
		"submit_sm_tlvs": &SubmitSM{Header: h(0, 9), Message: Message{SourceTON: 1, SourceNPI: 1, SourceAddr: "99412",
			DestTON: 1, DestNPI: 1, DestAddr: "994501234567", ESMClass: 0x40, ProtocolID: 0x7F,
			RegisteredDelivery: 1, DataCoding: 0xF6,
			TLVs: TLVs{{TagUserMessageReference, []byte{1, 2}}, {0x1401, []byte("abc")}}}},
		"submit_sm_resp":         &SubmitSMResp{Header: h(0, 9), MessageID: "1a2b"},
		"submit_sm_resp_nobody":  &SubmitSMResp{Header: h(StatusThrottled, 9)},
		"submit_sm_resp_emptyid": &SubmitSMResp{Header: h(0, 9)},
		"deliver_sm_receipt": &DeliverSM{Header: h(0, 0x10), Message: Message{SourceTON: 1, SourceNPI: 1,
			SourceAddr: "994501234567", DestTON: 1, DestNPI: 1, DestAddr: "99412", ESMClass: 0x04,
			ShortMessage: []byte("id:7 stat:DELIVRD"),
			TLVs:         TLVs{{TagReceiptedMessageID, []byte("7\x00")}, {TagMessageState, []byte{2}}}}},
		"deliver_sm_resp": &DeliverSMResp{Header: h(0, 0x10)},
		"data_sm": &DataSM{Header: h(0, 0x20), SourceTON: 1, SourceNPI: 1, SourceAddr: "994501234567",
			DestTON: 1, DestNPI: 1, DestAddr: "99412", ESMClass: 0x40, DataCoding: 0xF6,
			TLVs: TLVs{{TagMessagePayload, []byte{0x71, 0x00, 0xAA}}}},
		"data_sm_resp":  &DataSMResp{Header: h(0, 0x20), MessageID: "m1", TLVs: TLVs{{TagNetworkErrorCode, []byte{3, 0, 1}}}},
		"query_sm":      &QuerySM{Header: h(0, 0x21), MessageID: "1a2b", SourceTON: 1, SourceNPI: 1, SourceAddr: "99412"},
		"query_sm_resp": &QuerySMResp{Header: h(0, 0x21), MessageID: "1a2b", MessageState: StateDelivered},
		"alert_notification": &AlertNotification{Header: h(0, 0x22), SourceTON: 1, SourceNPI: 1,
			SourceAddr: "994501234567", ESMETON: 1, ESMENPI: 1, ESMEAddr: "99412",
			TLVs: TLVs{{0x0422, []byte{0}}}},
	}
}

// clearLen zeroes the header fields the decoder fills and the encoder
// derives, so values compare on content.
func clearLen(p PDU) PDU {
	p.Hdr().Length = 0
	p.Hdr().ID = 0
	return p
}

func TestGoldenDecode(t *testing.T) {
	golden := loadGolden(t)
	want := goldenPDUs()
	if len(golden) != len(want) {
		t.Fatalf("golden file has %d vectors, table %d", len(golden), len(want))
	}
	for name, b := range golden {
		t.Run(name, func(t *testing.T) {
			p, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if p.Hdr().Length != uint32(len(b)) || p.Hdr().ID != p.CommandID() {
				t.Errorf("header %+v, want length %d id %s", *p.Hdr(), len(b), p.CommandID())
			}
			if got := clearLen(p); !reflect.DeepEqual(got, want[name]) {
				t.Errorf("decoded\n%#v\nwant\n%#v", got, want[name])
			}
		})
	}
}

func TestGoldenEncode(t *testing.T) {
	golden := loadGolden(t)
	for name, p := range goldenPDUs() {
		t.Run(name, func(t *testing.T) {
			want := golden[name]
			if strings.HasSuffix(name, "_nobody") {
				// We always write the body; an empty-body response is only
				// accepted on input. Check the encoded form decodes equal.
				b, err := Encode(nil, p)
				if err != nil {
					t.Fatal(err)
				}
				q, err := Decode(b)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(clearLen(q), clearLen(p)) {
					t.Errorf("round trip %#v != %#v", q, p)
				}
				return
			}
			got, err := Encode([]byte{0xEE}, p) // appends after existing bytes
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if got[0] != 0xEE || !bytes.Equal(got[1:], want) {
				t.Errorf("encoded\n%x\nwant\n%x", got[1:], want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	hx := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// framed patches command_length so the body error is what is tested.
	framed := func(s string) []byte {
		b := hx(s)
		binary.BigEndian.PutUint32(b, uint32(len(b)))
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr error
		field   string
	}{
		{"short header", hx("000000100000"), ErrShortPDU, ""},
		{"length below 16", hx("0000000f 00000015 00000000 00000001"), nil, ""},
		{"length mismatch", hx("00000011 00000015 00000000 00000001"), ErrBadLength, ""},
		{"trailing octets", hx("00000011 00000015 00000000 00000001 00"), ErrTrailing, "body"},
		{"system_id without NUL", framed("00000013 00000009 00000000 00000001 616263"), ErrNoNUL, "system_id"},
		{"system_id too long", framed("00000022 00000009 00000000 00000001 6161616161616161616161616161616100 00 00 34 00 00"), ErrTooLong, "system_id"},
		{"bind truncated", framed("00000016 00000009 00000000 00000001 6100 7000"), ErrNoNUL, "system_type"},
		{"sm_length 255", framed("00000033 00000004 00000000 00000001 00 0101 3100 0101 3200 40 7f 00 00 00 01 00 f6 00 ff" + strings.Repeat("00", 255)), ErrTooLong, "sm_length"},
		{"sm overflow", framed("00000022 00000004 00000000 00000001 00 0101 3100 0101 3200 40 7f 00 00 00 01 00 f6 00 05 01"), ErrOverflow, "short_message"},
		{"both bodies", framed("00000029 00000004 00000000 00000001 00 0101 3100 0101 3200 40 7f 00 00 00 01 00 f6 00 01 aa 0424 0001 bb"), ErrBothBodies, "message_payload"},
		{"tlv header cut", framed("00000023 00000004 00000000 00000001 00 0101 3100 0101 3200 40 7f 00 00 00 01 00 f6 00 00 04 24"), ErrOverflow, "tlv"},
		{"tlv value cut", framed("00000026 00000004 00000000 00000001 00 0101 3100 0101 3200 40 7f 00 00 00 01 00 f6 00 00 0424 0005 aa"), ErrOverflow, "tlv 0x0424"},
		{"message_state wrong size", framed("00000027 00000004 00000000 00000001 00 0101 3100 0101 3200 40 7f 00 00 00 01 00 f6 00 00 0427 0002 0202"), ErrBadLength, "message_state"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode(tt.in)
			if err == nil {
				t.Fatalf("Decode = %#v, want error", p)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			var fe *FieldError
			if tt.field != "" {
				if !errors.As(err, &fe) || fe.Field != tt.field {
					t.Errorf("err = %v, want field %q", err, tt.field)
				}
				var de *DecodeError
				if !errors.As(err, &de) || de.Header.Seq != 1 {
					t.Errorf("err = %v, want *DecodeError with seq 1", err)
				}
			}
		})
	}
}

func TestDecodeUnknownCommand(t *testing.T) {
	b, _ := hex.DecodeString("00000014000000220000000000000009aabbccdd")
	_, err := Decode(b)
	var ue *UnknownCommandError
	if !errors.As(err, &ue) || ue.Header.Seq != 9 || ue.Header.ID != 0x22 {
		t.Fatalf("err = %v, want UnknownCommandError seq 9", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    PDU
		err   error
		field string
	}{
		{"system_id 16", &Bind{SystemID: "0123456789abcdef"}, ErrTooLong, "system_id"},
		{"password 9", &Bind{SystemID: "a", Password: "123456789"}, ErrTooLong, "password"},
		{"NUL inside", &Bind{SystemID: "a\x00b"}, ErrBadValue, "system_id"},
		{"short_message 255", &SubmitSM{Message: Message{ShortMessage: make([]byte, 255)}}, ErrTooLong, "short_message"},
		{"both bodies", &SubmitSM{Message: Message{ShortMessage: []byte{1}, TLVs: TLVs{{TagMessagePayload, []byte{2}}}}}, ErrBothBodies, "message_payload"},
		{"dest 21", &SubmitSM{Message: Message{DestAddr: strings.Repeat("1", 21)}}, ErrTooLong, "destination_addr"},
		{"sar ref size", &DeliverSM{Message: Message{TLVs: TLVs{{TagSarMsgRefNum, []byte{1}}}}}, ErrBadLength, "sar_msg_ref_num"},
		{"payload over MaxPDULen", &DataSM{TLVs: TLVs{{TagMessagePayload, make([]byte, 0xFFFF)}, {TagMessagePayload, make([]byte, 0xFFFF)}}}, ErrTooLong, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode([]byte{1, 2}, tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !bytes.Equal(b, []byte{1, 2}) {
				t.Errorf("buffer not restored on error: %x", b)
			}
			var fe *FieldError
			if tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field) {
				t.Errorf("err = %v, want field %q", err, tt.field)
			}
		})
	}
}

func TestDecodeHeaderNoAllocs(t *testing.T) {
	b := loadGolden(t)["submit_sm"]
	n := testing.AllocsPerRun(100, func() {
		if _, err := DecodeHeader(b); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("DecodeHeader allocs = %v, want 0", n)
	}
}

func TestTLVAccessors(t *testing.T) {
	var tl TLVs
	tl.SetSAR(0x1234, 3, 2)
	tl.SetReceiptedMessageID("abc")
	tl.Set(TagMessageState, []byte{byte(StateExpired)})
	tl.Set(TagNetworkErrorCode, []byte{1, 0x00, 0x22})
	ref, total, seq, ok := tl.SAR()
	if !ok || ref != 0x1234 || total != 3 || seq != 2 {
		t.Errorf("SAR = %x %d %d %v", ref, total, seq, ok)
	}
	if id, ok := tl.ReceiptedMessageID(); !ok || id != "abc" {
		t.Errorf("ReceiptedMessageID = %q %v", id, ok)
	}
	if s, ok := tl.MessageState(); !ok || s != StateExpired || s.String() != "EXPIRED" {
		t.Errorf("MessageState = %v %v", s, ok)
	}
	if nt, code, ok := tl.NetworkErrorCode(); !ok || nt != 1 || code != 0x22 {
		t.Errorf("NetworkErrorCode = %d %d %v", nt, code, ok)
	}
	if _, ok := tl.UserMessageReference(); ok {
		t.Error("UserMessageReference present")
	}
	tl.Set(TagSarSegmentSeqnum, []byte{3})
	if _, _, seq, _ := tl.SAR(); seq != 3 {
		t.Errorf("Set did not replace: seq %d", seq)
	}
}

func TestStatusClass(t *testing.T) {
	tests := []struct {
		name string
		in   CommandStatus
		want StatusClass
	}{
		{"ok", StatusOK, ClassOK},
		{"throttled", StatusThrottled, ClassRetry},
		{"queue full", StatusMsgQFul, ClassRetry},
		{"syserr", StatusSysErr, ClassRetry},
		{"bind status", StatusInvBndSts, ClassRebind},
		{"bad dest", StatusInvDstAdr, ClassPermanent},
		{"bad esm_class", StatusInvESMClass, ClassPermanent},
		{"vendor", 0x401, ClassPermanent},
		{"tlv error", StatusInvOptParamVal, ClassPermanent},
		{"unknown err", StatusUnknownErr, ClassRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Class(); got != tt.want {
				t.Errorf("Class(%s) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
	err := error(&StatusError{Command: SubmitSMRespID, Status: StatusThrottled})
	if !errors.Is(err, ErrThrottled) || errors.Is(err, ErrMsgQFull) {
		t.Errorf("StatusError.Is wrong for %v", err)
	}
}
