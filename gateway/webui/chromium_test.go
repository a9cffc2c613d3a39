package webui_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imzagate/imzagate/gateway/demo"
)

// need skips when a tool is missing, except under CI where it fails.
func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not found; CI is set, so this is a failure (make deps installs it)", tool)
			}
			t.Skipf("%s not found (make deps installs it)", tool)
		}
	}
}

// viewport is a browser window size.
type viewport struct {
	name          string
	width, height int
}

var (
	desktop = viewport{"desktop", 1280, 900}
	phone   = viewport{"phone", 390, 844}
)

// pageRun is the page after one scripted visit: its final DOM, its
// visible text (tags stripped) and a screenshot taken at the same moment.
type pageRun struct {
	dom, text string
	shot      string // path of the PNG
}

var tagRE = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`)

// visit opens the demo page with query q in headless Chromium at size v
// and returns it once the scripted flow has finished.
func visit(t *testing.T, d *demo.Demo, name string, v viewport, q url.Values) pageRun {
	t.Helper()
	shot := filepath.Join(t.ArtifactDir(), fmt.Sprintf("demo-page-%s-%s.png", name, v.name))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=90000", fmt.Sprintf("--window-size=%d,%d", v.width, v.height),
		"--dump-dom", "--screenshot="+shot, "http://"+d.APIAddr()+"/?"+q.Encode())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", name, err, errb.String())
	}
	dom := out.String()
	text := strings.Join(strings.Fields(tagRE.ReplaceAllString(dom, " ")), " ")
	return pageRun{dom: dom, text: text, shot: shot}
}

// checkShot asserts the screenshot has the window's size and is not
// blank: a good share of it differs from the background.
func checkShot(t *testing.T, r pageRun, v viewport) {
	t.Helper()
	f, err := os.Open(r.shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != v.width || b.Dy() != v.height {
		t.Fatalf("screenshot %dx%d, want %dx%d", b.Dx(), b.Dy(), v.width, v.height)
	}
	bg := img.At(b.Max.X-1, b.Max.Y-1)
	differ, total := 0, 0
	for y := b.Min.Y; y < b.Max.Y; y += 4 {
		for x := b.Min.X; x < b.Max.X; x += 4 {
			total++
			if img.At(x, y) != bg {
				differ++
			}
		}
	}
	if differ*20 < total {
		t.Fatalf("screenshot %s is nearly blank (%d of %d samples differ from the background)", r.shot, differ, total)
	}
}

// TestDemoPageInChromium drives the demo page in headless Chromium, at
// desktop and phone widths, for a test user of every behaviour: it picks
// the user from the page's list (the click fills the form), logs in, signs
// where the login succeeds, and asserts the words the page shows, that no
// raw distinguished name is shown, that the page fits the window, and the
// screenshots taken at the end.
func TestDemoPageInChromium(t *testing.T) {
	need(t, "chromium")
	d, err := demo.Start(t.Context(), demo.Options{HTTPAddr: "127.0.0.1:0", AdminAddr: "off", SIMs: 20,
		UserDelay: 200 * time.Millisecond, UserTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})
	subs := d.Subscribers()
	name := func(i int) string {
		for _, c := range subs[i].Certificates {
			if c.Type == "authentication" {
				m := regexp.MustCompile(`GN=([^,]+), SN=([^,]+)`).FindStringSubmatch(c.Subject)
				return m[1] + " " + m[2]
			}
		}
		t.Fatalf("card %d has no authentication certificate", i)
		return ""
	}
	voen := func(i int) string {
		for _, c := range subs[i].Certificates {
			if c.Type == "business" {
				return c.TaxID
			}
		}
		t.Fatalf("card %d has no business certificate", i)
		return ""
	}
	pick := func(i int, extra ...string) url.Values {
		q := url.Values{"auto": {"1"}, "pick": {subs[i].PhoneNumber}}
		for k := 0; k+1 < len(extra); k += 2 {
			q.Set(extra[k], extra[k+1])
		}
		return q
	}
	type scenario struct {
		name  string
		card  int
		v     viewport
		q     url.Values
		state string   // #status data-state at the end
		words []string // in the page's text
	}
	scenarios := []scenario{
		{"approve-business", 1, desktop, pick(1, "cert", "business:"+voen(1)), "signed", []string{
			"Selected " + name(1) + " (" + subs[1].PhoneNumber + "), who approves",
			"Login started: verification code", "Logged in as " + name(1),
			"The document is signed", "Signed by " + name(1) + " with the business certificate of Şirkət 1 MMC (VÖEN " + voen(1) + ")",
			"Algorithm: ED25519", "Keep the signature with the document"}},
		{"approve-personal", 2, phone, pick(2), "signed", []string{
			"Logged in as " + name(2), "Signed by " + name(2) + " with the personal signing certificate, valid until"}},
		{"wrong-pin-once", 7, desktop, pick(7), "signed", []string{
			"Selected " + name(7) + " (" + subs[7].PhoneNumber + "), who mistypes the PIN once", "Logged in as " + name(7), "Signed by " + name(7)}},
		{"cancel-then-start-over", 6, phone, pick(6, "restart", "1"), "idle", []string{
			"Login did not complete: The user cancelled on the phone.", "Started over"}},
		{"pin-blocked", 8, desktop, pick(8), "login-failed", []string{
			"Login did not complete", "PIN1 is blocked after too many wrong entries.",
			"The user must unblock it with the PUK"}},
		{"no-answer", 9, phone, pick(9), "login-failed", []string{
			"Login did not complete", "The user did not answer in time.", "Start over to send a new request."}},
		{"wrong-user-id", 3, desktop, url.Values{"auto": {"1"}, "phone": {subs[3].PhoneNumber}, "userId": {"000000"}}, "login-refused", []string{
			"Login refused", "Unknown phone number, or a wrong User ID.", "Check both: the User ID is the 6 digits"}},
	}
	for i, sc := range scenarios {
		if want := []string{"approve", "approve", "wrong-pin-1x-then-approve", "cancel", "wrong-pin-until-blocked", "no-answer", "approve"}[i]; subs[sc.card].Behaviour != want {
			t.Fatalf("card %d is %s, want %s", sc.card, subs[sc.card].Behaviour, want)
		}
	}
	// Two browsers at a time: the no-answer case alone waits 10 s.
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	results := make([]pageRun, len(scenarios))
	for i, sc := range scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = visit(t, d, sc.name, sc.v, sc.q)
		}()
	}
	wg.Wait()
	for i, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			r := results[i]
			checkShot(t, r, sc.v)
			if !strings.Contains(r.dom, `data-state="`+sc.state+`"`) {
				t.Errorf("final state is not %s:\n%s", sc.state, r.text)
			}
			for _, w := range sc.words {
				if !strings.Contains(r.text, w) {
					t.Errorf("page lacks %q:\n%s", w, r.text)
				}
			}
			visible := map[string]string{"idle": "login", "signed": "result", "login-failed": "result", "login-refused": "result"}[sc.state]
			for _, id := range []string{"login", "waiting", "certs", "result"} {
				hidden := regexp.MustCompile(`id="` + id + `"[^>]*\shidden`).MatchString(r.dom)
				if hidden == (id == visible) {
					t.Errorf("section %s hidden=%v at the end (want only %s shown)", id, hidden, visible)
				}
			}
			if !strings.Contains(r.dom, `data-layout="fits"`) {
				t.Errorf("page does not fit %d px: %s", sc.v.width, regexp.MustCompile(`data-layout="[^"]*"`).FindString(r.dom))
			}
			if m := regexp.MustCompile(`C=AZ, CN=|serialNumber=PNOAZ|organizationIdentifier=`).FindString(r.text); m != "" {
				t.Errorf("page shows a raw distinguished name (%q):\n%s", m, r.text)
			}
			if strings.Contains(r.dom, d.APIKey()) {
				t.Error("the page holds the API key")
			}
			if !regexp.MustCompile(`expires in \d+:\d\d`).MatchString(r.text) && sc.name != "wrong-user-id" {
				t.Errorf("no countdown in the activity:\n%s", r.text)
			}
		})
	}
	// The list shows every behaviour with its users.
	for _, title := range []string{"Approves", "Mistypes the PIN once", "Cancels", "Blocks the PIN", "Never answers"} {
		if !strings.Contains(results[0].text, title) {
			t.Errorf("the list lacks %q", title)
		}
	}
}
