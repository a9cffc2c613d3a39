package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/sessions"
)

// maxBodyBytes bounds every request body. The largest valid start request
// (a SHA-512 hash, 60 UCS-2 characters and a long callback URL) is well under 4 KiB.
const maxBodyBytes = 8 << 10

// authRequest is the body of POST /v1/authentications.
type authRequest struct {
	PhoneNumber string  `json:"phoneNumber"`
	UserID      string  `json:"userId"`
	Hash        string  `json:"hash"`
	HashType    string  `json:"hashType"`
	DisplayText *string `json:"displayText,omitempty"`
	CallbackURL string  `json:"callbackUrl,omitempty"`
}

// certSelector picks the signing certificate of POST /v1/signatures.
type certSelector struct {
	Type  string `json:"type"`
	TaxID string `json:"taxId,omitempty"`
}

// signRequest is the body of POST /v1/signatures.
type signRequest struct {
	authRequest
	Certificate *certSelector `json:"certificate"`
	formatRequest
}

// startInput is a validated start request.
type startInput struct {
	Operation   applet.Operation
	Phone       string // +994XXXXXXXXX
	UserID      string
	Hash        []byte
	HashAlg     applet.HashAlg
	DisplayText string // the portal's name and its text, as the phone shows it
	CallbackURL string
	CertType    string
	TaxID       string
	Format      string // "" (raw), formatCAdES or formatASiCE
	Manifest    []byte // ASiC-E: the manifest; Hash is its SHA-256
	Documents   int    // ASiC-E: how many documents the manifest lists
}

// decodeJSON reads one JSON object from the body into v: bounded size,
// unknown fields rejected, nothing after the object.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeJSONUpTo(w, r, v, maxBodyBytes)
}

// decodeJSONUpTo is decodeJSON with a body of at most limit octets.
func decodeJSONUpTo(w http.ResponseWriter, r *http.Request, v any, limit int64) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || mt != "application/json" {
		return &Error{Code: CodeUnsupportedMediaType, Detail: "send the body as application/json"}
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	data, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &Error{Code: CodeRequestTooLarge, Detail: fmt.Sprintf("the body exceeds %d bytes", limit)}
		}
		return invalid("", "cannot read the body")
	}
	return decodeBodyUpTo(data, v, limit)
}

// decodeBody is the pure part of decodeJSON (fuzzed).
func decodeBody(data []byte, v any) error {
	return decodeBodyUpTo(data, v, maxBodyBytes)
}

