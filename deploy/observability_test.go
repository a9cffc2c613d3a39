package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imzagate/imzagate/gateway/demo"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// needTool skips when a tool is missing on a laptop and fails under CI,
// where make deps must have installed it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found; CI is set, so this is a failure (make deps installs it)", name)
		}
		t.Skipf("%s not found (make deps installs it)", name)
	}
	return path
}

func promtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(needTool(t, "promtool"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s: %s", strings.Join(args, " "), lastLine(string(out)))
}

func TestPrometheusConfigAndRules(t *testing.T) {
	promtool(t, "check", "config", filepath.Join("prometheus", "prometheus.yml"))
	promtool(t, "check", "rules", filepath.Join("prometheus", "alerts.yml"))
	promtool(t, "test", "rules", filepath.Join("prometheus", "alerts_test.yml"))
}

// TestDashboardQueriesParse turns every dashboard query into a recording
// rule so that promtool's PromQL parser checks it.
func TestDashboardQueriesParse(t *testing.T) {
	exprs := dashboardExprs(t)
	if len(exprs) < 20 {
		t.Fatalf("dashboard has only %d queries", len(exprs))
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for i, e := range exprs {
		// Grafana's variables are not PromQL: give them legal stand-ins.
		e = strings.ReplaceAll(e, "$__rate_interval", "5m")
		e = strings.ReplaceAll(e, "$operator", ".*")
		quoted, _ := json.Marshal(e)
		fmt.Fprintf(&b, "      - record: dashboard:query_%d\n        expr: %s\n", i, quoted)
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, "check", "rules", f)
}

func dashboardExprs(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("grafana", "dashboards", "imzagate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Type    string `json:"type"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if dash.UID == "" {
		t.Fatal("dashboard has no uid; provisioning would duplicate it on every change")
	}
	var exprs []string
	for _, p := range dash.Panels {
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	return exprs
}

var metricName = regexp.MustCompile(`\b(imzagate_[a-z0-9_]+|process_[a-z0-9_]+|go_[a-z0-9_]+)\b`)

// usedMetricNames collects every metric the dashboard and the alert rules
// query, with histogram suffixes folded onto the family name.
func usedMetricNames(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	add := func(where, text string) {
		for _, m := range metricName.FindAllString(text, -1) {
			used[m] = append(used[m], where)
		}
	}
	for _, e := range dashboardExprs(t) {
		add("dashboard", e)
	}
	rules, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// Expressions and runbook lines alike: a runbook that sends the
	// on-call engineer to a metric that does not exist is a broken runbook.
	add("alerts.yml", string(rules))
	return used
}

// TestMetricsUsedByDashboardAndAlertsAreExported runs a real gateway (test
// SMSC over loopback SMPP, simulated SIMs, a real redis-server), drives a
// few sessions through the portal API, scrapes /metrics on the admin
// listener, and checks that every metric the dashboard and the alerts use
// is exported and that the counters moved as the sessions did.
func TestMetricsUsedByDashboardAndAlertsAreExported(t *testing.T) {
	srv := redistest.Start(t)
	d, err := demo.Start(t.Context(), demo.Options{HTTPAddr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0", SIMs: 20,
		RedisURL: "redis://" + srv.Addr + "/0", APIKey: "observability-test-key",
		UserDelay: 50 * time.Millisecond, UserTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = d.Shutdown(ctx)
	})

	byBehaviour := map[string]demo.Subscriber{}
	for _, s := range d.Subscribers() {
		if _, ok := byBehaviour[s.Behaviour]; !ok {
			byBehaviour[s.Behaviour] = s
		}
	}
	want := map[string]string{"approve": "OK", "cancel": "USER_CANCELLED"}
	for behaviour, result := range want {
		sub, ok := byBehaviour[behaviour]
		if !ok {
			t.Fatalf("no %q subscriber in the demo", behaviour)
		}
		id := startAuthentication(t, d, sub)
		if got := pollResult(t, d, id); got != result {
			t.Fatalf("%s user: result %q, want %q", behaviour, got, result)
		}
	}
	// One start with a wrong User ID, so the error counter moves too.
	bad := byBehaviour["approve"]
	bad.UserID = wrongUserID(bad.UserID)
	if code := postAuthentication(t, d, bad); code != http.StatusUnprocessableEntity {
		t.Fatalf("wrong User ID answered %d, want 422 (USER_UNKNOWN)", code)
	}

	// Counters of a completion are updated just after the store write the
	// portal's poll sees, so scrape until the run's effects are all counted
	// (or a deadline passes and the checks below report what is missing).
	var series map[string]float64
	for deadline := time.Now().Add(5 * time.Second); ; {
		series = scrape(t, "http://"+d.AdminAddr()+"/metrics")
		if series[`imzagate_sessions_completed_total{result="OK"}`] >= 1 &&
			series[`imzagate_sessions_completed_total{result="USER_CANCELLED"}`] >= 1 &&
			series[`imzagate_session_stage_seconds_count{stage="end_to_end"}`] >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	families := map[string]bool{}
	for s := range series {
		name, _, _ := strings.Cut(s, "{")
		families[name] = true
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok {
				families[base] = true
			}
		}
	}
	used := usedMetricNames(t)
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		base := n
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			base = strings.TrimSuffix(base, suffix)
		}
		if !families[n] && !families[base] {
			t.Errorf("%s is used by %v but the gateway does not export it", n, dedupe(used[n]))
		}
	}
	t.Logf("%d metric names used by the dashboard and alerts, all checked against a live scrape", len(names))

	checks := []struct {
		series string
		min    float64
	}{
		{`imzagate_sessions_started_total{operation="AUTHENTICATE",portal="demo"}`, 2},
		{`imzagate_sessions_completed_total{result="OK"}`, 1},
		{`imzagate_sessions_completed_total{result="USER_CANCELLED"}`, 1},
		{`imzagate_smpp_submits_total{operator="demo-operator",status="ESME_ROK"}`, 2},
		{`imzagate_smpp_deliver_sm_received_total{kind="mo",operator="demo-operator"}`, 2},
		{`imzagate_mo_received_total{kind="reply"}`, 2},
		{`imzagate_smpp_bind_up{bind="demo-operator-1",operator="demo-operator"}`, 1},
		{`imzagate_session_stage_seconds_count{stage="end_to_end"}`, 2},
		// Current at scrape time although nothing has polled /readyz.
		{`imzagate_ready`, 1},
	}
	for _, c := range checks {
		got, ok := series[c.series]
		if !ok || got < c.min {
			t.Errorf("%s = %v (present %v), want at least %v", c.series, got, ok, c.min)
		}
	}
	if got := sumFamily(series, "imzagate_api_errors_total"); got < 1 {
		t.Errorf("imzagate_api_errors_total did not count the wrong User ID (sum %v)", got)
	}
	if got := series[`imzagate_mo_replays_total`]; got != 0 {
		t.Errorf("imzagate_mo_replays_total = %v after an honest run", got)
	}
}

func startAuthentication(t *testing.T, d *demo.Demo, sub demo.Subscriber) string {
	t.Helper()
	resp, body := doAuthentication(t, d, sub)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	var out struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.SessionID == "" {
		t.Fatalf("start answer %s: %v", body, err)
	}
	return out.SessionID
}

func postAuthentication(t *testing.T, d *demo.Demo, sub demo.Subscriber) int {
	t.Helper()
	resp, _ := doAuthentication(t, d, sub)
	return resp.StatusCode
}

func doAuthentication(t *testing.T, d *demo.Demo, sub demo.Subscriber) (*http.Response, []byte) {
	t.Helper()
	hash := make([]byte, 32)
	_, _ = rand.Read(hash)
	body, _ := json.Marshal(map[string]string{"phoneNumber": sub.PhoneNumber, "userId": sub.UserID,
		"hash": base64.StdEncoding.EncodeToString(hash), "hashType": "SHA256"})
	req, _ := http.NewRequest("POST", "http://"+d.APIAddr()+"/v1/authentications", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.APIKey())
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func pollResult(t *testing.T, d *demo.Demo, id string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", "http://"+d.APIAddr()+"/v1/sessions/"+id+"?timeoutMs=5000", nil)
		req.Header.Set("Authorization", "Bearer "+d.APIKey())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out struct{ State, Result string }
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if out.State == "COMPLETE" {
			return out.Result
		}
	}
	t.Fatalf("session %s did not complete", id)
	return ""
}

// scrape reads the text exposition format into series -> value, with the
// series written as the exposition writes it (labels sorted by name).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("bad exposition line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad value in %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

func sumFamily(series map[string]float64, family string) float64 {
	var sum float64
	for s, v := range series {
		if name, _, _ := strings.Cut(s, "{"); name == family {
			sum += v
		}
	}
	return sum
}

func wrongUserID(id string) string {
	b := []byte(id)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
