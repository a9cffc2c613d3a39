package gateway

import (
	"encoding"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a configuration, in the operator's
// terms: where (the YAML key path and its line), what is wrong and how to
// fix it. No Problem names a type or a field of the program.
type Problem struct {
	// Path is the key path, e.g. operators[0].binds[1].window.
	Path string
	// Line is the 1-based line of the key, or of the nearest enclosing key
	// present when the key itself is missing; 0 when neither is.
	Line int
	// What says what is wrong; Fix says what to do about it.
	What, Fix string
}

// String formats the problem as `config check` and `serve` print it.
func (p Problem) String() string {
	where := p.Path
	if p.Line > 0 {
		where = fmt.Sprintf("line %d, %s", p.Line, p.Path)
	}
	if p.Fix == "" {
		return where + ": " + p.What
	}
	return where + ": " + p.What + "\n    fix: " + p.Fix
}

// CheckConfig reads a configuration and reports every problem at once:
// YAML errors, unknown keys, values of the wrong kind, unknown enum
// values, out-of-range numbers and durations, secrets that cannot be
// resolved (unset variables, missing files, a secret named twice), a pepper
// that is too short, addresses that do not parse, an API-key hash shared by
// two portals. Secrets come from env (nil: the process environment) and
// files; none is ever printed. An empty result means Options will succeed
// on the same input and environment, except for files that change between
// the two calls.
func CheckConfig(data []byte, env Env) []Problem {
	if env == nil {
		env = os.LookupEnv
	}
	c := &checker{env: env, lines: map[string]int{}, reported: map[string]bool{}}
	cfg, ok := c.decode(data)
	if ok {
		c.rules(cfg)
	}
	sort.SliceStable(c.probs, func(i, j int) bool { return c.probs[i].Line < c.probs[j].Line })
	return c.probs
}

// checker collects the problems of one configuration.
type checker struct {
	env      Env
	lines    map[string]int  // key path → line of the key
	reported map[string]bool // paths already reported by the decoding pass
	probs    []Problem
}

// add records a problem at path; a path whose value could not be read at
// all is not reported a second time by the rules.
func (c *checker) add(path, what, fix string) {
	if c.reported[path] {
		return
	}
	c.probs = append(c.probs, Problem{Path: path, Line: c.lineOf(path), What: what, Fix: fix})
}

// addBad records a problem of the decoding pass (the value is dropped).
func (c *checker) addBad(path, what, fix string) {
	c.add(path, what, fix)
	c.reported[path] = true
}

// lineOf finds the line of path, or of its nearest enclosing key.
func (c *checker) lineOf(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := c.lines[p]; ok {
			return l
		}
	}
	return 0
}

// parentPath drops the last element of a key path: a.b[2].c → a.b[2] → a.b → a.
func parentPath(p string) string {
	if strings.HasSuffix(p, "]") {
		return p[:strings.LastIndex(p, "[")]
	}
	if i := strings.LastIndex(p, "."); i >= 0 {
		return p[:i]
	}
	return ""
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// decode parses data into a Node tree, checks every key and value against
// the configuration's shape (dropping the bad ones, each reported), and
// decodes what is left.
func (c *checker) decode(data []byte) (*Config, bool) {
	if len(data) > maxConfigBytes {
		c.add("(file)", "the file is larger than 1 MiB", "a configuration is a few kilobytes: check that this is the right file")
		return nil, false
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		c.probs = append(c.probs, Problem{Path: "(file)", Line: line, What: "not valid YAML: " + msg,
			Fix: "correct the syntax (indent with spaces, not tabs; quote values that contain ': ' or start with special characters)"})
		return nil, false
	}
	if len(doc.Content) == 0 {
		c.add("(file)", "the file is empty", "start from deploy/imzagate.example.yaml")
		return nil, false
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		c.probs = append(c.probs, Problem{Path: "(file)", Line: root.Line, What: "the file is not a mapping of sections",
			Fix: "write sections such as http:, redis:, secrets:, operators:, portals: (see deploy/imzagate.example.yaml)"})
		return nil, false
	}
	c.walk(root, reflect.TypeFor[Config](), "")
	var cfg Config
	if err := root.Decode(&cfg); err != nil {
		// Every value was checked above; this is a shape the walk does not know.
		c.add("(file)", "a value cannot be read: "+strings.TrimPrefix(err.Error(), "yaml: "), "compare with deploy/imzagate.example.yaml")
		return nil, false
	}
	return &cfg, true
}

// enums lists the values of the keys that take a name, by key pattern
// (indices written []).
var enums = map[string][]string{
	"log.format":               {"json", "text"},
	"log.level":                {"debug", "info", "warn", "error"},
	"operators[].binds[].type": {"transceiver", "transmitter", "receiver"},
	"portals[].operations[]":   {"AUTHENTICATE", "SIGN"},
}

var indexRE = regexp.MustCompile(`\[\d+\]`)

// pattern is path with its indices blanked: operators[0].binds[1] → operators[].binds[].
func pattern(path string) string { return indexRE.ReplaceAllString(path, "[]") }

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// null replaces a bad value so that decoding leaves the zero value.
func null(n *yaml.Node) {
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

// walk checks node n against type t at path.
func (c *checker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if vals, ok := enums[pattern(path)]; ok {
		if n.Kind != yaml.ScalarNode || !contains(vals, n.Value) {
			c.addBad(path, fmt.Sprintf("unknown value %q", n.Value), "use one of: "+strings.Join(vals, ", "))
			null(n)
		}
		return
	}
	switch {
	case t == durationType:
		c.walkDuration(n, path)
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		if n.Kind != yaml.ScalarNode || reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)) != nil {
			c.addBad(path, fmt.Sprintf("%q is not a valid value here", n.Value), "see the configuration reference in README.md")
			null(n)
		}
	case t.Kind() == reflect.Struct:
		c.walkMapping(n, t, path)
	case t.Kind() == reflect.Map:
		c.walkMap(n, t, path)
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			c.addBad(path, "must be a list", "write it as [a, b] or as lines starting with \"- \"")
			null(n)
			return
		}
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			c.lines[p] = item.Line
			c.walk(item, t.Elem(), p)
		}
	default:
		c.walkScalar(n, t, path)
	}
}

