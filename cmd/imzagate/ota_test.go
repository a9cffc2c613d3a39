package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

type vector struct {
	ID     string         `json:"id"`
	Kind   string         `json:"kind"`
	Inputs map[string]any `json:"inputs"`
	Out    map[string]any `json:"outputs"`
	Exp    map[string]any `json:"expected"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	// The published vectors live beside the codec they test; the CLI is
	// checked against the same file.
	raw, err := os.ReadFile("../../applet/ota/testdata/ota-published-vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Vectors []vector }
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Vectors
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	s, _, _ = strings.Cut(s, " ")
	return s
}

func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestOTASealPublished(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if v.Kind != "command" {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			in := v.Inputs
			args := []string{"ota", "seal", "--spi", str(in, "spi"), "--kic", str(in, "kic"), "--kid", str(in, "kid"),
				"--kic-key", str(in, "kic_key"), "--kid-key", str(in, "kid_key"), "--tar", str(in, "tar"),
				"--cntr", str(in, "cntr"), "--payload", str(in, "payload")}
			if l := int(in["rc_cc_ds_len"].(float64)); l == 4 && strings.HasSuffix(str(in, "kid"), "2") {
				args = append(args, "--cc-len", "4")
			}
			code, out, errs := runCmd(args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if want := str(v.Out, "sms_user_data") + "\n"; out != want {
				t.Fatalf("got  %swant %s", out, want)
			}
			// And back through `ota open`.
			code, out, errs = runCmd("ota", "open", "--kic-key", str(in, "kic_key"), "--kid-key", str(in, "kid_key"), str(v.Out, "sms_user_data"))
			if code != 0 {
				t.Fatalf("open exit %d: %s", code, errs)
			}
			var res map[string]any
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			if res["kind"] != "command" || res["spi"] != str(in, "spi") || res["kic"] != str(in, "kic") || res["kid"] != str(in, "kid") ||
				res["tar"] != str(in, "tar") || res["cntr"] != str(in, "cntr") || res["data"] != str(in, "payload") {
				t.Fatalf("open = %s", out)
			}
			if wantCC := int(in["rc_cc_ds_len"].(float64)) > 0; res["checksum_ok"] != wantCC {
				t.Fatalf("checksum_ok = %v", res["checksum_ok"])
			}
		})
	}
	if n != 9 {
		t.Fatalf("%d command vectors", n)
	}
}

func TestOTAOpenPublishedResponses(t *testing.T) {
	n := 0
	for _, v := range loadVectors(t) {
		if v.Kind != "response_decode" {
			continue
		}
		n++
		t.Run(v.ID, func(t *testing.T) {
			in, exp := v.Inputs, v.Exp
			args := []string{"ota", "open", "--spi", str(in, "command_spi"), "--kic", str(in, "kic"), "--kid", str(in, "kid"),
				"--kic-key", str(in, "kic_key")}
			if k := str(in, "kid_key"); k != "" {
				args = append(args, "--kid-key", k)
			}
			ud := str(in, "sms_user_data")
			code, out, errs := runCmd(append(args, ud)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var res map[string]any
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatal(err)
			}
			st := strconv.FormatInt(int64(exp["status"].(float64))+0x100, 16)[1:]
			if res["kind"] != "response" || res["tar"] != exp["tar"] || res["cntr"] != exp["cntr"] || res["status"] != st ||
				res["data"] != exp["additional_response_data"] || res["pcntr"] != exp["pcntr"] || res["checksum_ok"] != (exp["rc_cc_ds"] != "") {
				t.Fatalf("open = %s", out)
			}
			// A flipped last octet fails with exit 1 and one line when a
			// checksum is present.
			if exp["rc_cc_ds"] != "" {
				raw, _ := hex.DecodeString(ud)
				raw[len(raw)-1] ^= 0x01
				bad := hex.EncodeToString(raw)
				code, out, errs := runCmd(append(args, bad)...)
				if code != 1 || out != "" || strings.Count(errs, "\n") != 1 {
					t.Fatalf("tampered: exit %d out %q err %q", code, out, errs)
				}
			}
		})
	}
	if n != 5 {
		t.Fatalf("%d response vectors", n)
	}
}

func TestOTASegments(t *testing.T) {
	payload := strings.Repeat("ab", 400)
	key := "000102030405060708090a0b0c0d0e0f"
	code, out, errs := runCmd("ota", "seal", "--spi", "163a", "--kic", "12", "--kid", "12", "--kic-key", key, "--kid-key", key,
		"--tar", "a51001", "--cntr", "0000000001", "--payload", payload, "--cc-len", "4", "--ref", "7")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Fields(out)
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "07000307040170") || !strings.HasPrefix(lines[1], "0500030704"+"02") {
		t.Fatalf("segments: %q", lines)
	}
	// Open them out of order.
	code, out, errs = runCmd("ota", "open", "--kic-key", key, "--kid-key", key, lines[2], lines[0], lines[3], lines[1])
	if code != 0 || !strings.Contains(out, `"data":"`+payload+`"`) || !strings.Contains(out, `"cntr":"0000000001"`) {
		t.Fatalf("open exit %d: %s %s", code, out, errs)
	}
}

func TestOTAErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no-subcommand", nil, 2},
		{"unknown-subcommand", []string{"frobnicate"}, 2},
		{"ota-no-action", []string{"ota"}, 2},
		{"seal-missing-flag", []string{"ota", "seal", "--spi", "1200"}, 1},
		{"seal-bad-hex", []string{"ota", "seal", "--spi", "zz"}, 2},
		{"seal-short-key", []string{"ota", "seal", "--spi", "1600", "--kic", "12", "--kid", "12", "--kic-key", "00", "--kid-key", "00",
			"--tar", "000000", "--cntr", "0000000000", "--payload", "00"}, 1},
		{"open-nothing", []string{"ota", "open"}, 1},
		{"open-garbage", []string{"ota", "open", "027000ffff"}, 1},
		{"open-not-hex", []string{"ota", "open", "xyz"}, 1},
		{"open-incomplete", []string{"ota", "open", "0700030a0201700000"}, 1},
		{"open-response-needs-spi", []string{"ota", "open", "027100000e0ab0001100000000000000016132"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCmd(tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (%s)", code, tt.code, errs)
			}
			if code == 1 && strings.Count(errs, "\n") != 1 {
				t.Fatalf("want one error line, got %q", errs)
			}
		})
	}
}
