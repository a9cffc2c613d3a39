package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/sessions/redistest"
)

// manifest is the part of a Kubernetes object every check needs; the rest
// is read through the generic map.
type manifest struct {
	file string
	kind string
	name string
	obj  map[string]any
}

func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in kubernetes/: %v", err)
	}
	var out []manifest
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: invalid YAML: %v", f, err)
			}
			if obj == nil {
				continue
			}
			m := manifest{file: f, obj: obj}
			m.kind, _ = obj["kind"].(string)
			m.name, _ = dig(obj, "metadata", "name").(string)
			if m.kind == "" || m.name == "" || obj["apiVersion"] == nil {
				t.Fatalf("%s: object without apiVersion/kind/metadata.name", f)
			}
			if m.kind != "Namespace" && dig(obj, "metadata", "namespace") != "imzagate" {
				t.Errorf("%s: %s/%s is not in namespace imzagate", f, m.kind, m.name)
			}
			out = append(out, m)
		}
	}
	return out
}

// dig walks nested maps and lists (an int in the path indexes a list).
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func find(t *testing.T, ms []manifest, kind string) manifest {
	t.Helper()
	for _, m := range ms {
		if m.kind == kind {
			return m
		}
	}
	t.Fatalf("no %s among the manifests", kind)
	return manifest{}
}

