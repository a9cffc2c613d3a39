package sessions

import (
	"encoding/json"
	"fmt"
)

// AppendImportLine appends sub as one line of the bulk file format that
// ImportSubscribers reads, newline-terminated, with the User ID in clear
// (as an issuer's provisioning file carries it; the importing store keys it
// with its own pepper). The subscriber and User ID are validated as the
// import will validate them, so a file written with it always imports.
func AppendImportLine(b []byte, sub Subscriber, userID string) ([]byte, error) {
	l := subscriberLine{Phone: sub.Phone, ICCID: sub.ICCID, UserID: userID, KeyVersion: sub.KeyVersion, Operator: sub.Operator}
	for _, c := range sub.Certificates {
		l.Certificates = append(l.Certificates, certLine{Type: c.Type, TaxID: c.TaxID, KeyRef: int(c.KeyRef),
			DER: c.DER, NotBefore: c.NotBefore.UTC(), NotAfter: c.NotAfter.UTC(), Status: c.Status})
	}
	if _, _, _, err := fromLine(&l); err != nil {
		return b, fmt.Errorf("sessions: import line: %w", err)
	}
	out, err := json.Marshal(&l)
	if err != nil {
		return b, err
	}
	return append(append(b, out...), '\n'), nil
}
