// Package allinone is the benchmark's all-in-one run: everything on this
// machine, with the gateway's CPU and Redis memory measured as well as
// the portal-side latencies. `imzabench` without --target runs it.
//
// # Flow of a run
//
//	Run (load generator)                    RunChild (the same binary, ChildArg)
//	start redis-server on a free port
//	start the child ---------------------->  simstack: SIM farm, test SMSC on
//	                                         127.0.0.1:0, gateway on 127.0.0.1:0
//	                                         bound to it over SMPP; every SIM
//	                                         provisioned (keys shared in a pool)
//	                <- "READY url key users.csv" on stdout
//	read CPU (/proc/<child>/stat), Redis INFO
//	drive the portal API (bench.RunSweep), sampling Redis each tick
//	read CPU and Redis again
//	close the child's stdin --------------->  stop the gateway, SMSC and farm
//	add the gateway's figures to the last run of the report
//
// Running the gateway in its own process keeps the load generator's CPU
// out of the gateway's figure; the child's figure does include the
// simulated operator and SIMs, which the report says. The child's stack
// is tuned for load rather than for people: every user approves (after
// Options.UserDelay), the portal is unthrottled, SIMs share 512 key sets
// so 100,000 of them provision in seconds, four binds with a window of
// 200 and 16 inbound workers each, and no admin listener.
package allinone
