package gateway

import (
	"crypto"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway/ades"
	"github.com/imzagate/imzagate/sessions"
)

// The formats a portal may ask for with "format" on POST /v1/signatures
// (docs/ades.md). Without it the answer carries the raw signature value
// (and, for ECDSA, its DER form) as before.
const (
	formatRaw   = "raw"
	formatCAdES = "CAdES"
	formatASiCE = "ASiC-E"
)

// documentJSON is one document of an ASiC-E request: its name in the
// container, its MIME type and its digest (the gateway never sees the
// document itself).
type documentJSON struct {
	Name       string `json:"name"`
	MIMEType   string `json:"mimeType"`
	Digest     string `json:"digest"`
	DigestType string `json:"digestType"`
}

// formatRequest is the part of a start request that asks for a signature
// container: the format, and for ASiC-E the documents.
type formatRequest struct {
	Format    string         `json:"format,omitempty"`
	Documents []documentJSON `json:"documents,omitempty"`
}

// loginFieldError explains the fields of a signature container that a
// login request does not take: a portal that asks for one gets a clear
// answer naming the field rather than "unknown field".
func loginFieldError(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Code == CodeInvalidRequest && (e.Field == "format" || e.Field == "documents") {
		return invalid(e.Field, "a login answers with the raw signature; CAdES and ASiC-E are for POST /v1/signatures")
	}
	return err
}

// perDocumentBody is the request body each allowed document may add to
// maxBodyBytes: a 255-octet name, a MIME type, a SHA-512 digest in base64
// and the JSON around them, with room for escaped characters.
const perDocumentBody = 2 << 10

// bodyLimit is the largest body POST /v1/signatures reads when ASiC-E
// requests may carry up to maxDocuments documents.
func bodyLimit(maxDocuments int) int64 {
	return maxBodyBytes + int64(maxDocuments)*perDocumentBody
}

// parseFormat checks the format of a start request for operation op and
// returns it ("" for the raw signature).
func parseFormat(op applet.Operation, fr *formatRequest) (string, error) {
	if fr == nil {
		return "", nil
	}
	if op != applet.OpSign {
		if fr.Format != "" {
			return "", invalid("format", "a login answers with the raw signature; CAdES and ASiC-E are for POST /v1/signatures")
		}
		if fr.Documents != nil {
			return "", invalid("documents", "documents are for POST /v1/signatures with format ASiC-E")
		}
		return "", nil
	}
	switch fr.Format {
	case "", formatRaw:
		if fr.Documents != nil {
			return "", invalid("documents", "documents go with format ASiC-E")
		}
		return "", nil
	case formatCAdES:
		if fr.Documents != nil {
			return "", invalid("documents", "CAdES signs the one digest in hash; for several documents use format ASiC-E")
		}
		return formatCAdES, nil
	case formatASiCE:
		return formatASiCE, nil
	}
	return "", invalid("format", "want %s, %s or %s (case as written)", formatRaw, formatCAdES, formatASiCE)
}

// validateASiCE checks the documents of an ASiC-E request and fills in
// what the session signs: the manifest, its SHA-256 as the document
// digest, and the display text, which the gateway writes itself so that
// the phone tells the user how many documents the one PIN2 signs. The
// portal sends neither hash, hashType nor displayText.
func validateASiCE(in *startInput, req *authRequest, docs []documentJSON, maxDocuments int, p *Portal) error {
	switch {
	case req.Hash != "":
		return invalid("hash", "with ASiC-E each document's digest goes in documents; the gateway signs their manifest")
	case req.HashType != "":
		return invalid("hashType", "with ASiC-E each document names its own digestType")
	case req.DisplayText != nil:
		return invalid("displayText", "with ASiC-E the phone shows the number of documents; leave displayText out")
	case len(docs) > maxDocuments:
		return &Error{Code: CodeTooManyDocuments, Field: "documents",
			Detail: fmt.Sprintf("%d documents; one signature covers at most %d", len(docs), maxDocuments)}
	}
	list, err := parseDocuments(docs)
	if err != nil {
		return err
	}
	if in.Manifest, err = ades.Manifest(list); err != nil {
		return manifestError(list, err)
	}
	in.HashAlg = applet.HashSHA256
	if in.Hash, err = ades.Sum(crypto.SHA256, in.Manifest); err != nil {
		return err
	}
	in.Documents = len(list)
	in.DisplayText, err = documentsText(p.DisplayName, len(list))
	return err
}

