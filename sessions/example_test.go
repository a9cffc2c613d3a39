package sessions_test

import (
	"context"
	"fmt"
	"time"

	"github.com/imzagate/imzagate/sessions"
	"github.com/imzagate/imzagate/sessions/embedded"
)

// A PIN2 signing session from the User ID check to the portal's long poll,
// on the embedded Redis of the demo mode (a real deployment passes a client
// built from sessions.ClientOptions).
func Example() {
	srv, err := embedded.Start()
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	store, err := sessions.New(srv.Client(), sessions.Options{Pepper: []byte("example pepper, 32 bytes long...")})
	if err != nil {
		panic(err)
	}
	defer store.Close()
	ctx := context.Background()

	sub := sessions.Subscriber{Phone: "+994501234567", ICCID: "8999401234567890123", KeyVersion: 1, Operator: "azercell",
		Certificates: []sessions.Certificate{{Type: sessions.CertBusiness, TaxID: "1234567890", KeyRef: 2,
			DER: []byte{0x30, 0x00}, NotBefore: time.Now(), NotAfter: time.Now().AddDate(3, 0, 0), Status: sessions.StatusActive}}}
	if err := store.PutSubscriber(ctx, sub, "123456"); err != nil {
		panic(err)
	}

	// The portal's request: check the User ID, open the session.
	sub, err = store.CheckUserID(ctx, "+994501234567", "123456")
	if err != nil {
		panic(err)
	}
	sess := &sessions.Session{Portal: "e-taxes", Operation: sessions.OpSign, Phone: sub.Phone, ICCID: sub.ICCID,
		KeyRef: 2, Hash: make([]byte, 32), HashAlg: "SHA-256", VerificationCode: "0000"}
	if err := store.Start(ctx, sess, 2*time.Minute); err != nil {
		panic(err)
	}
	fmt.Println("second start:", store.Start(ctx, &sessions.Session{Portal: "bank", Operation: sessions.OpAuthenticate,
		Phone: sub.Phone, ICCID: sub.ICCID, KeyRef: 1, Hash: make([]byte, 32), HashAlg: "SHA-256"}, time.Minute))

	// The MT command, then the card's reply arriving on another instance.
	if _, err := store.NextMTCounter(ctx, sub.ICCID); err != nil {
		panic(err)
	}
	_ = store.MarkSubmitted(ctx, sess.ID, 7, []string{"smsc-1"}, time.Now())
	go func() {
		found, _ := store.ByTxn(ctx, sess.TxnID)
		_ = store.AcceptMOCounter(ctx, sub.ICCID, 1)
		_, _ = store.Complete(ctx, found.ID, sessions.Result{Code: sessions.ResultOK, SigAlg: "ECDSA-P256", Signature: make([]byte, 64)})
	}()

	// The portal's long poll.
	done, err := store.Wait(ctx, sess.ID)
	fmt.Println(done.State, done.Result, len(done.Signature), err)
	// Output:
	// second start: sessions: start: sessions: outstanding transaction for this phone
	// COMPLETE OK 64 <nil>
}
