package ota

import "fmt"

// Status is the response status code of a PoR, ETSI TS 102 225 §5.2.2 and
// 3GPP TS 31.115 §4.3.
type Status byte

// PoR status codes.
const (
	StatusOK                   Status = 0x00 // PoR OK
	StatusChecksumFailed       Status = 0x01 // RC/CC/DS failed
	StatusCounterLow           Status = 0x02 // CNTR low
	StatusCounterHigh          Status = 0x03 // CNTR high
	StatusCounterBlocked       Status = 0x04 // CNTR blocked
	StatusCipheringError       Status = 0x05 // ciphering error
	StatusUnidentifiedError    Status = 0x06 // unidentified security error
	StatusInsufficientMemory   Status = 0x07 // insufficient memory to process the incoming message
	StatusMoreTime             Status = 0x08 // more time needed to process the command
	StatusTARUnknown           Status = 0x09 // TAR unknown
	StatusInsufficientSecurity Status = 0x0A // insufficient security level
	StatusResponseBySubmit     Status = 0x0B // actual response data sent by SMS-SUBMIT (3GPP)
	StatusResponseByUSSD       Status = 0x0C // actual response data sent by USSD (3GPP)
)

var statusNames = [...]string{
	"PoR OK", "RC/CC/DS failed", "CNTR low", "CNTR high", "CNTR blocked",
	"ciphering error", "unidentified security error", "insufficient memory",
	"more time needed", "TAR unknown", "insufficient security level",
	"response by SMS-SUBMIT", "response by USSD",
}

// String returns the status name used by the specs.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("RFU status %02x", byte(s))
}