func TestKubernetesManifests(t *testing.T) {
	ms := loadManifests(t)
	dep := find(t, ms, "Deployment")
	labels, _ := dig(dep.obj, "spec", "template", "metadata", "labels").(map[string]any)
	selector, _ := dig(dep.obj, "spec", "selector", "matchLabels").(map[string]any)
	if len(selector) == 0 || !subset(selector, labels) {
		t.Fatalf("Deployment selector %v does not select its pod labels %v", selector, labels)
	}
	c := dig(dep.obj, "spec", "template", "spec", "containers", 0)
	ports := map[string]int{}
	for _, p := range asList(dig(c, "ports")) {
		name, _ := dig(p, "name").(string)
		port, _ := dig(p, "containerPort").(int)
		ports[name] = port
	}
	if ports["api"] != 8080 || ports["admin"] != 9090 {
		t.Errorf("container ports = %v, want api 8080 (portal API) and admin 9090 (admin listener)", ports)
	}
	for _, probe := range []struct{ key, path string }{{"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}} {
		got := dig(c, probe.key, "httpGet", "path")
		port := dig(c, probe.key, "httpGet", "port")
		if got != probe.path || (port != "admin" && port != 9090) {
			t.Errorf("%s = %v on port %v, want %s on the admin port", probe.key, got, port, probe.path)
		}
	}
	args := strings.Join(toStrings(dig(c, "args")), " ")
	if !strings.Contains(args, "serve") || !strings.Contains(args, "--config") {
		t.Errorf("container args %q do not run 'serve --config'", args)
	}
	grace, _ := dig(dep.obj, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if grace < 35 {
		t.Errorf("terminationGracePeriodSeconds = %d, shorter than the gateway's drain bound", grace)
	}
	// The config and secret volumes must refer to objects that exist.
	for _, v := range asList(dig(dep.obj, "spec", "template", "spec", "volumes")) {
		if cm, ok := dig(v, "configMap", "name").(string); ok {
			assertExists(t, ms, "ConfigMap", cm)
		}
		if s, ok := dig(v, "secret", "secretName").(string); ok {
			assertExists(t, ms, "Secret", s)
		}
	}

	svc := find(t, ms, "Service")
	if sel, _ := dig(svc.obj, "spec", "selector").(map[string]any); !subset(sel, labels) {
		t.Errorf("Service selector %v does not select the pods", sel)
	}
	for _, p := range asList(dig(svc.obj, "spec", "ports")) {
		target := dig(p, "targetPort")
		if name, ok := target.(string); ok && ports[name] == 0 {
			t.Errorf("Service targetPort %q is not a container port", name)
		}
	}

	hpa := find(t, ms, "HorizontalPodAutoscaler")
	if dig(hpa.obj, "spec", "scaleTargetRef", "name") != dep.name {
		t.Errorf("HPA scales %v, not the Deployment %s", dig(hpa.obj, "spec", "scaleTargetRef", "name"), dep.name)
	}
	pdb := find(t, ms, "PodDisruptionBudget")
	if sel, _ := dig(pdb.obj, "spec", "selector", "matchLabels").(map[string]any); !subset(sel, labels) {
		t.Errorf("PDB selector %v does not select the pods", sel)
	}
	minAvail, _ := dig(pdb.obj, "spec", "minAvailable").(int)
	minReplicas, _ := dig(hpa.obj, "spec", "minReplicas").(int)
	if minAvail >= minReplicas {
		t.Errorf("PDB minAvailable %d >= HPA minReplicas %d: no node could ever be drained", minAvail, minReplicas)
	}

	np := find(t, ms, "NetworkPolicy")
	types := strings.Join(toStrings(dig(np.obj, "spec", "policyTypes")), ",")
	if types != "Ingress,Egress" {
		t.Errorf("NetworkPolicy policyTypes = %q, want both directions restricted", types)
	}
	var ingressPorts []int
	for _, rule := range asList(dig(np.obj, "spec", "ingress")) {
		for _, p := range asList(dig(rule, "ports")) {
			n, _ := dig(p, "port").(int)
			ingressPorts = append(ingressPorts, n)
		}
	}
	for _, p := range ingressPorts {
		if p != ports["api"] && p != ports["admin"] {
			t.Errorf("NetworkPolicy lets port %d in, which the gateway does not serve", p)
		}
	}
	if len(ingressPorts) == 0 {
		t.Error("NetworkPolicy admits nothing: portals could not reach the API")
	}
}

// TestKubernetesConfigMatchesDeployment parses the ConfigMap's configuration
// with the gateway's own strict parser and checks it against the pods: the
// listeners on the container ports, the admin listener reachable by the
// probes, and every secret it names provided by a Secret.
func TestKubernetesConfigMatchesDeployment(t *testing.T) {
	ms := loadManifests(t)
	cm := find(t, ms, "ConfigMap")
	text, _ := dig(cm.obj, "data", "imzagate.yaml").(string)
	cfg, err := gateway.ParseConfig(strings.NewReader(text))
	if err != nil {
		t.Fatalf("ConfigMap imzagate.yaml: %v", err)
	}
	if _, port, _ := strings.Cut(cfg.HTTP.Addr, ":"); port != "8080" {
		t.Errorf("http.addr %q does not listen on the api container port 8080", cfg.HTTP.Addr)
	}
	if host, port, _ := strings.Cut(cfg.Metrics.Addr, ":"); port != "9090" || (host != "0.0.0.0" && host != "") {
		t.Errorf("metrics.addr %q: the probes and Prometheus need 0.0.0.0:9090", cfg.Metrics.Addr)
	}
	secretKeys := map[string]map[string]bool{}
	for _, m := range ms {
		if m.kind != "Secret" {
			continue
		}
		keys := map[string]bool{}
		for k := range asMap(dig(m.obj, "stringData")) {
			keys[k] = true
		}
		secretKeys[m.name] = keys
	}
	dep := find(t, ms, "Deployment")
	c := dig(dep.obj, "spec", "template", "spec", "containers", 0)
	envSecret, _ := dig(c, "envFrom", 0, "secretRef", "name").(string)
	wantEnv := []string{cfg.Redis.PasswordEnv}
	for _, op := range cfg.Operators {
		for _, b := range op.Binds {
			wantEnv = append(wantEnv, b.PasswordEnv)
		}
	}
	for _, name := range wantEnv {
		if name != "" && !secretKeys[envSecret][name] {
			t.Errorf("the config reads $%s, which Secret %q (envFrom) does not provide", name, envSecret)
		}
	}
	for _, f := range []string{cfg.Secrets.PepperFile, cfg.Secrets.MasterKeysFile} {
		dir, key := filepath.Split(f)
		if dir != "/etc/imzagate/secrets/" || !secretKeys["imzagate-secrets"][key] {
			t.Errorf("secret file %q is not a key of the imzagate-secrets volume", f)
		}
	}
	if cfg.ShutdownTimeout <= 0 {
		t.Fatal("shutdownTimeout not set")
	}
	grace, _ := dig(dep.obj, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
	if float64(grace) < cfg.ShutdownTimeout.Seconds()+5 {
		t.Errorf("terminationGracePeriodSeconds %d leaves no room for shutdownTimeout %s", grace, cfg.ShutdownTimeout)
	}
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func assertExists(t *testing.T, ms []manifest, kind, name string) {
	t.Helper()
	for _, m := range ms {
		if m.kind == kind && m.name == name {
			return
		}
	}
	t.Errorf("the Deployment mounts %s %q, which no manifest defines", kind, name)
}

// TestRedisConfigsStartARealServer loads each shipped redis.conf into a real
// redis-server: a misspelt directive makes the server refuse to start.
func TestRedisConfigsStartARealServer(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("redis*", "redis*.conf"))
	if len(files) == 0 {
		t.Fatal("no redis configuration files found")
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			abs, err := filepath.Abs(f)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(abs)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), "appendonly yes") {
				t.Errorf("%s does not turn on AOF, which the subscriber registry needs", f)
			}
			if !strings.Contains(string(raw), "maxmemory-policy noeviction") {
				t.Errorf("%s lets Redis evict keys; sessions and counters must never vanish silently", f)
			}
			// The password and replica guard would stop a lone test server
			// from answering; everything else is loaded as shipped.
			srv := redistest.StartWith(t, redistest.Options{ConfigFile: abs, AppendOnly: true, Args: []string{
				"--requirepass", "", "--min-replicas-to-write", "0",
			}})
			if !strings.Contains(string(raw), "appendfsync everysec") && !strings.Contains(string(raw), "appendfsync always") {
				t.Errorf("%s does not fsync the AOF at least once a second", f)
			}
			// What the store relies on, as the running server reports it:
			// every write in the AOF and no key ever evicted.
			for key, want := range map[string]string{"appendonly": "yes", "maxmemory-policy": "noeviction"} {
				if got, err := srv.Do("CONFIG", "GET", key); err != nil || !strings.Contains(got, want) {
					t.Errorf("server from %s: %s = %q, %v; want %s", f, key, got, err, want)
				}
			}
		})
	}
}

func subset(sub, super map[string]any) bool {
	if len(sub) == 0 {
		return false
	}
	for k, v := range sub {
		if super[k] != v {
			return false
		}
	}
	return true
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func toStrings(v any) []string {
	var out []string
	for _, x := range asList(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
