package ades

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names and bounds of the ASiC-E profile (ETSI EN 319 162-1 §4.4) this
// package writes.
const (
	// MIMETypeASiCE is the content of the mimetype entry.
	MIMETypeASiCE = "application/vnd.etsi.asic-e+zip"
	// ManifestName and SignatureName are the container's META-INF entries.
	ManifestName  = "META-INF/ASiCManifest.xml"
	SignatureName = "META-INF/signature.p7s"
	// SignatureMIMEType is the SigReference MimeType of a CAdES signature.
	SignatureMIMEType = "application/x-pkcs7-signature"
	// NamespaceASiC is the ASiC namespace of EN 319 162-1 (v1.2.1).
	NamespaceASiC = "http://uri.etsi.org/02918/v1.2.1#"
	namespaceDS   = "http://www.w3.org/2000/09/xmldsig#"

	// MaxDocuments bounds the documents of one container.
	MaxDocuments = 1000
	// MaxNameLength bounds a document name in octets (UTF-8).
	MaxNameLength = 255
	// MaxManifestSize bounds a manifest ParseManifest reads: twice the
	// largest Manifest writes (MaxDocuments references of about 1.3 KB
	// with the longest names, all percent-encoded, and MIME types).
	MaxManifestSize = 2 << 20
	maxMIMEType     = 127 // RFC 6838 §4.2: type and subtype names
)

// Document is one signed data object of an ASiC-E container: its name in
// the container, its MIME type, and its digest.
type Document struct {
	Name      string
	MIMEType  string
	DigestAlg crypto.Hash
	Digest    []byte
}

// Manifest builds the ASiCManifest (EN 319 162-1 §A.4) that the CAdES
// signature covers: a SigReference to META-INF/signature.p7s and one
// DataObjectReference per document, in the order given, with the name as a
// percent-encoded URI (RFC 3986), its MIME type, ds:DigestMethod and the
// base64 ds:DigestValue. Names are checked by CheckName, duplicates
// (ignoring case, which would collide on unpacking) refused.
func Manifest(docs []Document) ([]byte, error) {
	if len(docs) == 0 || len(docs) > MaxDocuments {
		return nil, fmt.Errorf("%w: %d documents, want 1 to %d", ErrManifest, len(docs), MaxDocuments)
	}
	seen := make(map[string]bool, len(docs))
	var b bytes.Buffer
	b.Grow(400 + 300*len(docs))
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + "\n")
	b.WriteString(`<asic:ASiCManifest xmlns:asic="` + NamespaceASiC + `" xmlns:ds="` + namespaceDS + `">` + "\n")
	b.WriteString(`  <asic:SigReference URI="` + SignatureName + `" MimeType="` + SignatureMIMEType + `"/>` + "\n")
	for i, d := range docs {
		if err := checkDocument(d); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		key := strings.ToLower(d.Name)
		if seen[key] {
			return nil, fmt.Errorf("%w: %q given twice", ErrName, d.Name)
		}
		seen[key] = true
		info, _ := lookupDigest(d.DigestAlg)
		b.WriteString(`  <asic:DataObjectReference URI="`)
		xml.EscapeText(&b, []byte(EscapeURI(d.Name)))
		b.WriteString(`" MimeType="`)
		xml.EscapeText(&b, []byte(d.MIMEType))
		b.WriteString(`">` + "\n" + `    <ds:DigestMethod Algorithm="` + info.xmlURI + `"/>` + "\n    <ds:DigestValue>")
		b.WriteString(base64.StdEncoding.EncodeToString(d.Digest))
		b.WriteString("</ds:DigestValue>\n  </asic:DataObjectReference>\n")
	}
	b.WriteString("</asic:ASiCManifest>\n")
	return b.Bytes(), nil
}

func checkDocument(d Document) error {
	if err := CheckName(d.Name); err != nil {
		return err
	}
	if err := checkMIMEType(d.MIMEType); err != nil {
		return err
	}
	_, err := checkDigest(d.DigestAlg, d.Digest)
	return err
}

// CheckName refuses a document name that cannot be a ZIP entry of an ASiC-E
// container safely: empty, longer than MaxNameLength octets, not UTF-8,
// with control characters (bidirectional ones included) or a backslash, absolute, with empty, "." or
// ".." segments, or reserved to the container (mimetype, META-INF/).
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrName)
	case len(name) > MaxNameLength:
		return fmt.Errorf("%w: %d octets, at most %d", ErrName, len(name), MaxNameLength)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: not UTF-8", ErrName)
	case strings.ContainsFunc(name, isControl):
		return fmt.Errorf("%w: control character", ErrName)
	case strings.ContainsRune(name, '\\'):
		return fmt.Errorf("%w: backslash", ErrName)
	case name[0] == '/':
		return fmt.Errorf("%w: absolute path", ErrName)
	case strings.EqualFold(name, "mimetype"):
		return fmt.Errorf("%w: mimetype is reserved", ErrName)
	case len(name) >= 9 && strings.EqualFold(name[:9], "META-INF/"):
		return fmt.Errorf("%w: META-INF/ is reserved", ErrName)
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%w: empty, \".\" or \"..\" path segment", ErrName)
		}
	}
	return nil
}

