// Package testutil holds the two helpers every package's tests share:
// Eventually, which polls a condition until a deadline instead of sleeping
// and hoping, and RequireTools, which skips a test that needs a standard
// tool (redis-server, openssl, zip, chromium) when it is missing on a
// developer's machine, and fails it in CI, where `make deps` installs them
// and a missing tool is a broken build, not a reason to pass.
package testutil
