// Command imzabench is the load benchmark of imzagate. With --target it
// drives a gateway running elsewhere; without, it runs everything on this
// machine (package bench/allinone: a private redis-server, and the gateway
// with the test SMSC and simulated SIMs in a child process, this same
// binary started with allinone.ChildArg) and reports the gateway's CPU and
// Redis memory as well. `imzabench compare` sets imzagate beside Kannel
// (package bench/compare).
//
// The command only reads flags and prints: the load and its report are
// package bench, the all-in-one stack package internal/simstack.
package main
