// Command gen writes the Markdown reference of an OpenAPI document:
//
//	go run ./internal/apidoc/gen -in gateway/openapi.yaml -out docs/api.md
//
// `make api-docs` and `go generate ./gateway` run it; the test of package
// apidoc fails while docs/api.md differs from what it would write.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/imzagate/imzagate/internal/apidoc"
)

func main() {
	in := flag.String("in", "gateway/openapi.yaml", "the OpenAPI document")
	out := flag.String("out", "docs/api.md", "the Markdown file to write")
	source := flag.String("source", "gateway/openapi.yaml", "the document's name in the generated notice")
	flag.Parse()
	spec, err := os.ReadFile(*in)
	if err == nil {
		var md []byte
		if md, err = apidoc.Render(spec, *source); err == nil {
			err = os.WriteFile(*out, append(md, '\n'), 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidoc:", err)
		os.Exit(1)
	}
	abs, _ := filepath.Abs(*out)
	fmt.Println("wrote", filepath.Base(abs))
}
