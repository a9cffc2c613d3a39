package ades

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"time"
)

// Part is the content of one document for Pack.
type Part struct {
	// Name is the document's name, as in the manifest.
	Name string
	// Content is read once, up to its end.
	Content io.Reader
	// Modified, when set, is the entry's modification time.
	Modified time.Time
}

// Pack writes an ASiC-E container (EN 319 162-1 §4.4) to w: the mimetype
// entry first, stored, without extra field, holding MIMETypeASiCE (so that
// the type reads at offset 38 of the file), then the documents in the
// manifest's order, compressed, then META-INF/ASiCManifest.xml and
// META-INF/signature.p7s. Each part must match its manifest reference by
// name and digest; on a mismatch Pack stops before the ZIP's central
// directory, so what was written is not a readable container.
func Pack(w io.Writer, manifest, signatureP7S []byte, parts []Part) error {
	docs, err := ParseManifest(manifest)
	if err != nil {
		return err
	}
	if len(parts) != len(docs) {
		return fmt.Errorf("%w: %d parts for %d references", ErrManifest, len(parts), len(docs))
	}
	if len(signatureP7S) > MaxCMSSize {
		return fmt.Errorf("%w: signature of %d octets", ErrTooLarge, len(signatureP7S))
	}
	if _, err := parseContentInfo(signatureP7S); err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	if err := writeMimetype(zw); err != nil {
		return err
	}
	for i, p := range parts {
		if err := writePart(zw, docs[i], p); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ManifestName, manifest}, {SignatureName, signatureP7S}} {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.name, Method: zip.Deflate})
		if err != nil {
			return err
		}
		if _, err := fw.Write(f.data); err != nil {
			return err
		}
	}
	return zw.Close()
}

// writeMimetype writes the mimetype entry raw: CreateHeader would set the
// data-descriptor flag and leave the sizes out of the local header.
func writeMimetype(zw *zip.Writer) error {
	fw, err := zw.CreateRaw(&zip.FileHeader{
		Name:               "mimetype",
		Method:             zip.Store,
		CreatorVersion:     20,
		ReaderVersion:      20,
		CRC32:              crc32.ChecksumIEEE([]byte(MIMETypeASiCE)),
		CompressedSize64:   uint64(len(MIMETypeASiCE)),
		UncompressedSize64: uint64(len(MIMETypeASiCE)),
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(fw, MIMETypeASiCE)
	return err
}

func writePart(zw *zip.Writer, doc Document, p Part) error {
	if p.Name != doc.Name || p.Content == nil {
		return fmt.Errorf("%w: part %q where the manifest has %q", ErrManifest, p.Name, doc.Name)
	}
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: p.Name, Method: zip.Deflate, Modified: p.Modified})
	if err != nil {
		return err
	}
	h := newHash(doc.DigestAlg)
	if _, err := io.Copy(io.MultiWriter(fw, h), p.Content); err != nil {
		return err
	}
	if !bytes.Equal(h.Sum(nil), doc.Digest) {
		return fmt.Errorf("%w: content of %q does not match its digest", ErrManifest, p.Name)
	}
	return nil
}

// DefaultMaxContainerSize is Unpack's bound on the uncompressed size of a
// container's entries when UnpackOptions leaves it zero.
const DefaultMaxContainerSize = 64 << 20

// UnpackOptions bounds what Unpack reads. The zero value is usable.
type UnpackOptions struct {
	// MaxSize bounds the entries' total uncompressed size (default
	// DefaultMaxContainerSize).
	MaxSize int64
}

// Container is an unpacked ASiC-E container.
type Container struct {
	Manifest  []byte
	Signature []byte
	// Documents are the manifest's references; Contents[i] is the
	// content of Documents[i].
	Documents []Document
	Contents  [][]byte
}

// Unpack reads an ASiC-E container and checks it against this profile: the
// mimetype entry first, stored, without extra field, with MIMETypeASiCE;
// one manifest and one signature under META-INF/ and nothing else there;
// every other entry a document the manifest references, with a valid name,
// given once, whose content matches its digest; every reference present.
// It does not verify the signature: call Verify on Signature with the
// manifest's digest.
func Unpack(r io.ReaderAt, size int64, opts UnpackOptions) (*Container, error) {
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxContainerSize
	}
	if err := checkMimetypeHeader(r); err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: %v", ErrContainer, err)
	}
	if len(zr.File) == 0 || len(zr.File) > MaxDocuments+3 {
		return nil, fmt.Errorf("%w: %d entries", ErrContainer, len(zr.File))
	}
	// The central directory's first entry must be the local header checked
	// above, whose data starts at offset 38.
	if f := zr.File[0]; f.Name != "mimetype" || f.Method != zip.Store || len(f.Extra) != 0 || !dataAt(f, 38) {
		return nil, fmt.Errorf("%w: first entry is not a stored mimetype without extra field", ErrContainer)
	}
	files, err := readEntries(zr.File[1:], opts.MaxSize-int64(len(MIMETypeASiCE)))
	if err != nil {
		return nil, err
	}
	return matchManifest(files)
}

