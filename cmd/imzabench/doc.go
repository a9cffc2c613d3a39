// Command imzabench is the load benchmark of imzagate. With --target it
// drives a gateway running elsewhere; without, it starts everything on this
// machine and reports the gateway's CPU and Redis memory as well.
//
// # Flow of an all-in-one run
//
//	imzabench (load generator)              imzabench __gateway (child)
//	start redis-server on a free port
//	start the child ---------------------->  SIM farm, test SMSC on 127.0.0.1:0,
//	                                         gateway on 127.0.0.1:0 bound to it
//	                                         over SMPP; provision every SIM
//	                <- "READY url key users.csv" on stdout
//	read CPU (/proc/<child>/stat), Redis INFO
//	drive the portal API (bench.Run or a sweep), sampling Redis each tick
//	read CPU and Redis again
//	close the child's stdin --------------->  stop the gateway, SMSC and farm
//	print the table, write JSON and plots
//
// Running the gateway in its own process keeps the load generator's CPU
// out of the gateway's figure; the child's figure does include the
// simulated operator and SIMs, which the report says.
package main
