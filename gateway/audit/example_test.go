package audit

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"os"
)

// A verifier needs only the export and the audit public key.
func ExampleVerifyFileReport() {
	export := fuzzExport() // three records of one closed chain, end line and seal
	pub := testKey.Public().(ed25519.PublicKey)
	if err := VerifyFileReport(os.Stdout, bytes.NewReader(export), pub); err != nil {
		fmt.Println("exit 1:", err)
	}
	// Output:
	// audit trail: OK
	// records: 3 in 1 chains; exports sealed: 1
	//
	// chains:
	//   20250102.gw-a.00112233aabb                       closed records 3       last seq 3       checkpoints 1     last checkpoint 3
}

// Support staff find a subscriber's records by the phone's HMAC; the
// masked form is what they see.
func ExamplePhoneHMAC() {
	key := []byte("0123456789abcdef") // from the secrets
	fmt.Println(PhoneHMAC(key, "+994501234567"))
	fmt.Println(MaskPhone("+994501234567"))
	// Output:
	// 5cd426ce225d02478614d5f6fbe0f080
	// +99450***4567
}
