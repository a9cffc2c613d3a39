package smpp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/imzagate/imzagate/smpp"
	"github.com/imzagate/imzagate/smpp/smsc"
	"github.com/imzagate/imzagate/smpp/smsc/smsctest"
)

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smsc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestTLSBind(t *testing.T) {
	cert, roots := selfSigned(t)
	srv := smsctest.Start(t, smsc.Options{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	cfg := fastBind(srv.Addr())
	cfg.TLS = &tls.Config{RootCAs: roots}
	c := startClient(t, cfg, smpp.ClientOptions{})
	if _, err := c.Submit(context.Background(), sm("994501234567")); err != nil {
		t.Fatalf("submit over TLS: %v", err)
	}
	// A client that does not trust the certificate never binds.
	bad := fastBind(srv.Addr())
	bad.TLS = &tls.Config{RootCAs: x509.NewCertPool()}
	bc, err := smpp.NewClient(bad, smpp.ClientOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	goRun(t, bc.Run)
	deadline := time.Now().Add(5 * time.Second)
	for bc.Status().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatal("untrusted TLS: no error reported")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if st := bc.Status(); st.Bound || srv.Stats().Binds != 1 {
		t.Errorf("untrusted TLS: %+v, SMSC binds %d", st, srv.Stats().Binds)
	}
}
