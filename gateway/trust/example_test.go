package trust_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imzagate/imzagate/applet/testca"
	"github.com/imzagate/imzagate/gateway/trust"
)

func ExampleChecker_Check() {
	dir, _ := os.MkdirTemp("", "trust-example")
	defer os.RemoveAll(dir)
	root, _ := testca.New(testca.Options{Name: "Example Root"})
	issuing, _ := root.NewSubordinate(testca.Options{Name: "Example Issuing CA"})
	write := func(name string, c *x509.Certificate) string {
		p := filepath.Join(dir, name)
		_ = os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o600)
		return p
	}
	c, err := trust.New(trust.Options{
		Roots:         []string{write("root.pem", root.Certificate())},
		Intermediates: []string{write("issuing.pem", issuing.Certificate())},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	leaf, _ := issuing.Issue(testca.Request{Kind: testca.Personal, Usage: testca.Sign, PublicKey: pub,
		Holder: testca.Holder{GivenName: "Elvin", Surname: "Əliyev", FIN: "1AB2CD3"}})

	// These certificates name no OCSP responder and no CRL: a login goes
	// on with status unknown (soft-fail), a signature is refused.
	chain := []*x509.Certificate{leaf}
	st, err := c.Check(context.Background(), trust.Request{Chain: chain, Operation: trust.Authenticate})
	fmt.Println(st.State, len(st.Chain), err)
	_, err = c.Check(context.Background(), trust.Request{Chain: chain, Operation: trust.Sign})
	code, _ := trust.CodeOf(err)
	fmt.Println(code)
	// Output:
	// unknown 3 <nil>
	// CERTIFICATE_STATUS_UNKNOWN
}
