package gateway

// The portal API's reference, docs/api.md, is rendered from openapi.yaml;
// refresh it after editing the document (internal/apidoc's test fails
// while the two differ).
//go:generate go run ../internal/apidoc/gen -in openapi.yaml -out ../docs/api.md
