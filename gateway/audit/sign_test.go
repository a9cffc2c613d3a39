package audit

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/internal/testutil"
)

func checkpointRecord(final bool) Record {
	r := Record{Chain: "20250102.gw-a.00112233aabb", Seq: 11, Time: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Actor: Actor{ID: "gw-a", Role: "system"}}
	r.Prev[5] = 7
	signCheckpoint(&r, testKey, final)
	return r
}

func TestCheckpointSignature(t *testing.T) {
	pub := testKey.Public().(ed25519.PublicKey)
	r := checkpointRecord(true)
	if final, reason := checkCheckpoint(&r, pub); reason != "" || !final {
		t.Fatalf("checkCheckpoint = %v, %q", final, reason)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name   string
		mutate func(*Record)
		want   string
	}{
		{"head changed", func(r *Record) { r.Prev[0] ^= 1 }, "does not verify"},
		{"seq changed", func(r *Record) { r.Seq++ }, "does not verify"},
		{"final flipped", func(r *Record) { r.Details[detailFinal] = "false" }, "does not verify"},
		{"time changed", func(r *Record) { r.Time = r.Time.Add(time.Millisecond) }, "does not verify"},
		{"forged", func(r *Record) {
			r.Details[detailSig] = base64.StdEncoding.EncodeToString(ed25519.Sign(other, []byte("x")))
		}, "does not verify"},
		{"other key", func(r *Record) { signCheckpoint(r, other, true) }, "signed by key"},
		{"not base64", func(r *Record) { r.Details[detailSig] = "!!" }, "not a base64"},
		{"final word", func(r *Record) { r.Details[detailFinal] = "yes" }, "neither true nor false"},
		{"extra detail", func(r *Record) { r.Details["x"] = "y" }, "without its"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := checkpointRecord(true)
			tc.mutate(&r)
			if _, reason := checkCheckpoint(&r, pub); !strings.Contains(reason, tc.want) {
				t.Fatalf("reason %q; want %q", reason, tc.want)
			}
		})
	}
}

// The checkpoint signature is plain Ed25519 over the documented message,
// so openssl verifies it with the public key alone.
func TestCheckpointSignatureVerifiesWithOpenSSL(t *testing.T) {
	testutil.RequireTools(t, "openssl")
	r := checkpointRecord(false)
	sig, _ := base64.StdEncoding.DecodeString(r.Details[detailSig])
	u := r
	u.Details = map[string]string{detailFinal: "false", detailKey: r.Details[detailKey], detailSig: ""}
	msg := u.AppendCanonical([]byte("imzagate/audit/v1/checkpoint\n"))
	der, err := x509.MarshalPKIXPublicKey(testKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pubPath := write("pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	msgPath, sigPath := write("msg", msg), write("sig", sig)
	out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin",
		"-in", msgPath, "-sigfile", sigPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	msg[len(msg)-3] ^= 1
	write("msg", msg)
	if out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin",
		"-in", msgPath, "-sigfile", sigPath).CombinedOutput(); err == nil {
		t.Fatalf("openssl verified a changed message: %s", out)
	}
}
