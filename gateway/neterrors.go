package gateway

import (
	"strconv"

	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/smpp"
)

// gsmReceiptErrors maps the GSM error codes of failed receipts (the
// network_error_code TLV with network type 3, or the receipt text's err:
// field) to what they mean for the session. SMSCs report there the MAP
// error of the last delivery attempt; the values are the MAP-Errors local
// values of 3GPP TS 29.002 (§7.6.1 and the MAP-Errors module, §17.6.6).
// docs/smpp.md §8.3 has the table with the reasons.
var gsmReceiptErrors = map[uint16]string{
	1:  sessions.ResultDeliveryError, // unknownSubscriber: no subscription behind the number
	5:  sessions.ResultPhoneAbsent,   // unidentifiedSubscriber: not registered in the VLR
	6:  sessions.ResultPhoneAbsent,   // absentSubscriberSM: switched off, out of coverage
	8:  sessions.ResultDeliveryError, // roamingNotAllowed
	9:  sessions.ResultDeliveryError, // illegalSubscriber
	11: sessions.ResultDeliveryError, // teleserviceNotProvisioned: no SMS in the subscription
	12: sessions.ResultDeliveryError, // illegalEquipment
	13: sessions.ResultDeliveryError, // callBarred
	21: sessions.ResultDeliveryError, // facilityNotSupported
	27: sessions.ResultPhoneAbsent,   // absentSubscriber
	31: sessions.ResultPhoneAbsent,   // subscriberBusyForMT-SMS: busy with another SMS now
	32: sessions.ResultSIMError,      // sm-DeliveryFailure: the handset or its SIM refused it (memory capacity exceeded, (U)SIM data download error)
	33: sessions.ResultPhoneAbsent,   // messageWaitingListFull: absent, and the HLR's waiting list is full
	34: sessions.ResultDeliveryError, // systemFailure
	35: sessions.ResultDeliveryError, // dataMissing
	36: sessions.ResultDeliveryError, // unexpectedDataValue
}

// receiptFailure is the result a failed receipt gives its session: the
// GSM error code when the receipt has one the table knows (the
// network_error_code TLV first, else a numeric err: field), else the
// receipt's state: EXPIRED means the phone was not reachable within the
// validity period (PHONE_ABSENT), UNDELIV, REJECTD, DELETED and UNKNOWN
// that the SMSC could not deliver (DELIVERY_ERROR). ok is false for a
// state that is no failure.
func receiptFailure(r smpp.Receipt, stat string) (result string, ok bool) {
	switch stat {
	case "EXPIRED":
		result = sessions.ResultPhoneAbsent
	case "UNDELIV", "REJECTD", "DELETED", "UNKNOWN":
		result = sessions.ResultDeliveryError
	default:
		return "", false
	}
	if code, ok := gsmErrorOf(r); ok {
		if res, known := gsmReceiptErrors[code]; known {
			return res, true
		}
	}
	return result, true
}

// gsmErrorOf reads a receipt's GSM error code: the network_error_code TLV
// when it is of network type GSM; without a TLV, the err: field when it is
// 1–3 decimal digits and not 0 (SMPP 3.4 Appendix B leaves the field to
// the network; most SMSCs write the MAP error there).
func gsmErrorOf(r smpp.Receipt) (uint16, bool) {
	if !r.NetworkError.IsZero() {
		return r.NetworkError.Code, r.NetworkError.Type == smpp.NetGSM
	}
	if len(r.Err) == 0 || len(r.Err) > 3 {
		return 0, false
	}
	n, err := strconv.ParseUint(r.Err, 10, 16)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint16(n), true
}
