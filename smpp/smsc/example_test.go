package smsc_test

import (
	"context"
	"fmt"
	"net"

	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// phone is a one-number Handset that answers every MT with one MO segment.
type phone struct{}

func (phone) HandleMT(msisdn string, ud []byte, reply func([]byte)) error {
	if msisdn != "994501234567" {
		return fmt.Errorf("no subscriber")
	}
	reply(append([]byte{0x02, 0x71, 0x00}, ud[3:]...))
	return nil
}

// Example starts the test SMSC with a handset and a throttling fault, binds
// a transceiver and submits one binary MT; the handset's reply comes back
// as deliver_sm.
func Example() {
	srv, err := smsc.Start("127.0.0.1:0", smsc.Options{
		Accounts: map[string]string{"gw": "secret"},
		Handset:  phone{},
		Faults:   smsc.Faults{ThrottleEvery: 100},
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	mo := make(chan *smpp.DeliverSM, 1)
	nc, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		panic(err)
	}
	s := smpp.NewSession(nc, smpp.SessionOptions{Handler: func(s *smpp.Session, p smpp.PDU) {
		if d, ok := p.(*smpp.DeliverSM); ok {
			s.Respond(smpp.ResponseTo(d, smpp.StatusOK)) // stored: acknowledge
			mo <- d
		}
	}})
	defer s.Close(context.Background())
	ctx := context.Background()
	if _, err := s.Bind(ctx, &smpp.Bind{SystemID: "gw", Password: "secret"}); err != nil {
		panic(err)
	}
	if _, err := s.Submit(ctx, &smpp.SubmitSM{Message: smpp.Message{SourceAddr: "9412", DestAddr: "994501234567",
		ESMClass: 0x40, ProtocolID: 0x7F, DataCoding: 0xF6, ShortMessage: []byte{0x02, 0x70, 0x00, 0xAB}}}); err != nil {
		panic(err)
	}
	d := <-mo
	fmt.Printf("from %s to %s: % x\n", d.SourceAddr, d.DestAddr, d.ShortMessage)
	fmt.Println("submits:", srv.Stats().Submits)
	// Output:
	// from 994501234567 to 9412: 02 71 00 ab
	// submits: 1
}
