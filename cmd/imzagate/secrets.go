package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imzagate/imzagate/applet"
	"github.com/imzagate/imzagate/gateway"
)

// secretFile is one file `secrets generate` writes.
type secretFile struct {
	name, use string
	data      []byte
}

// runSecrets is `imzagate secrets generate --out DIR`: the secrets of a new
// installation, one file each, readable by the owner only. It never
// replaces an existing file: a new pepper or new master keys would orphan
// every subscriber and card already provisioned.
func runSecrets(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "generate" {
		fmt.Fprintln(stderr, "usage: imzagate secrets generate --out DIR")
		return 2
	}
	fs := flag.NewFlagSet("secrets generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory to write the secrets to (created, mode 0700)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: imzagate secrets generate --out DIR")
		return 2
	}
	files := newSecrets()
	if err := writeSecrets(*out, files); err != nil {
		fmt.Fprintln(stderr, "imzagate secrets generate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote the secrets of a new installation to %s (readable by you only):\n", *out)
	for _, f := range files {
		fmt.Fprintf(stdout, "  %-16s %s\n", f.name, f.use)
	}
	return 0
}

// newSecrets draws every secret: a 64-character pepper, the four master
// keys, a portal API key with its SHA-256 (the form the configuration
// holds) and an 8-character SMPP password (SMPP 3.4's limit).
func newSecrets() []secretFile {
	pepper := make([]byte, 32)
	_, _ = rand.Read(pepper)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	apiKey := "imz_" + base64.RawURLEncoding.EncodeToString(key)
	const alnum = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	pw := make([]byte, 8)
	for i := range pw {
		pw[i] = alnum[randIndex(len(alnum))]
	}
	return []secretFile{
		{"pepper", "secrets.pepperFile: keys the stored User IDs; never change it once subscribers are provisioned",
			[]byte(hex.EncodeToString(pepper) + "\n")},
		{"master-keys", "secrets.masterKeysFile: the OTA master keys (smscsim --master-keys reads it too)",
			applet.FormatMasterKeys(applet.GenerateMasterKeys())},
		{"api-key", "a portal's API key: give it to the portal (imzagate smoke reads it from IMZAGATE_API_KEY)",
			[]byte(apiKey + "\n")},
		{"api-key.sha256", "portals[].apiKeySHA256: its hash, the only form the configuration holds",
			[]byte(gateway.HashAPIKey(apiKey) + "\n")},
		{"smpp-password", "the SMPP account's password for a simulated operator (operators[].binds[].passwordEnv)",
			append(pw, '\n')},
	}
}

// randIndex draws a uniform index below n (n ≤ 256) by rejection.
func randIndex(n int) int {
	limit := 256 - 256%n
	var b [1]byte
	for {
		_, _ = rand.Read(b[:])
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// writeSecrets creates dir and writes files into it, refusing to replace
// any file that exists (checked for all before the first is written).
func writeSecrets(dir string, files []secretFile) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var exist []string
	for _, f := range files {
		if _, err := os.Lstat(filepath.Join(dir, f.name)); err == nil {
			exist = append(exist, f.name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if len(exist) > 0 {
		return fmt.Errorf("%s already holds %v: nothing was written. A gateway in service must keep its pepper and master keys; to start afresh, remove them or choose another directory", dir, exist)
	}
	for _, f := range files {
		if err := writeNew(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// writeNew writes a file that must not exist yet, owner-readable only.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
