package deploy_test

import (
	"bufio"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/imzagate/imzagate/gateway"
)

// egressRule is one egress rule of the NetworkPolicy, flattened.
type egressRule struct {
	peers []any
	ports []string // "6379/TCP"
}

func egressRules(t *testing.T, np manifest) []egressRule {
	t.Helper()
	var rules []egressRule
	for i, r := range asList(dig(np.obj, "spec", "egress")) {
		rule := egressRule{peers: asList(dig(r, "to"))}
		for _, p := range asList(dig(r, "ports")) {
			port, _ := dig(p, "port").(int)
			proto, _ := dig(p, "protocol").(string)
			rule.ports = append(rule.ports, strconv.Itoa(port)+"/"+proto)
		}
		// A rule without peers or ports allows every destination or port.
		if len(rule.peers) == 0 || len(rule.ports) == 0 {
			t.Errorf("NetworkPolicy egress rule %d has no 'to' or no 'ports': it opens everything", i)
		}
		rules = append(rules, rule)
	}
	return rules
}

// allows reports whether some rule lets port out to a peer match accepts.
func allows(rules []egressRule, port string, match func(peer any) bool) bool {
	for _, r := range rules {
		if slices.Contains(r.ports, port) && slices.ContainsFunc(r.peers, match) {
			return true
		}
	}
	return false
}

// namespacePeer matches a peer selecting the whole of namespace ns.
func namespacePeer(ns string) func(any) bool {
	return func(p any) bool {
		return dig(p, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") == ns && dig(p, "podSelector") == nil
	}
}

// ipBlockPeer matches a peer that is an address range narrower than the
// whole Internet.
func ipBlockPeer(p any) bool {
	cidr, _ := dig(p, "ipBlock", "cidr").(string)
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return false
	}
	ones, _ := n.Mask.Size()
	return ones >= 8
}

// namespaceOf tells which namespace a cluster DNS name of a StatefulSet pod
// or Service (pod.service.namespace[.svc...]) lives in, from a pod in
// namespace imzagate: shorter names resolve in the pod's own namespace.
func namespaceOf(host string) string {
	parts := strings.Split(host, ".")
	if len(parts) < 3 {
		return "imzagate"
	}
	return parts[2]
}

