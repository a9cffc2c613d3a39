package simstack

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/imzagate/imzagate/gateway"
	"github.com/imzagate/imzagate/smpp"
)

// StartInstance starts one more gateway over the stack's Redis and SMSC,
// with the stack's keys, pepper, portals and settings, and waits until its
// binds are up. Any instance may then receive the replies to sessions
// another started. The first instance shares the stack's Redis client;
// later ones, and any with a RedisHook, get clients of their own.
func (s *Stack) StartInstance(ctx context.Context, in Instance) (*gateway.Gateway, error) {
	client, own, err := s.instanceClient(in.RedisHook)
	if err != nil {
		return nil, err
	}
	gw, err := gateway.Start(ctx, s.gatewayOptions(in, client))
	if err != nil {
		if own {
			_ = client.Close()
		}
		return nil, fmt.Errorf("simstack: gateway: %w", err)
	}
	inst := &instance{gw: gw}
	if own {
		inst.client = client
	}
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.instances = append(s.instances, inst)
	}
	s.mu.Unlock()
	if closed {
		_ = gw.Shutdown(ctx)
		if own {
			_ = client.Close()
		}
		return nil, errors.New("simstack: the stack is shut down")
	}
	if err := waitReady(ctx, gw, s.opts.ReadyTimeout); err != nil {
		return nil, err
	}
	return gw, nil
}

// instanceClient gives an instance the stack's client, or a client of
// its own (own true) when others run already or a hook must see only
// this instance's calls.
func (s *Stack) instanceClient(hook redis.Hook) (client redis.UniversalClient, own bool, err error) {
	s.mu.Lock()
	first, closed := len(s.instances) == 0, s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return nil, false, errors.New("simstack: the stack is shut down")
	case s.redis.dial == nil && hook != nil:
		return nil, false, errors.New("simstack: an instance with a RedisHook needs Redis Addrs or URL, not a Client")
	case s.redis.dial == nil || (first && hook == nil):
		return s.redis.client, false, nil
	}
	client = s.redis.dial()
	if hook != nil {
		client.AddHook(hook)
	}
	return client, true, nil
}

// gatewayOptions are one instance's gateway.Options.
func (s *Stack) gatewayOptions(in Instance, client redis.UniversalClient) gateway.Options {
	o := s.opts
	httpAddr, adminAddr := in.HTTPAddr, in.AdminAddr
	if httpAddr == "" {
		httpAddr = "127.0.0.1:0"
	}
	if adminAddr == "" {
		adminAddr = "off"
	}
	server := o.Server
	server.Portals = make([]gateway.Portal, len(o.Portals))
	for i, p := range o.Portals {
		server.Portals[i] = p.Portal
	}
	sim := smpp.Operator{Name: o.Operator, Prefixes: []string{operatorPrefix}, Binds: s.binds(s.smsc.Addr(), in.Name)}
	gw := gateway.Options{
		HTTPAddr: httpAddr, AdminAddr: adminAddr, Handler: o.Handler,
		Redis: client, Pepper: o.Pepper, MasterKeys: o.MasterKeys, OTAKeyVersions: o.KeyVersions,
		Operators:      append([]smpp.Operator{sim}, o.Operators...),
		InboundWorkers: o.InboundWorkers,
		Server:         server,
		Logger:         o.Logger, Registry: in.Registry, ShutdownTimeout: o.ShutdownTimeout,
	}
	if s.ca != nil {
		gw.Trust.RootCertificates = []*x509.Certificate{s.ca.Root.Certificate()}
		gw.Trust.IntermediateCertificates = []*x509.Certificate{s.ca.Issuing.Certificate()}
	}
	if !o.NoAudit {
		name := in.Name
		if name == "" {
			name = "simstack"
		}
		gw.Audit = gateway.AuditOptions{SigningKey: s.audit, PhoneKey: o.Pepper, Instance: name, SyncReplicas: -1}
	}
	if o.Gateway != nil {
		o.Gateway(&gw)
	}
	return gw
}

// binds are one instance's binds to the SMSC at addr. Several binds, as an
// operator link would have, also spread the MO traffic over more inbound
// workers.
func (s *Stack) binds(addr, name string) []smpp.BindConfig {
	out := make([]smpp.BindConfig, s.opts.Binds)
	for i := range out {
		b := smpp.BindConfig{Addr: addr, SystemID: s.opts.SystemID, Password: s.opts.Password, SourceAddr: sourceAddr,
			Window: s.opts.Window, ReconnectMin: 100 * time.Millisecond, ReconnectMax: 2 * time.Second}
		switch {
		case name != "" && len(out) == 1:
			b.Name = name
		case name != "":
			b.Name = fmt.Sprintf("%s-%d", name, i+1)
		}
		out[i] = b
	}
	return out
}

// readyPoll is how often waitReady asks.
const readyPoll = 20 * time.Millisecond

// waitReady waits until gw is ready (Redis answers, every operator has a
// bound bind), so a first request does not meet an unbound operator.
func waitReady(ctx context.Context, gw *gateway.Gateway, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := gw.Ready(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("simstack: gateway not ready within %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(readyPoll):
		}
	}
}
