package bench

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	good := func() Options {
		return Options{Target: "http://127.0.0.1:8080/", APIKey: "k", Users: testUsers(10)}
	}
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string
	}{
		{"defaults", func(*Options) {}, ""},
		{"no scheme", func(o *Options) { o.Target = "127.0.0.1:8080" }, "target"},
		{"ftp", func(o *Options) { o.Target = "ftp://x" }, "target"},
		{"no key", func(o *Options) { o.APIKey = "" }, "API key"},
		{"no users", func(o *Options) { o.Users = nil }, "no users"},
		{"phone without plus", func(o *Options) { o.Users[3].Phone = "994501234567" }, "user 3: phone"},
		{"phone with quote", func(o *Options) { o.Users[0].Phone = `+99450"1` }, "phone"},
		{"short user id", func(o *Options) { o.Users[1].UserID = "12345" }, "user id"},
		{"concurrency above users", func(o *Options) { o.Concurrency = 11 }, "exceeds the 10 users"},
		{"negative concurrency", func(o *Options) { o.Concurrency = -1 }, "concurrency"},
		{"open loop ignores concurrency bound", func(o *Options) { o.Rate = 50; o.Concurrency = 11 }, ""},
		{"negative rate", func(o *Options) { o.Rate = -1 }, "rate"},
		{"huge rate", func(o *Options) { o.Rate = 1e9 }, "rate"},
		{"negative duration", func(o *Options) { o.Duration = -time.Second }, "negative"},
		{"bad mix", func(o *Options) { o.Mix = Mix{Auth: -1, Sign: 1} }, "mix"},
		{"bad certificate", func(o *Options) { o.CertificateType = "corporate" }, "certificate type"},
		{"bad hash", func(o *Options) { o.HashType = "MD5" }, "hash type"},
		{"poll above API bound", func(o *Options) { o.PollTimeout = 121 * time.Second }, "poll timeout"},
		{"in flight too large", func(o *Options) { o.MaxInFlight = 2000000 }, "max in flight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good()
			tt.edit(&o)
			err := o.validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("validate = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
	o := good()
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	if o.Target != "http://127.0.0.1:8080" || o.Concurrency != 10 || o.Duration != DefaultDuration ||
		o.Mix != (Mix{Auth: 1}) || o.HashType != "SHA256" || o.CertificateType != "personal" || o.Logger == nil {
		t.Errorf("defaults not filled: %+v", o)
	}
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Mix
		wantErr bool
	}{
		{"both", "auth=0.8,sign=0.2", Mix{0.8, 0.2}, false},
		{"spaces and synonym", " authenticate = 3 , sign=1", Mix{3, 1}, false},
		{"sign only", "sign=1", Mix{0, 1}, false},
		{"auth only", "AUTH=1", Mix{1, 0}, false},
		{"all zero", "auth=0,sign=0", Mix{}, true},
		{"negative", "auth=-1,sign=2", Mix{}, true},
		{"unknown op", "auth=1,verify=1", Mix{}, true},
		{"twice", "auth=1,auth=2", Mix{}, true},
		{"no equals", "auth", Mix{}, true},
		{"not a number", "auth=x", Mix{}, true},
		{"infinite", "auth=Inf", Mix{}, true},
		{"NaN", "sign=NaN", Mix{}, true},
		{"empty", "", Mix{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMix(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseMix(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzParseMix(f *testing.F) {
	for _, s := range []string{"auth=0.8,sign=0.2", "sign=1", "auth=1e-3,sign=5", "authenticate=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMix(s)
		if err != nil {
			return
		}
		again, err := ParseMix(m.String())
		if err != nil || again != m {
			t.Fatalf("ParseMix(%q) = %v; its String %q parses to %v, %v", s, m, m.String(), again, err)
		}
	})
}

func TestParseRates(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []float64
		wantErr bool
	}{
		{"sorted", "500, 1000,2000", []float64{500, 1000, 2000}, false},
		{"unsorted", "2000,500", []float64{500, 2000}, false},
		{"zero", "0,100", nil, true},
		{"negative", "-5", nil, true},
		{"word", "fast", nil, true},
		{"too high", "2e6", nil, true},
		{"empty", "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRates(tt.in)
			if (err != nil) != tt.wantErr || len(got) != len(tt.want) {
				t.Fatalf("ParseRates(%q) = %v, %v", tt.in, got, err)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("ParseRates(%q) = %v, want %v", tt.in, got, tt.want)
				}
			}
		})
	}
}

func TestReadUsers(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr string
	}{
		{"two with comment", "# phone,userId\n+994501234567,123456\n\n+994551234567, 654321\n", 2, ""},
		{"crlf", "+994501234567,123456\r\n", 1, ""},
		{"missing comma", "+994501234567\n", 0, "line 1"},
		{"bad user id", "+994501234567,12345a\n", 0, "user id"},
		{"empty", "\n# nothing\n", 0, "none"},
		{"overlong line", strings.Repeat("9", 300) + "\n", 0, "line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadUsers(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ReadUsers = %v, %v; want error about %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("ReadUsers = %v, %v; want %d users", got, err, tt.want)
			}
		})
	}
}

func FuzzReadUsers(f *testing.F) {
	f.Add("+994501234567,123456\n+994551234567,654321\n")
	f.Add("# header\n+994701234567 , 000001\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		users, err := ReadUsers(strings.NewReader(s))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteUsers(&buf, users); err != nil {
			t.Fatal(err)
		}
		again, err := ReadUsers(&buf)
		if err != nil || len(again) != len(users) {
			t.Fatalf("re-read %d users: %v", len(again), err)
		}
		for i := range users {
			if again[i] != users[i] {
				t.Fatalf("user %d: %v became %v", i, users[i], again[i])
			}
		}
	})
}

