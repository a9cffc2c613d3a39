package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
)

// adminUsage is the help of `imzagate admin`.
const adminUsage = `usage: imzagate admin [--json] [--credentials FILE] COMMAND [ARGS]

Commands (docs/admin.md; the role each needs in brackets):
  whoami                                       the principal and its roles [any]
  subscriber get PHONE                         profile, lockout, certificates [support, ca, sre]
  subscriber register --phone P --iccid I --operator O [--key-version N]
                 [--user-id-stdin] [--suspended] [--cert FILE,TYPE[,KEYREF[,VOEN]]]...   [ca]
  subscriber swap-sim PHONE --iccid I [--key-version N]                   [support]
  subscriber change-number PHONE --new-phone P [--user-id-stdin]          [support]
  subscriber suspend|resume|close PHONE [--reason TEXT]                   [support; close: ca too]
  userid reset PHONE                           prints the new User ID once [support]
  lockout reset PHONE                                                       [support]
  cert list PHONE                                                           [ca, support, sre]
  cert add PHONE --file CERT --type TYPE [--key-ref N] [--tax-id V] [--replace]   [ca]
  cert revoke|suspend|resume PHONE SERIAL [--reason TEXT]                  [ca]
  session get ID                                                            [support, sre]
  session cancel ID                                                         [support]
  audit verify [--from DAY] [--to DAY]         verify the trail in Redis    [auditor]
  audit export [--from DAY] [--to DAY] [--out FILE]                        [auditor]
  usage export [--from DAY] [--to DAY] [--format csv|json] [--out FILE]    [auditor]

Credentials come from the environment (IMZAGATE_ADMIN_URL, IMZAGATE_ADMIN_TOKEN,
or IMZAGATE_ADMIN_CERT and IMZAGATE_ADMIN_KEY for a client certificate;
IMZAGATE_ADMIN_CA to verify the gateway) or from --credentials FILE holding the
same NAME=value lines; never from flags. A User ID to keep is read from
standard input (--user-id-stdin), never from a flag. DAY is YYYY-MM-DD (UTC).

Exit codes: 0 done, 1 local failure, 2 usage, 3 not authenticated (401),
4 forbidden (403), 5 not found (404), 6 conflict (409), 7 gateway, Redis or
audit trail unavailable (5xx, no answer), 8 input rejected (400/413/415/422),
9 the audit trail does not verify.
`

// adminEnv is what a run of `imzagate admin` reads besides its arguments.
type adminEnv struct {
	stdin  io.Reader
	getenv func(string) string
}

// runAdmin is `imzagate admin`.
func runAdmin(args []string, stdout, stderr io.Writer) int {
	return adminMain(args, stdout, stderr, adminEnv{stdin: os.Stdin, getenv: os.Getenv})
}

// adminCmd is one parsed command.
type adminCmd struct {
	fs     *flag.FlagSet
	json   *bool
	creds  *string
	pos    []string
	stdout io.Writer
	env    adminEnv
}

