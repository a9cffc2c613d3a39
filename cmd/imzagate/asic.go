package main

import (
	"bytes"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/imzagate/imzagate/gateway/ades"
)

// runASiC is `imzagate asic pack`: a portal's tool to put the parts the
// gateway returns for an ASiC-E signature (the manifest and the CAdES
// signature over it) together with the documents into a .asice container
// (docs/ades.md).
func runASiC(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "pack" {
		fmt.Fprintln(stderr, "usage: imzagate asic pack --manifest FILE --signature FILE --out FILE.asice [NAME=]DOC...")
		return 2
	}
	return asicPack(args[1:], stdout, stderr)
}

// asicPack checks every document against the manifest before it writes
// anything, writes the container to a temporary file beside --out, reads
// it back as a verifier would (ades.Unpack) and only then renames it.
func asicPack(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("imzagate asic pack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	manifestFile := fs.String("manifest", "", "the manifest: the XML, or the base64 of signature.asicManifest")
	signatureFile := fs.String("signature", "", "the CAdES signature: DER (.p7s), or the base64 of signature.cades")
	out := fs.String("out", "", "the container to write (.asice)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: imzagate asic pack --manifest FILE --signature FILE --out FILE.asice [NAME=]DOC...")
		fmt.Fprintln(stderr, "  each DOC is stored under its base name, or under NAME when given as NAME=DOC")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *manifestFile == "" || *signatureFile == "" || *out == "" || fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if err := pack(*manifestFile, *signatureFile, *out, fs.Args()); err != nil {
		fmt.Fprintln(stderr, "imzagate asic pack: "+strings.ReplaceAll(err.Error(), "\n", " "))
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return 0
}

func pack(manifestFile, signatureFile, out string, docArgs []string) error {
	manifest, err := readPart(manifestFile, ades.MaxManifestSize, '<')
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	signature, err := readPart(signatureFile, ades.MaxCMSSize, 0x30)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	docs, err := ades.ParseManifest(manifest)
	if err != nil {
		return err
	}
	paths, err := documentPaths(docs, docArgs)
	if err != nil {
		return err
	}
	for i, d := range docs {
		if err := checkDigest(d, paths[i]); err != nil {
			return err
		}
	}
	return writeContainer(out, manifest, signature, docs, paths)
}

// readPart reads a file of at most max octets as it was returned: raw when
// it starts with first (the XML's '<', the DER SEQUENCE's 0x30), else as
// the base64 text of the session's JSON field.
func readPart(name string, max int, first byte) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(max)*4/3+8))
	if err != nil {
		return nil, err
	}
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] != first {
		if data, err = base64.StdEncoding.DecodeString(string(trimmed)); err != nil {
			return nil, errors.New("neither the raw form nor base64")
		}
	}
	if len(data) > max {
		return nil, fmt.Errorf("larger than %d octets", max)
	}
	return data, nil
}

// documentPaths matches the DOC arguments to the manifest's references by
// name: each reference needs exactly one document, and no document may be
// left over (it would be in the container unsigned).
func documentPaths(docs []ades.Document, args []string) ([]string, error) {
	byName := make(map[string]string, len(args))
	for _, a := range args {
		name, path := filepath.Base(a), a
		if n, p, ok := strings.Cut(a, "="); ok {
			if _, err := os.Stat(a); err != nil { // a path with '=' in it stays a path
				name, path = n, p
			}
		}
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("document %q given twice", name)
		}
		byName[name] = path
	}
	paths := make([]string, len(docs))
	for i, d := range docs {
		p, ok := byName[d.Name]
		if !ok {
			return nil, fmt.Errorf("the manifest lists %q, which is not among the documents given (use NAME=FILE)", d.Name)
		}
		paths[i] = p
		delete(byName, d.Name)
	}
	for name := range byName {
		return nil, fmt.Errorf("document %q is not in the manifest", name)
	}
	return paths, nil
}

// checkDigest compares a document's content with its manifest digest.
func checkDigest(d ades.Document, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum, err := ades.Sum(d.DigestAlg, data)
	if err != nil {
		return err
	}
	if !bytes.Equal(sum, d.Digest) {
		return fmt.Errorf("%s: its digest is not the one the manifest lists for %q (another version of the document?)", path, d.Name)
	}
	return nil
}

// writeContainer packs into a temporary file, checks it and renames it to
// out, so a failure never leaves a partial container under that name.
func writeContainer(out string, manifest, signature []byte, docs []ades.Document, paths []string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".asice-*")
	if err != nil {
		return err
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	parts := make([]ades.Part, len(docs))
	total := int64(len(ades.MIMETypeASiCE) + len(manifest) + len(signature))
	for i, d := range docs {
		fi, err := os.Stat(paths[i])
		if err != nil {
			return err
		}
		total += fi.Size()
		lf := &lazyFile{path: paths[i]}
		defer lf.Close()
		parts[i] = ades.Part{Name: d.Name, Content: lf, Modified: fi.ModTime()}
	}
	if err := ades.Pack(tmp, manifest, signature, parts); err != nil {
		return err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := ades.Unpack(tmp, size, ades.UnpackOptions{MaxSize: total}); err != nil {
		return fmt.Errorf("the written container does not read back: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

// lazyFile opens its file at the first Read and closes it at the end, so
// packing a thousand documents holds one of them open at a time.
type lazyFile struct {
	path string
	f    *os.File
	done bool
}

func (l *lazyFile) Read(p []byte) (int, error) {
	if l.done {
		return 0, io.EOF
	}
	if l.f == nil {
		f, err := os.Open(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	n, err := l.f.Read(p)
	if err == io.EOF {
		l.Close()
		l.done = true
	}
	return n, err
}

// Close closes the file if it is open.
func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
