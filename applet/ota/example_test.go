package ota_test

import (
	"encoding/hex"
	"fmt"

	"github.com/imzagate/imzagate/applet/ota"
)

// The pySim AES-128 vector: the network seals a SELECT, the card opens it.
func ExampleCodec_SealCommand() {
	kic, _ := hex.DecodeString("200102030405060708090a0b0c0d0e0f")
	kid, _ := hex.DecodeString("201102030405060708090a0b0c0d0e0f")
	p := ota.Params{Header: ota.Header{SPI: ota.SPI{0x06, 0x19}, KIc: 0x22, KID: 0x22, TAR: [3]byte{0xB0, 0x00, 0x11}}, CCLen: 8}
	c, err := ota.NewCodec(p, ota.Keys{KIc: kic, KID: kid})
	if err != nil {
		fmt.Println(err)
		return
	}
	apdu, _ := hex.DecodeString("00a40004023f00")
	pkt, _ := c.SealCommand(nil, 0, apdu)
	fmt.Printf("%x\n", pkt)
	cmd, err := c.OpenCommand(pkt)
	fmt.Printf("%x %d %v\n", cmd.Data, cmd.PCNTR, err)
	// Output:
	// 00281506192222b00011e87cceebb2d93083011ce294f93fc4d8de80da1abae8c37ca3e72ec4432e5058
	// 00a40004023f00 11 <nil>
}