// TestDeployNetworkPolicyAllowsWhatTheConfigNeeds derives from the
// ConfigMap's configuration (and the Sentinel configuration it relies on)
// every connection the gateway opens and checks the NetworkPolicy allows
// each one, and nothing on a port the configuration does not use.
func TestDeployNetworkPolicyAllowsWhatTheConfigNeeds(t *testing.T) {
	ms := loadManifests(t)
	np := find(t, ms, "NetworkPolicy")
	rules := egressRules(t, np)
	text, _ := dig(find(t, ms, "ConfigMap").obj, "data", "imzagate.yaml").(string)
	cfg, err := gateway.ParseConfig(strings.NewReader(text))
	if err != nil {
		t.Fatalf("ConfigMap imzagate.yaml: %v", err)
	}
	needed := map[string]bool{"53/UDP": true, "53/TCP": true}

	// Redis: the configured addresses, and with Sentinel the data nodes it
	// announces (sentinel monitor NAME HOST PORT QUORUM).
	redisAddrs := slices.Clone(cfg.Redis.Addrs)
	if cfg.Redis.MasterName != "" {
		host, port := sentinelMaster(t, cfg.Redis.MasterName)
		redisAddrs = append(redisAddrs, net.JoinHostPort(host, port))
	}
	for _, addr := range redisAddrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("Redis address %q: %v", addr, err)
		}
		ns := namespaceOf(host)
		needed[port+"/TCP"] = true
		if !allows(rules, port+"/TCP", namespacePeer(ns)) {
			t.Errorf("Redis at %s (namespace %s): no egress rule allows namespace %s on %s/TCP", addr, ns, ns, port)
		}
	}

	// Cluster DNS resolves every one of those names.
	kubeDNS := func(p any) bool {
		return dig(p, "namespaceSelector", "matchLabels", "kubernetes.io/metadata.name") == "kube-system" &&
			dig(p, "podSelector", "matchLabels", "k8s-app") == "kube-dns"
	}
	for _, port := range []string{"53/UDP", "53/TCP"} {
		if !allows(rules, port, kubeDNS) {
			t.Errorf("no egress rule allows cluster DNS (kube-dns in kube-system) on %s", port)
		}
	}

	// SMSCs: every bind's port, to an address range.
	for _, op := range cfg.Operators {
		for _, b := range op.Binds {
			_, port, err := net.SplitHostPort(b.Addr)
			if err != nil {
				t.Fatalf("operator %s bind %q: %v", op.Name, b.Addr, err)
			}
			needed[port+"/TCP"] = true
			if !allows(rules, port+"/TCP", ipBlockPeer) {
				t.Errorf("operator %s: no egress rule allows its SMSC %s (an ipBlock on %s/TCP)", op.Name, b.Addr, port)
			}
		}
	}

	// Callbacks: HTTPS (the gateway refuses other schemes) to the portals'
	// callback hosts, outside the cluster.
	for _, p := range cfg.Portals {
		if len(p.CallbackHosts) == 0 {
			continue
		}
		needed["443/TCP"] = true
		if !allows(rules, "443/TCP", ipBlockPeer) {
			t.Errorf("portal %s calls back to %v: no egress rule allows an ipBlock on 443/TCP", p.ID, p.CallbackHosts)
		}
	}

	for _, urls := range []map[string]string{cfg.Trust.OCSP.URLs, cfg.Trust.CRL.URLs} {
		for ca, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil {
				t.Fatalf("trust URL %q: %v", raw, err)
			}
			port := u.Port()
			if port == "" {
				port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
			}
			needed[port+"/TCP"] = true
			if !allows(rules, port+"/TCP", ipBlockPeer) {
				t.Errorf("the CA %s's %s: no egress rule allows an ipBlock on %s/TCP", ca, raw, port)
			}
		}
	}

	for _, r := range rules {
		for _, port := range r.ports {
			if !needed[port] {
				t.Errorf("NetworkPolicy lets %s out, which the configuration never connects to", port)
			}
		}
	}
}

// sentinelMaster reads the monitored master's host and port from the
// shipped Sentinel configuration.
func sentinelMaster(t *testing.T, name string) (host, port string) {
	t.Helper()
	f, err := os.Open(filepath.Join("redis-sentinel", "sentinel.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 6 && fields[0] == "sentinel" && fields[1] == "monitor" && fields[2] == name {
			return fields[3], fields[4]
		}
	}
	t.Fatalf("sentinel.conf monitors no master %q (the configuration's masterName)", name)
	return "", ""
}

// TestAlertNoInstanceUpWatchesTheScrapeJob: the alert must name the job
// that scrapes the gateway pods, or it would fire (absent) or stay silent
// for ever.
func TestAlertNoInstanceUpWatchesTheScrapeJob(t *testing.T) {
	var prom struct {
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, filepath.Join("prometheus", "prometheus.yml"), &prom)
	job := ""
	for _, sc := range prom.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			for _, n := range d.Names {
				if strings.HasPrefix(n, "imzagate-pods.imzagate.") {
					job = sc.JobName
				}
			}
		}
	}
	if job == "" {
		t.Fatal("prometheus.yml has no job scraping the imzagate-pods Service")
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, filepath.Join("prometheus", "alerts.yml"), &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "ImzagateNoInstanceUp" {
				continue
			}
			sel := `up{job="` + job + `"}`
			if !strings.Contains(r.Expr, "absent("+sel+")") || strings.Count(r.Expr, sel) != 2 {
				t.Errorf("ImzagateNoInstanceUp expr %q: want absent(%s) and the sum of %s", r.Expr, sel, sel)
			}
			return
		}
	}
	t.Fatal("alerts.yml has no ImzagateNoInstanceUp rule")
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
