package smpp_test

import (
	"context"
	"fmt"
	"time"

	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
)

// receipts is a Handler that passes receipts on (a real one stores them
// before returning nil).
type receipts chan smpp.Receipt

func (receipts) HandleMO(context.Context, smpp.MO) error { return nil }

func (c receipts) HandleReceipt(_ context.Context, r smpp.Receipt) error {
	c <- r
	return nil
}

// Example shows the pool against the test SMSC: route, submit an OTA
// segment, get its receipt.
func Example() {
	srv, err := smsc.Start("127.0.0.1:0", smsc.Options{Accounts: map[string]string{"gw": "secret"}})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	pool, err := smpp.NewPool(smpp.PoolOptions{
		Operators: []smpp.Operator{{
			Name:     "azercell",
			Prefixes: []string{"99450", "99451", "99410"},
			Binds:    []smpp.BindConfig{{Addr: srv.Addr(), SystemID: "gw", Password: "secret", SourceAddr: "9412", Window: 10}},
		}},
	})
	if err != nil {
		panic(err)
	}
	// Run owns the binds until its context ends; then it unbinds and
	// returns.
	ctx, stop := context.WithCancel(context.Background())
	h := make(receipts, 1)
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx, h) }()
	defer func() {
		stop()
		fmt.Println("run:", <-done)
	}()
	for !pool.Status()[0].Bound {
		time.Sleep(time.Millisecond)
	}

	op, _ := pool.Route("994501234567")
	fmt.Println("route:", op)
	// One segment: UDH with the command packet identifier (02 70 00), then
	// the secured packet.
	ids, err := pool.Submit(ctx, "994501234567", [][]byte{{0x02, 0x70, 0x00, 0x00, 0x0D}})
	fmt.Println("ids:", len(ids), err)
	r := <-h
	fmt.Println("receipt:", r.Operator, r.Stat, r.MessageID == ids[0])
	// Output:
	// route: azercell
	// ids: 1 <nil>
	// receipt: azercell DELIVRD true
	// run: <nil>
}
