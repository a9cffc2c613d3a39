package sessions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/imzagate/imzagate/sessions/redistest"
)

// The provisioning format is documented in docs/provisioning.md with a
// JSON Schema and a sample; these tests keep the three and the importer in
// agreement.

const (
	sampleFile = "../docs/provisioning.sample.jsonl"
	schemaFile = "../docs/provisioning.schema.json"
)

type schemaObject struct {
	Required   []string                   `json:"required"`
	Properties map[string]json.RawMessage `json:"properties"`
	OneOf      []struct {
		Required []string `json:"required"`
	} `json:"oneOf"`
	AllOf []struct {
		If struct {
			Properties struct {
				Type struct {
					Const string `json:"const"`
					Not   struct {
						Const string `json:"const"`
					} `json:"not"`
				} `json:"type"`
			} `json:"properties"`
		} `json:"if"`
		Then struct {
			Required []string `json:"required"`
		} `json:"then"`
	} `json:"allOf"`
}

func loadSchema(t *testing.T) (line, cert schemaObject) {
	t.Helper()
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		schemaObject
		Defs struct {
			Certificate schemaObject `json:"certificate"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s.schemaObject, s.Defs.Certificate
}

func sampleLines(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSpace(b), []byte("\n"))
}

// jsonFields lists the JSON names of a struct's fields.
func jsonFields(v any) []string {
	var out []string
	rt := reflect.TypeOf(v)
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestProvisioningSampleImports imports the sample into a real Redis and
// reads every subscriber back.
func TestProvisioningSampleImports(t *testing.T) {
	srv := redistest.Start(t)
	st, err := New(clientFor(t, srv.Addr), Options{Pepper: randomPepper()})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(sampleFile)
	n, err := st.ImportSubscribers(context.Background(), bytes.NewReader(b), nil)
	if err != nil || n != 3 {
		t.Fatalf("imported %d, %v", n, err)
	}
	sub, err := st.CheckUserID(context.Background(), "+994501234567", "123456")
	if err != nil {
		t.Fatal(err)
	}
	if c := sub.Certificates[0]; c.KeyRef != 1 || c.Type != CertPersonal {
		t.Fatalf("the authentication certificate is stored as %v", c)
	}
	other, err := st.Subscriber(context.Background(), "+994551234568")
	if err != nil || other.Certificates[1].Status != StatusSuspended || other.Certificates[1].TaxID != "1234567890" {
		t.Fatalf("second line: %+v, %v", other, err)
	}
}

// TestProvisioningSchemaAgrees checks that the schema names exactly the
// importer's fields, and that a field is required by the schema exactly
// when the importer refuses a line without it.
func TestProvisioningSchemaAgrees(t *testing.T) {
	line, cert := loadSchema(t)
	if got, want := keys(line.Properties), jsonFields(subscriberLine{}); !slices.Equal(got, want) {
		t.Fatalf("schema line fields %v, importer %v", got, want)
	}
	if got, want := keys(cert.Properties), jsonFields(certLine{}); !slices.Equal(got, want) {
		t.Fatalf("schema certificate fields %v, importer %v", got, want)
	}
	first := sampleLines(t)[0]
	parses := func(mutate func(m map[string]any)) bool {
		var m map[string]any
		_ = json.Unmarshal(first, &m)
		mutate(m)
		b, _ := json.Marshal(m)
		_, _, _, err := parseSubscriberLine(b)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("unexpected error %v", err)
		}
		return err == nil
	}
	oneOf := map[string]bool{}
	for _, o := range line.OneOf {
		for _, f := range o.Required {
			oneOf[f] = true
		}
	}
	for f := range line.Properties {
		required := slices.Contains(line.Required, f)
		if oneOf[f] {
			continue
		}
		if ok := parses(func(m map[string]any) { delete(m, f) }); ok == required {
			t.Errorf("line field %s: schema required=%v, importer accepts a line without it=%v", f, required, ok)
		}
	}
	if parses(func(m map[string]any) { delete(m, "user_id") }) {
		t.Error("a line with neither user_id nor user_id_hmac was accepted")
	}
	if !parses(func(m map[string]any) { delete(m, "user_id"); m["user_id_hmac"] = strings.Repeat("ab", 32) }) {
		t.Error("a line with user_id_hmac instead of user_id was refused")
	}
	// Certificate fields, on the sample's personal certificate (key_ref 2).
	condReq := map[string]map[string]bool{} // field → types that require it
	for _, a := range cert.AllOf {
		for _, f := range a.Then.Required {
			if condReq[f] == nil {
				condReq[f] = map[string]bool{}
			}
			if c := a.If.Properties.Type.Const; c != "" {
				condReq[f][c] = true
			}
			if c := a.If.Properties.Type.Not.Const; c != "" {
				for _, typ := range []string{"personal", "business", "government", "authentication"} {
					condReq[f][typ] = typ != c
				}
			}
		}
	}
	for f := range cert.Properties {
		required := slices.Contains(cert.Required, f) || condReq[f]["personal"]
		ok := parses(func(m map[string]any) { delete(m["certificates"].([]any)[1].(map[string]any), f) })
		if ok == required {
			t.Errorf("certificate field %s (personal): schema required=%v, importer accepts it missing=%v", f, required, ok)
		}
	}
	if !parses(func(m map[string]any) { delete(m["certificates"].([]any)[0].(map[string]any), "key_ref") }) || condReq["key_ref"]["authentication"] {
		t.Error("the authentication certificate needs no key_ref, in the schema and the importer")
	}
	if parses(func(m map[string]any) {
		c := m["certificates"].([]any)[1].(map[string]any)
		c["type"] = "business"
	}) || !condReq["tax_id"]["business"] {
		t.Error("a business certificate needs tax_id, in the schema and the importer")
	}
}