// parse parses flags wherever they stand among the positional arguments.
func (c *adminCmd) parse(args []string) error {
	for {
		if err := c.fs.Parse(args); err != nil {
			return err
		}
		if c.fs.NArg() == 0 {
			return nil
		}
		c.pos = append(c.pos, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
}

func adminMain(args []string, stdout, stderr io.Writer, env adminEnv) int {
	// Global flags may stand before the command.
	pre := flag.NewFlagSet("admin", flag.ContinueOnError)
	pre.SetOutput(io.Discard)
	gjson := pre.Bool("json", false, "")
	gcreds := pre.String("credentials", "", "")
	if err := pre.Parse(args); err != nil || pre.NArg() < 1 {
		fmt.Fprint(stderr, adminUsage)
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	rest := pre.Args()
	name := rest[0]
	if name == "help" {
		fmt.Fprint(stdout, adminUsage)
		return exitOK
	}
	if name != "whoami" {
		if len(rest) < 2 {
			fmt.Fprintf(stderr, "imzagate admin %s: missing the verb\n%s", name, adminUsage)
			return exitUsage
		}
		name += " " + rest[1]
		rest = rest[1:]
	}
	cmd, ok := adminCommands()[name]
	if !ok {
		fmt.Fprintf(stderr, "imzagate admin: unknown command %q\n%s", name, adminUsage)
		return exitUsage
	}
	c := &adminCmd{fs: flag.NewFlagSet("imzagate admin "+name, flag.ContinueOnError), stdout: stdout, env: env}
	c.fs.SetOutput(stderr)
	c.json = c.fs.Bool("json", *gjson, "print JSON instead of a table")
	c.creds = c.fs.String("credentials", *gcreds, "file of NAME=value credentials (instead of the environment)")
	run := cmd(c)
	if err := c.parse(rest[1:]); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	code, err := run()
	if err != nil {
		fmt.Fprintf(stderr, "imzagate admin %s: %v\n", name, err)
	}
	return code
}

// adminCommands maps "group verb" to a function that declares the
// command's flags and returns its body.
func adminCommands() map[string]func(c *adminCmd) func() (int, error) {
	return map[string]func(c *adminCmd) func() (int, error){
		"whoami":                   cmdWhoami,
		"subscriber get":           cmdSubscriberGet,
		"subscriber register":      cmdRegister,
		"subscriber swap-sim":      cmdSwapSIM,
		"subscriber change-number": cmdChangeNumber,
		"subscriber suspend":       cmdState("suspend"),
		"subscriber resume":        cmdState("resume"),
		"subscriber close":         cmdState("close"),
		"userid reset":             cmdPhoneAction("user-id"),
		"lockout reset":            cmdPhoneAction("lockout"),
		"cert list":                cmdCertList,
		"cert add":                 cmdCertAdd,
		"cert revoke":              cmdCertStatus("revoked"),
		"cert suspend":             cmdCertStatus("suspended"),
		"cert resume":              cmdCertStatus("active"),
		"session get":              cmdSession("GET"),
		"session cancel":           cmdSession("DELETE"),
		"audit verify":             cmdAuditVerify,
		"audit export":             cmdAuditExport,
		"usage export":             cmdUsageExport,
	}
}

// usageErr is a wrong use of a command.
type usageErr string

func (e usageErr) Error() string { return string(e) }

// client builds the API client from the credentials.
func (c *adminCmd) client() (*adminClient, error) {
	creds, err := loadCreds(*c.creds, c.env.getenv)
	if err != nil {
		return nil, usageErr(err.Error())
	}
	return newAdminClient(creds)
}

// call runs one API call and prints its answer with table (or as JSON).
func (c *adminCmd) call(method, path string, body any, table func(w io.Writer, v map[string]any)) (int, error) {
	cl, err := c.client()
	if err != nil {
		return codeOf(err), err
	}
	data, err := cl.do(method, path, body)
	if err != nil {
		return exitCode(err), err
	}
	if *c.json || table == nil {
		_, err := c.stdout.Write(data)
		return exitOK, err
	}
	var v map[string]any
	if err := json.Unmarshal(data, &v); err != nil {
		return exitFailure, fmt.Errorf("answer is not JSON: %w", err)
	}
	tw := tabwriter.NewWriter(c.stdout, 2, 4, 2, ' ', 0)
	table(tw, v)
	return exitOK, tw.Flush()
}

// codeOf maps a local error (usage or other) to an exit code.
func codeOf(err error) int {
	if _, ok := err.(usageErr); ok {
		return exitUsage
	}
	return exitCode(err)
}

// need checks the number of positional arguments.
func (c *adminCmd) need(n int, names string) error {
	if len(c.pos) != n {
		return usageErr(fmt.Sprintf("want %s, got %d argument(s)", names, len(c.pos)))
	}
	return nil
}

// kv prints key: value lines for the keys present, in order.
func kv(w io.Writer, v map[string]any, keys ...string) {
	for _, k := range keys {
		if x, ok := v[k]; ok && x != nil {
			fmt.Fprintf(w, "%s:\t%v\n", k, x)
		}
	}
}

func cmdWhoami(c *adminCmd) func() (int, error) {
	return func() (int, error) {
		if err := c.need(0, "no arguments"); err != nil {
			return exitUsage, err
		}
		return c.call("GET", "/admin/v1/whoami", nil, func(w io.Writer, v map[string]any) { kv(w, v, "id", "roles") })
	}
}

func cmdSubscriberGet(c *adminCmd) func() (int, error) {
	return func() (int, error) {
		if err := c.need(1, "PHONE"); err != nil {
			return exitUsage, err
		}
		return c.call("GET", "/admin/v1/subscribers/"+phonePath(c.pos[0]), nil, func(w io.Writer, v map[string]any) {
			kv(w, v, "phone", "state", "movingTo", "iccid", "keyVersion", "operator", "pinBlocked", "blocked", "blockedAt")
			if l, ok := v["lockout"].(map[string]any); ok {
				fmt.Fprintf(w, "lockout:\tfailures %v, locked %v", l["failures"], l["locked"])
				if u := l["lockedUntil"]; u != nil {
					fmt.Fprintf(w, " until %v", u)
				}
				fmt.Fprintln(w)
			}
			fmt.Fprintln(w)
			certTable(w, v["certificates"])
		})
	}
}

// certTable prints certificates as a table.
func certTable(w io.Writer, list any) {
	fmt.Fprintln(w, "SERIAL\tTYPE\tKEY\tVÖEN\tNOT AFTER\tSTATUS\tREASON")
	certs, _ := list.([]any)
	for _, x := range certs {
		m, _ := x.(map[string]any)
		fmt.Fprintf(w, "%v\t%v\t%v\t%v\t%v\t%v\t%v\n", m["serial"], m["type"], m["keyRef"], orDash(m["taxId"]),
			m["notAfter"], m["status"], orDash(m["statusReason"]))
	}
}

func orDash(v any) any {
	if v == nil || v == "" {
		return "-"
	}
	return v
}

// readUserID reads a User ID from standard input (the first line).
func (c *adminCmd) readUserID() (string, error) {
	b, err := io.ReadAll(io.LimitReader(c.env.stdin, 64))
	if err != nil {
		return "", err
	}
	uid := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	if uid == "" {
		return "", usageErr("--user-id-stdin: no User ID on standard input")
	}
	return uid, nil
}

// certFlags collects repeated --cert FILE,TYPE[,KEYREF[,VOEN]] values.
type certFlags []map[string]any

func (f *certFlags) String() string { return "" }
func (f *certFlags) Set(v string) error {
	parts := strings.Split(v, ",")
	if len(parts) < 2 || len(parts) > 4 {
		return fmt.Errorf("want FILE,TYPE[,KEYREF[,VOEN]]")
	}
	m, err := certFromFile(parts[0], parts[1])
	if err != nil {
		return err
	}
	if len(parts) > 2 && parts[2] != "" {
		var ref int
		if _, err := fmt.Sscan(parts[2], &ref); err != nil {
			return fmt.Errorf("key reference %q: a number 1–15", parts[2])
		}
		m["keyRef"] = ref
	}
	if len(parts) > 3 {
		m["taxId"] = parts[3]
	}
	*f = append(*f, m)
	return nil
}

// certFromFile reads a PEM or DER certificate file into a request.
func certFromFile(name, typ string) (map[string]any, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	s := string(b)
	if !strings.Contains(s, "-----BEGIN") {
		s = base64.StdEncoding.EncodeToString(b)
	}
	return map[string]any{"certificate": s, "type": typ}, nil
}

func cmdRegister(c *adminCmd) func() (int, error) {
	phone := c.fs.String("phone", "", "the subscriber's number, +994XXXXXXXXX")
	iccid := c.fs.String("iccid", "", "the SIM's ICCID (19 or 20 digits)")
	operator := c.fs.String("operator", "", "the operator's routing name")
	kv := c.fs.Int("key-version", 1, "OTA key version 1–15")
	uidStdin := c.fs.Bool("user-id-stdin", false, "read the User ID from standard input (else one is drawn and printed once)")
	suspended := c.fs.Bool("suspended", false, "register suspended")
	var certs certFlags
	c.fs.Var(&certs, "cert", "a certificate: FILE,TYPE[,KEYREF[,VOEN]] (repeatable; TYPE authentication implies key 1)")
	return func() (int, error) {
		if err := c.need(0, "no positional arguments"); err != nil {
			return exitUsage, err
		}
		body := map[string]any{"phone": *phone, "iccid": *iccid, "operator": *operator, "keyVersion": *kv, "suspended": *suspended}
		if len(certs) > 0 {
			body["certificates"] = certs
		}
		if *uidStdin {
			uid, err := c.readUserID()
			if err != nil {
				return codeOf(err), err
			}
			body["userId"] = uid
		}
		return c.call("POST", "/admin/v1/subscribers", body, func(w io.Writer, v map[string]any) {
			kvPrint(w, v, "phone", "state", "userId")
		})
	}
}

// kvPrint is kv, for commands whose flag variable shadows kv.
func kvPrint(w io.Writer, v map[string]any, keys ...string) { kv(w, v, keys...) }

func cmdSwapSIM(c *adminCmd) func() (int, error) {
	iccid := c.fs.String("iccid", "", "the new SIM's ICCID")
	kv := c.fs.Int("key-version", 0, "the new SIM's OTA key version (0 keeps the current one)")
	return func() (int, error) {
		if err := c.need(1, "PHONE"); err != nil {
			return exitUsage, err
		}
		return c.call("POST", "/admin/v1/subscribers/"+phonePath(c.pos[0])+"/sim-swap",
			map[string]any{"iccid": *iccid, "keyVersion": *kv}, func(w io.Writer, v map[string]any) { kvPrint(w, v, "phone", "iccidTail") })
	}
}

func cmdChangeNumber(c *adminCmd) func() (int, error) {
	to := c.fs.String("new-phone", "", "the new number")
	uidStdin := c.fs.Bool("user-id-stdin", false, "keep the User ID read from standard input (else a new one is issued)")
	return func() (int, error) {
		if err := c.need(1, "PHONE"); err != nil {
			return exitUsage, err
		}
		body := map[string]any{"newPhone": *to}
		if *uidStdin {
			uid, err := c.readUserID()
			if err != nil {
				return codeOf(err), err
			}
			body["userId"] = uid
		}
		return c.call("POST", "/admin/v1/subscribers/"+phonePath(c.pos[0])+"/number", body,
			func(w io.Writer, v map[string]any) { kv(w, v, "phone", "userId") })
	}
}

func cmdState(verb string) func(c *adminCmd) func() (int, error) {
	return func(c *adminCmd) func() (int, error) {
		reason := c.fs.String("reason", "", "why (recorded in the audit trail)")
		return func() (int, error) {
			if err := c.need(1, "PHONE"); err != nil {
				return exitUsage, err
			}
			var body any
			if *reason != "" {
				body = map[string]any{"reason": *reason}
			}
			return c.call("POST", "/admin/v1/subscribers/"+phonePath(c.pos[0])+"/"+verb, body,
				func(w io.Writer, v map[string]any) { kv(w, v, "phone", "state") })
		}
	}
}

func cmdPhoneAction(what string) func(c *adminCmd) func() (int, error) {
	return func(c *adminCmd) func() (int, error) {
		return func() (int, error) {
			if err := c.need(1, "PHONE"); err != nil {
				return exitUsage, err
			}
			return c.call("POST", "/admin/v1/subscribers/"+phonePath(c.pos[0])+"/"+what, nil,
				func(w io.Writer, v map[string]any) { kv(w, v, "phone", "userId", "failuresCleared") })
		}
	}
}

func cmdCertList(c *adminCmd) func() (int, error) {
	return func() (int, error) {
		if err := c.need(1, "PHONE"); err != nil {
			return exitUsage, err
		}
		return c.call("GET", "/admin/v1/subscribers/"+phonePath(c.pos[0])+"/certificates", nil,
			func(w io.Writer, v map[string]any) { certTable(w, v["certificates"]) })
	}
}

func cmdCertAdd(c *adminCmd) func() (int, error) {
	file := c.fs.String("file", "", "the certificate (PEM or DER)")
	typ := c.fs.String("type", "", "authentication, personal, business or government")
	ref := c.fs.Int("key-ref", 0, "the applet key reference 1–15 (authentication: 1)")
	tax := c.fs.String("tax-id", "", "the company's VÖEN (business)")
	replace := c.fs.Bool("replace", false, "remove the certificates of the same key reference (a new key)")
	return func() (int, error) {
		if err := c.need(1, "PHONE"); err != nil {
			return exitUsage, err
		}
		if *file == "" {
			return exitUsage, usageErr("--file is required")
		}
		body, err := certFromFile(*file, *typ)
		if err != nil {
			return exitFailure, err
		}
		body["replace"] = *replace
		if *ref != 0 {
			body["keyRef"] = *ref
		}
		if *tax != "" {
			body["taxId"] = *tax
		}
		return c.call("POST", "/admin/v1/subscribers/"+phonePath(c.pos[0])+"/certificates", body,
			func(w io.Writer, v map[string]any) { certTable(w, []any{v}) })
	}
}

func cmdCertStatus(status string) func(c *adminCmd) func() (int, error) {
	return func(c *adminCmd) func() (int, error) {
		reason := c.fs.String("reason", "", "why (RFC 5280 reason or text, recorded)")
		return func() (int, error) {
			if err := c.need(2, "PHONE SERIAL"); err != nil {
				return exitUsage, err
			}
			return c.call("POST", "/admin/v1/subscribers/"+phonePath(c.pos[0])+"/certificates/"+c.pos[1]+"/status",
				map[string]any{"status": status, "reason": *reason}, func(w io.Writer, v map[string]any) { certTable(w, []any{v}) })
		}
	}
}

func cmdSession(method string) func(c *adminCmd) func() (int, error) {
	return func(c *adminCmd) func() (int, error) {
		return func() (int, error) {
			if err := c.need(1, "ID"); err != nil {
				return exitUsage, err
			}
			return c.call(method, "/admin/v1/sessions/"+c.pos[0], nil, func(w io.Writer, v map[string]any) {
				kv(w, v, "id", "portal", "operation", "phone", "operator", "keyRef", "state", "result",
					"accepted", "submitted", "delivered", "completed", "expiresAt")
			})
		}
	}
}

// dayFlags adds --from and --to.
func dayFlags(c *adminCmd) (*string, *string) {
	return c.fs.String("from", "", "first UTC day, YYYY-MM-DD (default today)"),
		c.fs.String("to", "", "last UTC day (default --from)")
}

func dayQuery(from, to string, more ...string) string {
	var q []string
	if from != "" {
		q = append(q, "from="+from)
	}
	if to != "" {
		q = append(q, "to="+to)
	}
	q = append(q, more...)
	if len(q) == 0 {
		return ""
	}
	return "?" + strings.Join(q, "&")
}

func cmdAuditVerify(c *adminCmd) func() (int, error) {
	from, to := dayFlags(c)
	return func() (int, error) {
		if err := c.need(0, "no positional arguments"); err != nil {
			return exitUsage, err
		}
		cl, err := c.client()
		if err != nil {
			return codeOf(err), err
		}
		data, err := cl.do("GET", "/admin/v1/audit/verify"+dayQuery(*from, *to), nil)
		if err != nil {
			return exitCode(err), err
		}
		var v struct {
			OK     bool   `json:"ok"`
			Report string `json:"report"`
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return exitFailure, err
		}
		if *c.json {
			_, _ = c.stdout.Write(data)
		} else {
			fmt.Fprint(c.stdout, v.Report)
		}
		if !v.OK {
			return exitBroken, fmt.Errorf("the audit trail does not verify")
		}
		return exitOK, nil
	}
}

// toFile writes data to name ("" or "-": standard output).
func (c *adminCmd) toFile(name string, data []byte) (int, error) {
	if name == "" || name == "-" {
		_, err := c.stdout.Write(data)
		return exitOK, err
	}
	if err := os.WriteFile(name, data, 0o600); err != nil {
		return exitFailure, err
	}
	return exitOK, nil
}

func cmdAuditExport(c *adminCmd) func() (int, error) {
	from, to := dayFlags(c)
	out := c.fs.String("out", "", "write to this file (default standard output)")
	return func() (int, error) {
		if err := c.need(0, "no positional arguments"); err != nil {
			return exitUsage, err
		}
		cl, err := c.client()
		if err != nil {
			return codeOf(err), err
		}
		data, err := cl.do("GET", "/admin/v1/audit/export"+dayQuery(*from, *to), nil)
		if err != nil {
			return exitCode(err), err
		}
		return c.toFile(*out, data)
	}
}

func cmdUsageExport(c *adminCmd) func() (int, error) {
	from, to := dayFlags(c)
	format := c.fs.String("format", "csv", "csv or json")
	out := c.fs.String("out", "", "write to this file (default standard output)")
	return func() (int, error) {
		if err := c.need(0, "no positional arguments"); err != nil {
			return exitUsage, err
		}
		if *format != "csv" && *format != "json" {
			return exitUsage, usageErr("--format: csv or json")
		}
		cl, err := c.client()
		if err != nil {
			return codeOf(err), err
		}
		data, err := cl.do("GET", "/admin/v1/usage"+dayQuery(*from, *to, "format="+*format), nil)
		if err != nil {
			return exitCode(err), err
		}
		return c.toFile(*out, data)
	}
}
