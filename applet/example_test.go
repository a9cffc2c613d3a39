package applet_test

import (
	"crypto/sha256"
	"fmt"

	"github.com/imzagate/imzagate/applet"
)

func ExampleSealCommand() {
	keys, _ := applet.DeriveCardKeys(applet.MasterKeys{KIc: [16]byte{1}, KID: [16]byte{2}, KIcMO: [16]byte{3}, KIDMO: [16]byte{4}}, "8999401000000000017")
	hash := sha256.Sum256([]byte("document"))
	code := applet.VerificationCode(hash[:])
	cmd := applet.Command{
		TxnID: [8]byte{0xC0, 0xFF, 0xEE}, Operation: applet.OpSign, KeyRef: 2,
		HashAlg: applet.HashSHA256, Hash: hash[:], VerificationCode: code,
		DisplayText: "İmza: müqavilə", UserTimeout: 90,
	}
	segs, err := applet.SealCommand(keys, 1, &cmd, 0x2A)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(segs), "SMS, UDH", fmt.Sprintf("%x", segs[0][:3]), "code", applet.FormatVerificationCode(code))
	// Output: 1 SMS, UDH 027000 code 2056
}
