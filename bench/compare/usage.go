package compare

// Usage introduces `imzabench compare` in its help.
const Usage = `usage: imzabench compare [flags]

Side-by-side send-path comparison with Kannel (Debian's kannel package:
bearerbox and smsbox; ` + "`make deps-kannel`" + ` installs it). One test SMSC on
loopback counts the submit_sm it accepts from each gateway's system_id;
imzagate serve (with its own redis-server and freshly provisioned phones)
and Kannel run as processes with generated configurations, each with one
transceiver bind and the same window. Both are driven over HTTP by the
same closed loop (imzagate: POST /v1/authentications; Kannel: a binary
sendsms shaped like an OTA command), in alternating runs of equal length.

Printed per pair and as medians: submit_sm/s at the SMSC, HTTP p50/p99,
CPU per 1,000 messages from /proc (Kannel: bearerbox+smsbox; imzagate:
imzagate serve+redis-server), each with the ratio imzagate/Kannel. Then
one full session of imzagate (this binary's all-in-one closed loop) as a
multiple of one ECDSA P-256 verification timed here.

Example:
  imzabench compare --pairs 5 --run 30s

Flags:
`