// walkMapping checks the keys of a section against the fields of t.
func (c *checker) walkMapping(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		c.addBad(path, "must be a section of keys", "write it as key: value lines indented under "+lastKey(path))
		null(n)
		return
	}
	fields := yamlFields(t)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		c.lines[p] = k.Line
		f, known := fields[k.Value]
		switch {
		case !known:
			c.addBad(p, fmt.Sprintf("unknown key %q", k.Value), unknownKeyFix(k.Value, fields))
			null(v)
			k.Value = "\x00ignored" // decoded into nothing: not a field
		case seen[k.Value]:
			c.addBad(p, fmt.Sprintf("%q appears twice in this section", k.Value), "keep one of them")
			k.Value = "\x00ignored"
		default:
			seen[k.Value] = true
			c.walk(v, f.Type, p)
		}
	}
	n.Content = dropIgnored(n.Content)
}

// walkMap checks a section of free keys (trust.ocsp.urls, for one): each
// key must read as t's key type and each value as its element type.
func (c *checker) walkMap(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		c.addBad(path, "must be a section of keys", "write it as key: value lines indented under "+lastKey(path))
		null(n)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		c.lines[p] = k.Line
		if seen[k.Value] {
			c.addBad(p, fmt.Sprintf("%q appears twice in this section", k.Value), "keep one of them")
			k.Value = "\x00ignored"
			continue
		}
		seen[k.Value] = true
		c.walkScalar(k, t.Key(), p)
		c.walk(v, t.Elem(), p)
	}
	n.Content = dropIgnored(n.Content)
}

// dropIgnored removes the pairs whose key was marked ignored.
func dropIgnored(content []*yaml.Node) []*yaml.Node {
	out := content[:0]
	for i := 0; i+1 < len(content); i += 2 {
		if content[i].Value != "\x00ignored" {
			out = append(out, content[i], content[i+1])
		}
	}
	return out
}

// walkDuration accepts a duration with a unit ("30s", "2m").
func (c *checker) walkDuration(n *yaml.Node, path string) {
	if n.Kind == yaml.ScalarNode {
		if _, err := time.ParseDuration(n.Value); err == nil {
			return
		}
	}
	what := fmt.Sprintf("%q is not a duration", n.Value)
	if _, err := strconv.ParseFloat(n.Value, 64); err == nil && n.Kind == yaml.ScalarNode {
		what = fmt.Sprintf("%s has no unit", n.Value)
	}
	c.addBad(path, what, "write a number with a unit, e.g. 30s, 500ms or 2m")
	null(n)
}

// walkScalar checks a plain value by decoding it on its own.
func (c *checker) walkScalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.ScalarNode && n.Decode(reflect.New(t).Interface()) == nil {
		return
	}
	var what, fix string
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint32, reflect.Uint64, reflect.Uint:
		what, fix = fmt.Sprintf("%q is not a whole number", n.Value), "write digits only, e.g. 10"
	case reflect.Float64, reflect.Float32:
		what, fix = fmt.Sprintf("%q is not a number", n.Value), "write a number, e.g. 50 or 2.5"
	case reflect.Bool:
		what, fix = fmt.Sprintf("%q is not true or false", n.Value), "write true or false"
	case reflect.String:
		what, fix = "must be a single value, not a list or section", "write it on one line after the key"
	default:
		what, fix = "cannot be read here", "see the configuration reference in README.md"
	}
	c.addBad(path, what, fix)
	null(n)
}

// yamlFields maps the YAML names of t's exported fields to the fields.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f
	}
	return out
}

// unknownKeyFix suggests the known key the operator probably meant.
func unknownKeyFix(key string, fields map[string]reflect.StructField) string {
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(key), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	if best != "" {
		return fmt.Sprintf("did you mean %q? (keys here: %s)", best, strings.Join(names, ", "))
	}
	if strings.Contains(strings.ToLower(key), "password") || strings.Contains(strings.ToLower(key), "pepper") ||
		strings.Contains(strings.ToLower(key), "secret") {
		return "secrets never go in the file: name an environment variable or a file that holds it (keys here: " + strings.Join(names, ", ") + ")"
	}
	return "remove it; the keys allowed here are: " + strings.Join(names, ", ")
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func lastKey(path string) string {
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[i+1:]
	}
	return path
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
