// Package examples holds no Go code: it is the home of the portal client
// examples beside it (java/ImzagateClient.java, php/imzagate.php) and of
// the test that compiles each one and runs it against a demo gateway where
// its toolchain is installed.
package examples