func dataAt(f *zip.File, offset int64) bool {
	off, err := f.DataOffset()
	return err == nil && off == offset
}

// checkMimetypeHeader reads the first local file header as EN 319 162-1
// §A.1 fixes it: signature, method 0 (stored), name "mimetype", no extra
// field, and the MIME type as the first data, at offset 38.
func checkMimetypeHeader(r io.ReaderAt) error {
	buf := make([]byte, 38+len(MIMETypeASiCE))
	if _, err := r.ReadAt(buf, 0); err != nil {
		return fmt.Errorf("%w: no mimetype entry at the start: %v", ErrContainer, err)
	}
	le := binary.LittleEndian
	if le.Uint32(buf) != 0x04034b50 || le.Uint16(buf[6:])&1 != 0 || le.Uint16(buf[8:]) != 0 ||
		le.Uint16(buf[26:]) != 8 || le.Uint16(buf[28:]) != 0 || string(buf[30:38]) != "mimetype" ||
		string(buf[38:]) != MIMETypeASiCE {
		return fmt.Errorf("%w: the first entry is not mimetype, stored, without extra field, holding %s", ErrContainer, MIMETypeASiCE)
	}
	return nil
}

// readEntries reads the entries after mimetype, at most budget octets in
// all, refusing names a document cannot have and repeated names.
func readEntries(files []*zip.File, budget int64) (map[string][]byte, error) {
	out := make(map[string][]byte, len(files))
	lower := make(map[string]bool, len(files))
	for _, f := range files {
		if f.Name != ManifestName && f.Name != SignatureName {
			if err := CheckName(f.Name); err != nil {
				return nil, fmt.Errorf("%w: entry %q: %v", ErrContainer, f.Name, err)
			}
		}
		key := strings.ToLower(f.Name)
		if lower[key] {
			return nil, fmt.Errorf("%w: entry %q repeated", ErrContainer, f.Name)
		}
		lower[key] = true
		data, err := readEntry(f, budget)
		if err != nil {
			return nil, err
		}
		budget -= int64(len(data))
		out[f.Name] = data
	}
	return out, nil
}

func readEntry(f *zip.File, budget int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(budget) {
		return nil, fmt.Errorf("%w: entries above the size bound", ErrTooLarge)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%w: entry %q: %v", ErrContainer, f.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, budget+1))
	if err != nil {
		return nil, fmt.Errorf("%w: entry %q: %v", ErrContainer, f.Name, err)
	}
	if int64(len(data)) > budget {
		return nil, fmt.Errorf("%w: entries above the size bound", ErrTooLarge)
	}
	return data, nil
}

// matchManifest checks the entries against the manifest's references.
func matchManifest(files map[string][]byte) (*Container, error) {
	c := &Container{Manifest: files[ManifestName], Signature: files[SignatureName]}
	if c.Manifest == nil || c.Signature == nil {
		return nil, fmt.Errorf("%w: %s and %s are required", ErrContainer, ManifestName, SignatureName)
	}
	docs, err := ParseManifest(c.Manifest)
	if err != nil {
		return nil, err
	}
	if len(files) != len(docs)+2 {
		return nil, fmt.Errorf("%w: %d entries besides META-INF for %d references (unsigned or missing documents)", ErrContainer, len(files)-2, len(docs))
	}
	c.Documents, c.Contents = docs, make([][]byte, len(docs))
	for i, d := range docs {
		data, ok := files[d.Name]
		if !ok {
			return nil, fmt.Errorf("%w: %q referenced but not in the container", ErrContainer, d.Name)
		}
		h := newHash(d.DigestAlg)
		h.Write(data)
		if !bytes.Equal(h.Sum(nil), d.Digest) {
			return nil, fmt.Errorf("%w: content of %q does not match its digest", ErrManifest, d.Name)
		}
		c.Contents[i] = data
	}
	return c, nil
}