func TestStartBody(t *testing.T) {
	o := Options{Target: "http://x", APIKey: "k", Users: testUsers(1), HashType: "SHA512", CertificateType: "business"}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	c := newClient(&o)
	auth := string(c.appendStartBody(nil, o.Users[0], false))
	sign := string(c.appendStartBody(nil, o.Users[0], true))
	// 64 bytes of hash are 88 base64 characters.
	const pre = 57 // length of the prefix below
	for _, tt := range []struct{ name, got, want string }{
		{"auth prefix", auth[:pre], `{"phoneNumber":"+994500000000","userId":"100000","hash":"`},
		{"auth suffix", auth[pre+88:], `","hashType":"SHA512"}`},
		{"sign suffix", sign[pre+88:], `","hashType":"SHA512","certificate":{"type":"business"}}`},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	if a, b := c.appendStartBody(nil, o.Users[0], false), c.appendStartBody(nil, o.Users[0], false); bytes.Equal(a, b) {
		t.Error("two starts carry the same hash")
	}
}

func BenchmarkAppendStartBody(b *testing.B) {
	o := Options{Target: "http://x", APIKey: "k", Users: testUsers(1)}
	if err := o.validate(); err != nil {
		b.Fatal(err)
	}
	c := newClient(&o)
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.appendStartBody(buf[:0], o.Users[0], true)
	}
}

func BenchmarkRecord(b *testing.B) {
	r := newRecorder()
	s := sample{measured: true, start: 2 * time.Millisecond, submit: time.Millisecond, reply: 5 * time.Millisecond, e2e: 9 * time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		r.record(s)
	}
}

func TestParseUsersJSON(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []User
		wantErr bool
	}{
		{"array", `[{"phoneNumber":"+994501234567","userId":"123456","iccid":"89"}]`, []User{{"+994501234567", "123456"}}, false},
		{"wrapped, phone key", `{"subscribers":[{"phone":"+994551234567","userId":"000001"},{"phone":"+994551234568"}]}`, []User{{"+994551234567", "000001"}}, false},
		{"demo behaviours", `{"subscribers":[{"phoneNumber":"+994501234567","userId":"123456","behaviour":"approve"},{"phoneNumber":"+994501234568","userId":"123457","behaviour":"no-answer"}]}`, []User{{"+994501234567", "123456"}}, false},
		{"demo behaviours", `{"subscribers":[{"phoneNumber":"+994501234567","userId":"123456","behaviour":"approve"},{"phoneNumber":"+994501234568","userId":"123457","behaviour":"no-answer"}]}`, []User{{"+994501234567", "123456"}}, false},
		{"bad user id", `[{"phoneNumber":"+994501234567","userId":"12"}]`, nil, true},
		{"none usable", `[{"phoneNumber":"+994501234567"}]`, nil, true},
		{"not json", `<html>`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseUsersJSON([]byte(tt.in))
			if (err != nil) != tt.wantErr || len(got) != len(tt.want) {
				t.Fatalf("ParseUsersJSON = %v, %v", got, err)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("user %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzParseUsersJSON(f *testing.F) {
	f.Add([]byte(`[{"phoneNumber":"+994501234567","userId":"123456"}]`))
	f.Add([]byte(`{"subscribers":[{"phone":"+994551234567","userId":"000001"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := ParseUsersJSON(data)
		if err != nil {
			return
		}
		// Re-encode as the array form and decode again: the same users.
		var b bytes.Buffer
		b.WriteByte('[')
		for i, u := range users {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"phoneNumber":"` + u.Phone + `","userId":"` + u.UserID + `"}`)
		}
		b.WriteByte(']')
		again, err := ParseUsersJSON(b.Bytes())
		if err != nil || len(again) != len(users) {
			t.Fatalf("re-decode: %d users, %v", len(again), err)
		}
		for i := range users {
			if again[i] != users[i] {
				t.Fatalf("user %d: %v became %v", i, users[i], again[i])
			}
		}
	})
}

func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"empty", 0, false},
		{"small", 10, false},
		{"grows past the pooled buffer", 10000, false},
		{"exactly the bound", maxBody, false},
		{"over the bound", maxBody + 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Repeat([]byte{'x'}, tt.size)
			buf := make([]byte, 0, 16)
			got, err := readBody(io.NopCloser(bytes.NewReader(in)), &buf)
			if (err != nil) != tt.wantErr {
				t.Fatalf("readBody error %v", err)
			}
			if err == nil && !bytes.Equal(got, in) {
				t.Fatalf("read %d bytes, want %d", len(got), len(in))
			}
		})
	}
}

func FuzzParseRates(f *testing.F) {
	f.Add("500,1000,2000")
	f.Add(" 0.5 , 3e3")
	f.Fuzz(func(t *testing.T, s string) {
		rates, err := ParseRates(s)
		if err != nil {
			return
		}
		parts := make([]string, len(rates))
		for i, r := range rates {
			parts[i] = strconv.FormatFloat(r, 'g', -1, 64)
		}
		again, err := ParseRates(strings.Join(parts, ","))
		if err != nil || len(again) != len(rates) {
			t.Fatalf("re-parse of %v: %v, %v", rates, again, err)
		}
		for i := range rates {
			if again[i] != rates[i] {
				t.Fatalf("rate %d: %v became %v", i, rates[i], again[i])
			}
		}
	})
}
