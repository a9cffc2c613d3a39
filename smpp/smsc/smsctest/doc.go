// Package smsctest starts the test SMSC for other packages' tests:
//
//	srv := smsctest.Start(t, smsc.Options{Handset: farm})  // 127.0.0.1:0, account esme/secret
//	... bind an smpp client to srv.Addr() ...               // t.Cleanup closes the server
//
// It lives apart from smsc so that production code importing smsc does not
// import package testing.
package smsctest