// decodeBodyUpTo is decodeBody with a body of at most limit octets.
func decodeBodyUpTo(data []byte, v any, limit int64) error {
	if int64(len(data)) > limit {
		return &Error{Code: CodeRequestTooLarge, Detail: fmt.Sprintf("the body exceeds %d bytes", limit)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return invalid("", "malformed JSON at offset %d", se.Offset)
		case errors.As(err, &te):
			return invalid(jsonField(te.Field), "wrong JSON type, want %s", te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return invalid(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
		case errors.Is(err, io.EOF):
			return invalid("", "empty body")
		default:
			return invalid("", "malformed JSON")
		}
	}
	if dec.More() {
		return invalid("", "data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("", "data after the JSON object")
	}
	return nil
}

// normalizePhone turns an Azerbaijani number given as +994XXXXXXXXX,
// 994XXXXXXXXX or 0XXXXXXXXX (spaces and hyphens allowed between digits)
// into +994XXXXXXXXX.
func normalizePhone(s string) (string, error) {
	if len(s) > 32 {
		return "", errors.New("too long")
	}
	var b strings.Builder
	plus := false
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' && i == 0:
			plus = true
		case (c == ' ' || c == '-') && i > 0 && b.Len() > 0:
		default:
			return "", errors.New("only digits, a leading '+', spaces and hyphens are allowed")
		}
	}
	d := b.String()
	switch {
	case plus && strings.HasPrefix(d, "994") && len(d) == 12:
	case !plus && strings.HasPrefix(d, "994") && len(d) == 12:
	case !plus && strings.HasPrefix(d, "0") && len(d) == 10:
		d = "994" + d[1:]
	default:
		return "", errors.New("want +994XXXXXXXXX, 994XXXXXXXXX or 0XXXXXXXXX")
	}
	if d[3] == '0' {
		return "", errors.New("the national number cannot start with 0")
	}
	return "+" + d, nil
}

// validUserID reports whether s is exactly six ASCII digits.
func validUserID(s string) bool {
	if len(s) != 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validateStart checks a decoded request for operation op of portal p and
// returns the normalised input; p's name is shown on the phone before the
// text, and both must fit the display (docs/applet-protocol.md §3, tag 87).
// fr asks for a signature container (nil: none); an ASiC-E request carries
// at most maxDocuments documents.
func validateStart(op applet.Operation, req *authRequest, sel *certSelector, fr *formatRequest, maxDocuments int, p *Portal) (startInput, error) {
	in := startInput{Operation: op}
	phone, err := normalizePhone(req.PhoneNumber)
	if err != nil {
		return in, invalid("phoneNumber", "%v", err)
	}
	in.Phone = phone
	if !validUserID(req.UserID) {
		return in, invalid("userId", "the User ID is exactly 6 digits")
	}
	in.UserID = req.UserID
	if in.Format, err = parseFormat(op, fr); err != nil {
		return in, err
	}
	if in.Format == formatASiCE {
		err = validateASiCE(&in, req, fr.Documents, maxDocuments, p)
	} else {
		err = validateHashAndText(&in, req, p)
	}
	if err != nil {
		return in, err
	}
	if req.CallbackURL != "" {
		if err := p.checkCallbackURL(req.CallbackURL); err != nil {
			return in, invalid("callbackUrl", "%v", err)
		}
		in.CallbackURL = req.CallbackURL
	}
	if op == applet.OpSign {
		if err := validateSelector(sel); err != nil {
			return in, err
		}
		in.CertType, in.TaxID = sel.Type, sel.TaxID
	}
	return in, nil
}

// validateHashAndText reads the hash to sign and builds the display text:
// the portal's name, then ": " and its text when it sent one.
func validateHashAndText(in *startInput, req *authRequest, p *Portal) error {
	var err error
	if in.HashAlg, err = applet.ParseHashAlg(req.HashType); err != nil {
		return invalid("hashType", "want SHA256, SHA384 or SHA512")
	}
	if in.Hash, err = decodeHash(req.Hash, in.HashAlg); err != nil {
		return err
	}
	in.DisplayText = p.DisplayName
	if req.DisplayText != nil {
		if *req.DisplayText == "" {
			return invalid("displayText", "leave the field out instead of sending it empty")
		}
		if bad := displayCharProblem(*req.DisplayText); bad != "" {
			return invalid("displayText", "contains %s; the phone shows plain text after the portal name", bad)
		}
		in.DisplayText = p.DisplayName + ": " + *req.DisplayText
	}
	if err := applet.ValidateDisplayText(in.DisplayText); err != nil {
		return invalid("displayText", "with the portal name %q it does not fit the phone's display: %v", p.DisplayName, err)
	}
	return nil
}

// decodeHash reads the standard base64 of a digest of alg.
func decodeHash(b64 string, alg applet.HashAlg) ([]byte, error) {
	if len(b64) > 128 {
		return nil, invalid("hash", "too long")
	}
	h, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil {
		return nil, invalid("hash", "not standard base64")
	}
	if len(h) != alg.Size() {
		return nil, invalid("hash", "%s needs %d bytes, got %d", alg, alg.Size(), len(h))
	}
	return h, nil
}

// validateSelector checks the certificate choice of a signature.
func validateSelector(sel *certSelector) error {
	if sel == nil {
		return invalid("certificate", "required: {type, taxId?}")
	}
	switch sel.Type {
	case sessions.CertPersonal:
		if sel.TaxID != "" {
			return invalid("certificate.taxId", "a personal certificate has no VÖEN")
		}
	case sessions.CertBusiness, sessions.CertGovernment:
		if sel.TaxID != "" && !validTaxID(sel.TaxID) {
			return invalid("certificate.taxId", "a VÖEN is 10 digits")
		}
	default:
		return invalid("certificate.type", "want personal, business or government")
	}
	return nil
}

// validTaxID reports whether s looks like a VÖEN: 10 digits.
func validTaxID(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// checkCallbackURL accepts only https URLs on the portal's allowlist:
// at most sessions.MaxCallbackURLLen characters of printable ASCII (other
// characters are percent-encoded, RFC 3986), the session store's own
// limits, and a port, when given, within 1–65535.
func (p *Portal) checkCallbackURL(raw string) error {
	if len(raw) > sessions.MaxCallbackURLLen {
		return fmt.Errorf("longer than %d characters", sessions.MaxCallbackURLLen)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] > '~' {
			return errors.New("only printable ASCII is allowed; percent-encode other characters")
		}
	}
	if len(p.callbackSecret) == 0 {
		// Unsigned callbacks could be forged by anyone who can reach the
		// portal: without a secret the portal cannot use them.
		return errors.New("callbacks are not configured for this portal (no callback secret)")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("not an absolute URL")
	}
	if u.Scheme != "https" {
		return errors.New("callbacks must use https")
	}
	if u.User != nil || u.Fragment != "" {
		return errors.New("no credentials or fragment allowed")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q is not within 1–65535", port)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return errors.New("empty port")
	}
	host := u.Hostname()
	for _, h := range p.CallbackHosts {
		if strings.EqualFold(allowedHost(h), host) {
			return nil
		}
	}
	return fmt.Errorf("host %q is not on the portal's callback allowlist", host)
}

// allowedHost is an allowlist entry as url.URL.Hostname writes hosts: an
// IPv6 literal without its brackets, so "[::1]" matches https://[::1]/.
func allowedHost(h string) string {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		return h[1 : len(h)-1]
	}
	return h
}
