package trust

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// anchor is a configured certificate and the file it came from, for
// errors an operator can act on.
type anchor struct {
	cert *x509.Certificate
	file string
}

// loadAnchors reads certificates from PEM files and directories. A
// directory contributes its *.pem, *.crt and *.cer files, in name order;
// other files in it are ignored, and one without any certificate file is
// an error, as is a named file without a certificate.
func loadAnchors(setting string, paths []string) ([]anchor, error) {
	var out []anchor
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, configf("%s: %v", setting, err)
		}
		files := []string{p}
		if fi.IsDir() {
			if files, err = certFiles(p); err != nil {
				return nil, configf("%s: %v", setting, err)
			}
			if len(files) == 0 {
				return nil, configf("%s: directory %s has no .pem, .crt or .cer file", setting, p)
			}
		}
		for _, f := range files {
			data, err := readBounded(f)
			if err != nil {
				return nil, configf("%s: %v", setting, err)
			}
			certs, err := parsePEM(data)
			if err != nil {
				return nil, configf("%s: %s: %v", setting, f, err)
			}
			for _, c := range certs {
				out = append(out, anchor{cert: c, file: f})
			}
			if len(out) > maxAnchors {
				return nil, configf("%s: more than %d certificates", setting, maxAnchors)
			}
		}
	}
	return out, nil
}

// given turns certificates passed in Options into anchors; errors name
// them by their place in the list.
func given(setting string, certs []*x509.Certificate) ([]anchor, error) {
	out := make([]anchor, 0, len(certs))
	for i, c := range certs {
		if c == nil {
			return nil, configf("%s[%d] is nil", setting, i)
		}
		out = append(out, anchor{cert: c, file: fmt.Sprintf("%s[%d]", setting, i)})
	}
	return out, nil
}

func certFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".pem", ".crt", ".cer":
			if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	slices.Sort(files)
	return files, nil
}

func readBounded(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxAnchorFileLen+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAnchorFileLen {
		return nil, fmt.Errorf("%s: larger than %d octets", name, maxAnchorFileLen)
	}
	return data, nil
}

// parsePEM returns the certificates of a PEM text. Text between blocks is
// ignored, as PEM allows; a private key is refused, since a trust file
// that holds one was put together by mistake and should not be deployed.
func parsePEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		switch {
		case b.Type == "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d: %w", n, err)
			}
			certs = append(certs, c)
			if len(certs) > maxAnchors {
				return nil, fmt.Errorf("more than %d certificates", maxAnchors)
			}
		case strings.Contains(b.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("PEM block %d is a private key; trust files hold certificates only", n)
		}
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}

// checkAnchors refuses roots that are not CAs or not valid now, and
// intermediates that are not CAs or do not chain to a root now.
func checkAnchors(roots, inters []anchor, now time.Time) (rootPool, interPool *x509.CertPool, err error) {
	rootPool, interPool = x509.NewCertPool(), x509.NewCertPool()
	for _, a := range roots {
		if err := checkCA("trust.roots", a, now); err != nil {
			return nil, nil, err
		}
		rootPool.AddCert(a.cert)
	}
	for _, a := range inters {
		if err := checkCA("trust.intermediates", a, now); err != nil {
			return nil, nil, err
		}
		interPool.AddCert(a.cert)
	}
	for _, a := range inters {
		_, err := a.cert.Verify(x509.VerifyOptions{Roots: rootPool, Intermediates: interPool, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		if err != nil {
			return nil, nil, configf("trust.intermediates: %s (%s) does not chain to a configured root: %v", name(a.cert), a.file, err)
		}
	}
	return rootPool, interPool, nil
}

func checkCA(setting string, a anchor, now time.Time) error {
	c := a.cert
	switch {
	case !c.BasicConstraintsValid || !c.IsCA:
		return configf("%s: %s (%s) is not a CA certificate (basic constraints without cA)", setting, name(c), a.file)
	case c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageCertSign == 0:
		return configf("%s: %s (%s) may not sign certificates (no keyCertSign)", setting, name(c), a.file)
	case now.After(c.NotAfter):
		return configf("%s: %s (%s) expired on %s", setting, name(c), a.file, c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return configf("%s: %s (%s) is not valid before %s", setting, name(c), a.file, c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

// name is how logs and errors name a CA: its common name, or its whole
// subject when it has none.
func name(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

// httpURL reports whether s is an absolute http or https URL: the only
// schemes fetched (an ldap:// distribution point is skipped).
func httpURL(s string) (*url.URL, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, false
	}
	return u, true
}

// firstHTTP returns the first http or https URL of a certificate field.
func firstHTTP(urls []string) string {
	for _, s := range urls {
		if _, ok := httpURL(s); ok {
			return s
		}
	}
	return ""
}
