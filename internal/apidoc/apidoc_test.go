package apidoc

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestReferenceInSync: docs/api.md is exactly what the generator makes of
// gateway/openapi.yaml. After editing the document, refresh it with
// `make api-docs` (or `go generate ./gateway`).
func TestReferenceInSync(t *testing.T) {
	spec, err := os.ReadFile("../../gateway/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Render(spec, "gateway/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimRight(got, "\n"), want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		line := 0
		for line < len(gl) && line < len(wl) && gl[line] == wl[line] {
			line++
		}
		t.Fatalf("docs/api.md is out of date with gateway/openapi.yaml (first difference at line %d); run `make api-docs` and commit docs/api.md", line+1)
	}
	// Every path and schema of the document is in the reference.
	for _, want := range []string{"### POST /v1/authentications", "### GET /v1/sessions/{id}", "### Session", "`stages.completed`", "### Response Problem"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("reference lacks %q", want)
		}
	}
}

const small = `openapi: 3.0.3
info: {title: Small API, version: "2", description: "Does one thing."}
x-vendor: ignored
components:
  securitySchemes:
    key: {type: http, scheme: bearer, description: A key.}
  parameters:
    Trace: {name: Trace-Id, in: header, schema: {type: string, maxLength: 8}}
  responses:
    Problem:
      description: "An error. Codes: A (400), B (409)."
      content:
        application/problem+json:
          schema: {$ref: '#/components/schemas/Problem'}
  schemas:
    Thing:
      type: object
      additionalProperties: false
      required: [id]
      properties:
        id: {type: string, pattern: '^[a-z]+$', example: abc}
        size: {type: integer, minimum: 1, maximum: 9, default: 3, description: How big}
        kind: {type: string, enum: [RED, BLUE, GREEN]}
        owner:
          type: object
          required: [name]
          properties:
            name: {type: string}
        tags:
          type: array
          items:
            type: object
            properties:
              label: {type: string}
    Extended:
      allOf:
        - $ref: '#/components/schemas/Thing'
        - type: object
          properties:
            extra: {type: boolean}
    Problem:
      type: object
      properties:
        code: {type: string}
paths:
  /things/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
    get:
      summary: Read a thing
      operationId: getThing
      parameters:
        - $ref: '#/components/parameters/Trace'
      responses:
        '200':
          description: The thing
          headers:
            ETag: {schema: {type: string}}
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Thing'}
        default: {$ref: '#/components/responses/Problem'}
  /things:
    post:
      summary: Make a thing.
      security: []
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Extended'}
      responses:
        '201':
          description: Made
          content:
            application/json:
              schema:
                type: object
                properties:
                  id: {type: string}
`

// TestRenderSmall: the whole output for a document using each construct
// the generator handles, byte for byte.
func TestRenderSmall(t *testing.T) {
	got, err := Render([]byte(small), "small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Small API\n\n" +
		"<!-- Generated from small.yaml by `make api-docs`; do not edit by hand. -->\n\n" +
		"Version 2.\n\nDoes one thing.\n\n" +
		"## Authentication\n\n- `key` (http bearer): A key.\n\nEvery operation needs it unless its section says otherwise.\n\n" +
		"## Operations\n\n| method | path | summary |\n|---|---|---|\n" +
		"| GET | [`/things/{id}`](#get-thingsid) | Read a thing |\n" +
		"| POST | [`/things`](#post-things) | Make a thing. |\n\n" +
		"### GET /things/{id}\n\nRead a thing.\n\nOperation id: `getThing`.\n\n" +
		"| parameter | in | required | type | description |\n|---|---|---|---|---|\n" +
		"| `id` | path | yes | string |  |\n" +
		"| `Trace-Id` | header |  | string (max length 8) |  |\n\n" +
		"| response | description | body |\n|---|---|---|\n" +
		"| 200 | The thing Headers: `ETag`. | `application/json` [Thing](#thing) |\n" +
		"| default | [Problem](#response-problem): An error. | `application/problem+json` [Problem](#problem) |\n\n" +
		"### POST /things\n\nMake a thing.\n\nNo authentication.\n\n" +
		"Request body (required): `application/json` [Extended](#extended)\n\n" +
		"| response | description | body |\n|---|---|---|\n" +
		"| 201 | Made | `application/json` object |\n\n" +
		"Body of 201:\n\n| field | type | required | description |\n|---|---|---|---|\n| `id` | string |  |  |\n\n" +
		"## Shared responses\n\n### Response Problem\n\nAn error. Codes: A (400), B (409).\n\n" +
		"Body: `application/problem+json` [Problem](#problem)\n\n" +
		"## Schemas\n\n### Thing\n\nOther fields are refused.\n\n" +
		"| field | type | required | description |\n|---|---|---|---|\n" +
		"| `id` | string (pattern `^[a-z]+$`) | yes | Example: `abc`. |\n" +
		"| `size` | integer (min 1; max 9; default 3) |  | How big |\n" +
		"| `kind` | string (one of `RED`, `BLUE`, `GREEN`) |  |  |\n" +
		"| `owner` | object |  |  |\n" +
		"| `owner.name` | string | yes |  |\n" +
		"| `tags` | array of object |  |  |\n" +
		"| `tags[].label` | string |  |  |\n\n" +
		"### Extended\n\n" +
		"| field | type | required | description |\n|---|---|---|---|\n" +
		"| `id` | string (pattern `^[a-z]+$`) | yes | Example: `abc`. |\n" +
		"| `size` | integer (min 1; max 9; default 3) |  | How big |\n" +
		"| `kind` | string (one of `RED`, `BLUE`, `GREEN`) |  |  |\n" +
		"| `owner` | object |  |  |\n" +
		"| `owner.name` | string | yes |  |\n" +
		"| `tags` | array of object |  |  |\n" +
		"| `tags[].label` | string |  |  |\n" +
		"| `extra` | boolean |  |  |\n\n" +
		"### Problem\n\n| field | type | required | description |\n|---|---|---|---|\n| `code` | string |  |  |"
	if string(got) != want {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		for i := range min(len(gl), len(wl)) {
			if gl[i] != wl[i] {
				t.Fatalf("line %d:\n got %q\nwant %q", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("lengths differ: got %d lines, want %d\n%s", len(gl), len(wl), got)
	}
	// A field or enum value added to the document appears without any
	// change to the generator.
	more := strings.Replace(small, "enum: [RED, BLUE, GREEN]", "enum: [RED, BLUE, GREEN, VIOLET]", 1)
	more = strings.Replace(more, "extra: {type: boolean}", "extra: {type: boolean}\n            since: {type: string, format: date-time}", 1)
	got, err = Render([]byte(more), "small.yaml")
	if err != nil || !strings.Contains(string(got), "`VIOLET`") || !strings.Contains(string(got), "| `since` | string (date-time) |") {
		t.Fatalf("added field or value missing: %v\n%s", err, got)
	}
}

func TestRenderErrors(t *testing.T) {
	for _, in := range []string{"", "- a list", "a: [unclosed"} {
		if _, err := Render([]byte(in), "x"); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