// isControl covers C0, DEL and C1, and the bidirectional formatting
// controls, which can make a name display as another (U+202E shows
// "fdp.exe" for "exe.pdf").
func isControl(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}

// checkMIMEType accepts type "/" subtype with the restricted-name
// characters of RFC 6838 §4.2, without parameters.
func checkMIMEType(m string) error {
	typ, sub, ok := strings.Cut(m, "/")
	if !ok || !restrictedName(typ) || !restrictedName(sub) {
		return fmt.Errorf("%w: %q", ErrMIMEType, m)
	}
	return nil
}

func restrictedName(s string) bool {
	if s == "" || len(s) > maxMIMEType || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune("!#$&-^_.+", rune(s[i])) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// EscapeURI turns a document name into the relative URI of its
// DataObjectReference: every octet other than an RFC 3986 unreserved
// character or the "/" between segments is percent-encoded, upper-case hex,
// so the URI has one spelling and url.PathUnescape gives the name back.
func EscapeURI(name string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(name) * 3)
	for i := 0; i < len(name); i++ {
		c := name[i]
		if isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}

// xmlManifest is the ASiCManifest as ParseManifest reads it.
type xmlManifest struct {
	XMLName      xml.Name `xml:"http://uri.etsi.org/02918/v1.2.1# ASiCManifest"`
	SigReference struct {
		URI      string `xml:"URI,attr"`
		MimeType string `xml:"MimeType,attr"`
	} `xml:"http://uri.etsi.org/02918/v1.2.1# SigReference"`
	References []struct {
		URI          string `xml:"URI,attr"`
		MimeType     string `xml:"MimeType,attr"`
		DigestMethod struct {
			Algorithm string `xml:"Algorithm,attr"`
		} `xml:"http://www.w3.org/2000/09/xmldsig# DigestMethod"`
		DigestValue string `xml:"http://www.w3.org/2000/09/xmldsig# DigestValue"`
	} `xml:"http://uri.etsi.org/02918/v1.2.1# DataObjectReference"`
}

// ParseManifest reads an ASiCManifest of this profile back into its
// documents, for checking a container: the SigReference must point at
// META-INF/signature.p7s, and every reference must carry a name, MIME type
// and digest that Manifest would accept.
func ParseManifest(data []byte) ([]Document, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("%w: manifest of %d octets, at most %d", ErrTooLarge, len(data), MaxManifestSize)
	}
	var m xmlManifest
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = true
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if m.SigReference.URI != SignatureName {
		return nil, fmt.Errorf("%w: SigReference URI %q, want %q", ErrManifest, m.SigReference.URI, SignatureName)
	}
	if len(m.References) == 0 || len(m.References) > MaxDocuments {
		return nil, fmt.Errorf("%w: %d data object references", ErrManifest, len(m.References))
	}
	docs := make([]Document, len(m.References))
	seen := make(map[string]bool, len(docs))
	for i, r := range m.References {
		d, err := parseReference(r.URI, r.MimeType, r.DigestMethod.Algorithm, r.DigestValue)
		if err != nil {
			return nil, fmt.Errorf("reference %d: %w", i, err)
		}
		key := strings.ToLower(d.Name)
		if seen[key] {
			return nil, fmt.Errorf("%w: %q referenced twice", ErrManifest, d.Name)
		}
		seen[key] = true
		docs[i] = d
	}
	return docs, nil
}

func parseReference(uri, mimeType, alg, value string) (Document, error) {
	name, err := unescapeURI(uri)
	if err != nil {
		return Document{}, err
	}
	d := Document{Name: name, MIMEType: mimeType}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		if info, _ := lookupDigest(h); info.xmlURI == alg {
			d.DigestAlg = h
		}
	}
	if d.DigestAlg == 0 {
		return Document{}, fmt.Errorf("%w: digest method %q", ErrDigestAlgorithm, alg)
	}
	if d.Digest, err = base64.StdEncoding.DecodeString(strings.TrimSpace(value)); err != nil {
		return Document{}, fmt.Errorf("%w: digest value: %v", ErrManifest, err)
	}
	if err := checkDocument(d); err != nil {
		return Document{}, err
	}
	return d, nil
}

// unescapeURI reverses EscapeURI, and only that: a URI in another spelling
// (a character left unencoded that EscapeURI encodes, lower-case hex) is
// refused, so that a name has one URI.
func unescapeURI(uri string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(uri) || !isUpperHex(uri[i+1]) || !isUpperHex(uri[i+2]) {
			return "", fmt.Errorf("%w: bad percent-encoding in %q", ErrManifest, uri)
		}
		b.WriteByte(unhex(uri[i+1])<<4 | unhex(uri[i+2]))
		i += 2
	}
	name := b.String()
	if EscapeURI(name) != uri {
		return "", fmt.Errorf("%w: URI %q is not in canonical percent-encoding", ErrManifest, uri)
	}
	return name, nil
}

func isUpperHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}
