package gateway

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestExampleConfig parses the shipped example and turns it into Options
// with secrets from a fake environment.
func TestExampleConfig(t *testing.T) {
	f, err := os.Open("../deploy/imzagate.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := ParseConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"IMZAGATE_PEPPER": strings.Repeat("p", 32), "IMZAGATE_SMPP_AZERCELL": "a", "IMZAGATE_SMPP_BAKCELL": "b",
		"IMZAGATE_SMPP_NAR": "n", "IMZAGATE_CALLBACK_ETAXES": "cb",
		"IMZAGATE_MASTER_KIC": strings.Repeat("01", 16), "IMZAGATE_MASTER_KID": strings.Repeat("02", 16),
		"IMZAGATE_MASTER_KIC_MO": strings.Repeat("03", 16), "IMZAGATE_MASTER_KID_MO": strings.Repeat("04", 16),
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	o, err := c.Options(lookup, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Operators) != 3 || o.Operators[0].Binds[1].Password != "a" || o.Operators[1].Binds[0].TLS == nil ||
		o.MasterKeys.KIDMO[0] != 4 || len(o.Server.Portals) != 2 || o.Server.Portals[0].DisplayName != "e-taxes.gov.az" {
		t.Fatalf("options %+v", o)
	}
	// A missing secret names its variable.
	delete(env, "IMZAGATE_MASTER_KID_MO")
	if _, err := c.Options(lookup, io.Discard); err == nil || !strings.Contains(err.Error(), "IMZAGATE_MASTER_KID_MO") {
		t.Fatalf("missing key: %v", err)
	}
}

func TestParseConfigRejectsUnknownKeys(t *testing.T) {
	tests := []struct{ name, in string }{
		{"unknown top-level key", "htp: {addr: x}\n"},
		{"secret in file", "secrets: {pepper: abc}\n"},
		{"wrong type", "sessions: {userTimeout: [1]}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseConfig(strings.NewReader(tt.in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
