// Package apidoc renders an OpenAPI 3 document as a Markdown reference:
// docs/api.md is gateway/openapi.yaml rendered by it (`make api-docs`, or
// `go generate ./gateway`), and a test keeps the two in step.
//
// # Flow
//
//	yaml.v3 Node tree (the document's own order is kept)
//	→ info: title, description, security schemes
//	→ one table of every operation, then a section per operation:
//	  parameters (references resolved), request body, responses with
//	  their headers and bodies
//	→ a section per component schema: one row per property, nested
//	  objects and allOf flattened into dotted names, arrays and
//	  references named, enums, patterns, ranges and defaults spelled out
//
// It knows nothing of this API in particular: new paths, fields, enum
// values or problem codes appear in the reference as soon as they are in
// the document.
package apidoc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Render turns an OpenAPI 3 document (YAML) into Markdown. source names the
// document in the generated notice.
func Render(spec []byte, source string) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("apidoc: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("apidoc: the document is not a mapping")
	}
	r := &renderer{root: doc.Content[0]}
	r.header(source)
	r.operations()
	r.sharedResponses()
	r.schemas()
	return bytes.TrimRight(r.b.Bytes(), "\n"), nil
}

// renderer writes one document.
type renderer struct {
	root *yaml.Node
	b    bytes.Buffer
}

func (r *renderer) printf(format string, args ...any) { fmt.Fprintf(&r.b, format, args...) }

// get returns the value of key in mapping n (nil when absent).
func get(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
				break
			}
		}
		n = next
	}
	return n
}

// str is the scalar at path, or "".
func str(n *yaml.Node, path ...string) string {
	if v := get(n, path...); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// pairs calls fn for each key and value of mapping n, in document order.
func pairs(n *yaml.Node, fn func(key string, v *yaml.Node)) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		fn(n.Content[i].Value, n.Content[i+1])
	}
}

// resolve follows a local $ref ("#/components/…") to its node.
func (r *renderer) resolve(n *yaml.Node) (*yaml.Node, string) {
	ref := str(n, "$ref")
	if !strings.HasPrefix(ref, "#/") {
		return n, ""
	}
	target := get(r.root, strings.Split(ref[2:], "/")...)
	if target == nil {
		return n, ref
	}
	return target, ref
}

