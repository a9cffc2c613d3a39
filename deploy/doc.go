// Package deploy holds no code: it is the home of the deployment files
// (Kubernetes manifests, systemd unit, Redis, Prometheus and Grafana
// configuration, the example gateway configuration) and of the tests that
// keep them valid. The tests parse every manifest, check the fields an
// outage would hinge on (probes on the admin listener's real endpoints, ports
// that match the example configuration, selectors that select, a
// NetworkPolicy that lets out exactly the connections the configuration
// makes) and start a real redis-server with each shipped redis.conf.
//
// The packaging tests run the Makefile's targets as an operator would:
// make image (then inspect the image's configuration and files and run the
// binary inside it), make release (binaries, stamp, SHA256SUMS) and
// make run (Ctrl-C on a pseudo-terminal ends it with status 0).
package deploy