// parseDocuments checks each document's name (unique ignoring case) and
// digest with its algorithm and returns them for the manifest, which
// checks the MIME types. Errors name the offending field, e.g. documents[3].digest.
func parseDocuments(docs []documentJSON) ([]ades.Document, error) {
	if len(docs) == 0 {
		return nil, invalid("documents", "ASiC-E needs at least one document {name, mimeType, digest, digestType}")
	}
	list := make([]ades.Document, len(docs))
	seen := make(map[string]int, len(docs))
	for i, d := range docs {
		field := "documents[" + strconv.Itoa(i) + "]."
		if err := ades.CheckName(d.Name); err != nil {
			return nil, invalid(field+"name", "%v", strings.TrimPrefix(err.Error(), "ades: "))
		}
		key := strings.ToLower(d.Name)
		if j, dup := seen[key]; dup {
			return nil, invalid(field+"name", "the same name as documents[%d] (names must differ, ignoring case)", j)
		}
		seen[key] = i
		alg, err := applet.ParseHashAlg(d.DigestType)
		if err != nil {
			return nil, invalid(field+"digestType", "want SHA256, SHA384 or SHA512")
		}
		digest, err := decodeHash(d.Digest, alg)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				e.Field = field + "digest"
			}
			return nil, err
		}
		list[i] = ades.Document{Name: d.Name, MIMEType: d.MIMEType, DigestAlg: cryptoHash(alg), Digest: digest}
	}
	return list, nil
}

// manifestError names the document that made ades.Manifest fail (its MIME
// type is the only check left to it after parseDocuments).
func manifestError(list []ades.Document, err error) error {
	for i, d := range list {
		if _, err := ades.Manifest([]ades.Document{d}); err != nil {
			return invalid("documents["+strconv.Itoa(i)+"].mimeType", "want type/subtype (RFC 6838) without parameters, not %q", d.MIMEType)
		}
	}
	return invalid("documents", "%v", strings.TrimPrefix(err.Error(), "ades: "))
}

// documentsText is what the phone shows for an ASiC-E signature: the
// portal's name and the number of documents, "e-taxes: sign 3 documents",
// or the shorter "e-taxes: 3 documents" when that does not fit the display
// (docs/applet-protocol.md §3.2).
func documentsText(portalName string, n int) (string, error) {
	noun := "documents"
	if n == 1 {
		noun = "document"
	}
	count := strconv.Itoa(n) + " " + noun
	for _, text := range []string{portalName + ": sign " + count, portalName + ": " + count} {
		if applet.ValidateDisplayText(text) == nil {
			return text, nil
		}
	}
	return "", invalid("documents", "with the portal name %q the number of documents does not fit the phone's display", portalName)
}

// addContainer adds to a successful session's signature what the portal
// keeps besides the raw value (docs/ades.md): for ECDSA the DER
// ECDSA-Sig-Value, and for a CAdES or ASiC-E session the container the
// completion checked and stored, the signing time its attributes state
// and, for ASiC-E, the manifest it covers.
func addContainer(j *signatureJSON, sess sessions.Session) {
	if sess.SigAlg == applet.SigECDSAP256.String() {
		if der, err := ades.RawToDER(sess.Signature); err == nil {
			j.DER = base64.StdEncoding.EncodeToString(der)
		}
	}
	if len(sess.Container) == 0 {
		return
	}
	st, err := decodeAdESState(sess.AdES)
	if err != nil {
		return // seal decoded it before storing the container: not reached
	}
	j.Format = st.formatName()
	j.CAdES = base64.StdEncoding.EncodeToString(sess.Container)
	t := st.signingTime
	j.SigningTime = &t
	if st.kind == stateASiCE {
		j.ASiCManifest = base64.StdEncoding.EncodeToString(st.manifest)
	}
}

// jsonField turns the path encoding/json reports for a value of the wrong
// type into the request's field name: the Go names of the embedded
// request parts are not part of the API.
func jsonField(path string) string {
	for _, embedded := range []string{"authRequest.", "formatRequest."} {
		path = strings.TrimPrefix(path, embedded)
	}
	return path
}