// cell makes text safe for one Markdown table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// anchor is the GitHub-style anchor of a heading.
func anchor(heading string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(heading) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteRune(c)
		case c == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func (r *renderer) header(source string) {
	title := str(r.root, "info", "title")
	if title == "" {
		title = "API reference"
	}
	r.printf("# %s\n\n", title)
	r.printf("<!-- Generated from %s by `make api-docs`; do not edit by hand. -->\n\n", source)
	if v := str(r.root, "info", "version"); v != "" {
		r.printf("Version %s.\n\n", v)
	}
	if d := str(r.root, "info", "description"); d != "" {
		r.printf("%s\n\n", strings.TrimSpace(d))
	}
	schemes := get(r.root, "components", "securitySchemes")
	if schemes != nil {
		r.printf("## Authentication\n\n")
		pairs(schemes, func(name string, s *yaml.Node) {
			kind := str(s, "type")
			if sch := str(s, "scheme"); sch != "" {
				kind += " " + sch
			}
			r.printf("- `%s` (%s): %s\n", name, kind, cell(str(s, "description")))
		})
		r.printf("\nEvery operation needs it unless its section says otherwise.\n\n")
	}
}

// methods in the order the reference lists them within a path.
var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// operation is one method on one path.
type operation struct {
	method, path string
	node         *yaml.Node
	pathParams   *yaml.Node
}

func (r *renderer) allOperations() []operation {
	var ops []operation
	pairs(get(r.root, "paths"), func(path string, item *yaml.Node) {
		for _, m := range methods {
			if op := get(item, m); op != nil {
				ops = append(ops, operation{method: strings.ToUpper(m), path: path, node: op, pathParams: get(item, "parameters")})
			}
		}
	})
	return ops
}

func (r *renderer) operations() {
	ops := r.allOperations()
	r.printf("## Operations\n\n| method | path | summary |\n|---|---|---|\n")
	for _, op := range ops {
		h := op.method + " " + op.path
		r.printf("| %s | [`%s`](#%s) | %s |\n", op.method, op.path, anchor(h), cell(str(op.node, "summary")))
	}
	r.printf("\n")
	for _, op := range ops {
		r.operation(op)
	}
}

func (r *renderer) operation(op operation) {
	r.printf("### %s %s\n\n", op.method, op.path)
	if s := str(op.node, "summary"); s != "" {
		r.printf("%s.\n\n", strings.TrimSuffix(strings.TrimSpace(s), "."))
	}
	if d := str(op.node, "description"); d != "" {
		r.printf("%s\n\n", strings.TrimSpace(d))
	}
	if id := str(op.node, "operationId"); id != "" {
		r.printf("Operation id: `%s`.", id)
		if sec := get(op.node, "security"); sec != nil && sec.Kind == yaml.SequenceNode && len(sec.Content) == 0 {
			r.printf(" No authentication.")
		}
		r.printf("\n\n")
	} else if sec := get(op.node, "security"); sec != nil && sec.Kind == yaml.SequenceNode && len(sec.Content) == 0 {
		r.printf("No authentication.\n\n")
	}
	r.parameters(op)
	if body := get(op.node, "requestBody"); body != nil {
		body, _ = r.resolve(body)
		req := "optional"
		if str(body, "required") == "true" {
			req = "required"
		}
		r.printf("Request body (%s): %s\n\n", req, r.content(get(body, "content")))
	}
	r.responses(get(op.node, "responses"))
}

func (r *renderer) parameters(op operation) {
	var rows []string
	add := func(list *yaml.Node) {
		if list == nil {
			return
		}
		for _, p := range list.Content {
			p, _ = r.resolve(p)
			req := ""
			if str(p, "required") == "true" {
				req = "yes"
			}
			rows = append(rows, fmt.Sprintf("| `%s` | %s | %s | %s | %s |", str(p, "name"), str(p, "in"), req,
				cell(r.typeOf(get(p, "schema"))), cell(str(p, "description"))))
		}
	}
	add(op.pathParams)
	add(get(op.node, "parameters"))
	if len(rows) == 0 {
		return
	}
	r.printf("| parameter | in | required | type | description |\n|---|---|---|---|---|\n%s\n\n", strings.Join(rows, "\n"))
}

func (r *renderer) responses(n *yaml.Node) {
	if n == nil {
		return
	}
	r.printf("| response | description | body |\n|---|---|---|\n")
	var bodies []string // inline object bodies, tabled after
	pairs(n, func(code string, resp *yaml.Node) {
		resp, ref := r.resolve(resp)
		desc := str(resp, "description")
		if name, ok := strings.CutPrefix(ref, "#/components/responses/"); ok {
			// Shared responses are described once, in their own section.
			desc = "[" + name + "](#" + anchor("response "+name) + "): " + firstSentence(desc)
		} else if rows := r.inlineBody(resp); rows != "" {
			bodies = append(bodies, fmt.Sprintf("Body of %s:\n\n%s", code, rows))
		}
		r.printf("| %s | %s | %s |\n", code, cell(desc+headerNote(resp)), cell(r.content(get(resp, "content"))))
	})
	r.printf("\n")
	for _, b := range bodies {
		r.printf("%s\n\n", b)
	}
}

// headerNote names a response's headers.
func headerNote(resp *yaml.Node) string {
	var headers []string
	pairs(get(resp, "headers"), func(name string, _ *yaml.Node) { headers = append(headers, "`"+name+"`") })
	if len(headers) == 0 {
		return ""
	}
	return " Headers: " + strings.Join(headers, ", ") + "."
}

// inlineBody tables the fields of a response's inline object schemas.
func (r *renderer) inlineBody(resp *yaml.Node) string {
	var out []string
	pairs(get(resp, "content"), func(_ string, m *yaml.Node) {
		if s := get(m, "schema"); s != nil && str(s, "$ref") == "" {
			if rows := r.properties(s, ""); len(rows) > 0 {
				out = append(out, fieldTable(rows))
			}
		}
	})
	return strings.Join(out, "\n\n")
}

func fieldTable(rows []string) string {
	return "| field | type | required | description |\n|---|---|---|---|\n" + strings.Join(rows, "\n")
}

// firstSentence is the text up to its first full stop.
func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// sharedResponses describes the components' responses once each.
func (r *renderer) sharedResponses() {
	resps := get(r.root, "components", "responses")
	if resps == nil {
		return
	}
	r.printf("## Shared responses\n\n")
	pairs(resps, func(name string, resp *yaml.Node) {
		r.printf("### Response %s\n\n%s%s\n\n", name, strings.TrimSpace(str(resp, "description")), headerNote(resp))
		r.printf("Body: %s\n\n", r.content(get(resp, "content")))
		if rows := r.inlineBody(resp); rows != "" {
			r.printf("%s\n\n", rows)
		}
	})
}

// content names the media types of a content map and their schemas.
func (r *renderer) content(n *yaml.Node) string {
	var parts []string
	pairs(n, func(media string, m *yaml.Node) {
		part := "`" + media + "`"
		if s := get(m, "schema"); s != nil {
			part += " " + r.typeOf(s)
		}
		parts = append(parts, part)
	})
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// schemaNames lists the component schemas in document order.
func (r *renderer) schemaNames() []string {
	var names []string
	pairs(get(r.root, "components", "schemas"), func(name string, _ *yaml.Node) { names = append(names, name) })
	return names
}

func (r *renderer) schemas() {
	names := r.schemaNames()
	if len(names) == 0 {
		return
	}
	r.printf("## Schemas\n\n")
	for _, name := range names {
		s := get(r.root, "components", "schemas", name)
		r.printf("### %s\n\n", name)
		if d := str(s, "description"); d != "" {
			r.printf("%s\n\n", strings.TrimSpace(d))
		}
		rows := r.properties(s, "")
		if len(rows) == 0 {
			r.printf("%s.\n\n", r.typeOf(s))
			continue
		}
		if str(s, "additionalProperties") == "false" {
			r.printf("Other fields are refused.\n\n")
		}
		r.printf("%s\n\n", fieldTable(rows))
	}
}

// properties returns the table rows of an object schema: allOf parts
// merged, nested objects flattened as prefix.field.
func (r *renderer) properties(s *yaml.Node, prefix string) []string {
	s, _ = r.resolve(s)
	var rows []string
	if all := get(s, "allOf"); all != nil {
		for _, part := range all.Content {
			rows = append(rows, r.properties(part, prefix)...)
		}
	}
	required := map[string]bool{}
	if req := get(s, "required"); req != nil {
		for _, n := range req.Content {
			required[n.Value] = true
		}
	}
	pairs(get(s, "properties"), func(name string, p *yaml.Node) {
		req := ""
		if required[name] {
			req = "yes"
		}
		rows = append(rows, fmt.Sprintf("| `%s%s` | %s | %s | %s |", prefix, name, cell(r.typeOf(p)), req, cell(describe(p))))
		switch {
		case str(p, "$ref") == "" && (get(p, "properties") != nil || get(p, "allOf") != nil):
			rows = append(rows, r.properties(p, prefix+name+".")...)
		case str(p, "type") == "array" && get(p, "items") != nil && str(get(p, "items"), "$ref") == "":
			rows = append(rows, r.properties(get(p, "items"), prefix+name+"[].")...)
		}
	})
	return rows
}

// typeOf names a schema's type: a link for a reference, "array of …",
// format, enum, pattern, bounds and default.
func (r *renderer) typeOf(s *yaml.Node) string {
	if s == nil {
		return ""
	}
	if ref := str(s, "$ref"); ref != "" {
		name := ref[strings.LastIndex(ref, "/")+1:]
		if strings.HasPrefix(ref, "#/components/schemas/") {
			return "[" + name + "](#" + anchor(name) + ")"
		}
		return name
	}
	if all := get(s, "allOf"); all != nil {
		var parts []string
		for _, p := range all.Content {
			parts = append(parts, r.typeOf(p))
		}
		return "all of " + strings.Join(parts, " and ")
	}
	t := str(s, "type")
	switch {
	case t == "array":
		t = "array of " + r.typeOf(get(s, "items"))
	case t == "":
		t = "any"
	}
	var notes []string
	if f := str(s, "format"); f != "" {
		notes = append(notes, f)
	}
	if e := get(s, "enum"); e != nil {
		var vals []string
		for _, v := range e.Content {
			vals = append(vals, "`"+v.Value+"`")
		}
		notes = append(notes, "one of "+strings.Join(vals, ", "))
	}
	if p := str(s, "pattern"); p != "" {
		notes = append(notes, "pattern `"+p+"`")
	}
	notes = append(notes, bounds(s)...)
	if len(notes) > 0 {
		t += " (" + strings.Join(notes, "; ") + ")"
	}
	return t
}

// bounds spells out the numeric and length limits and the default.
func bounds(s *yaml.Node) []string {
	var out []string
	keys := map[string]string{"minimum": "min", "maximum": "max", "minLength": "min length", "maxLength": "max length",
		"minItems": "min items", "maxItems": "max items", "default": "default"}
	var present []string
	pairs(s, func(k string, _ *yaml.Node) {
		if _, ok := keys[k]; ok {
			present = append(present, k)
		}
	})
	for _, k := range present {
		out = append(out, keys[k]+" "+str(s, k))
	}
	return out
}

// describe is a property's description with its example.
func describe(p *yaml.Node) string {
	d := strings.TrimSpace(str(p, "description"))
	if ex := str(p, "example"); ex != "" {
		if d != "" && !strings.HasSuffix(d, ".") {
			d += "."
		}
		if d != "" {
			d += " "
		}
		d += "Example: `" + ex + "`."
	}
	return d
}
