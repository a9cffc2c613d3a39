// Package deploy holds no code: it is the home of the deployment files
// (Kubernetes manifests, systemd unit, Redis, Prometheus and Grafana
// configuration, the example gateway configuration) and of the tests that
// keep them valid. The tests parse every manifest, check the fields an
// outage would hinge on (probes on the admin listener's real endpoints, ports
// that match the example configuration, selectors that select) and start a
// real redis-server with each shipped redis.conf.
package deploy
