package config

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// parse is Parse with a concrete error type.
func parse(data []byte) (*Config, *Error) {
	if err := checkDocument(data); err != nil {
		return nil, err
	}
	root := gjson.Parse(string(data))
	if !root.IsObject() {
		return nil, errorf("", "the configuration must be a JSON object, got %s", shown(root))
	}
	cfg := &Config{
		MaxTrackedUsers:     DefaultMaxTrackedUsers,
		MaxRequestBodyBytes: DefaultMaxRequestBodyBytes,
		Batch:               BatchReject,
		ErrorCode:           DefaultErrorCode,
		RejectStatus:        DefaultRejectStatus,
	}
	err := eachMember(root, "", rootMembers, func(name, path string, v gjson.Result) *Error {
		var err *Error
		switch name {
		case "shared":
			cfg.Shared, err = parseBucket(path, v)
		case "perUser":
			cfg.PerUser, err = parseBucket(path, v)
		case "quota":
			cfg.Quota, err = parseQuota(path, v)
		case "perUserQuota":
			cfg.PerUserQuota, err = parseQuota(path, v)
		case "concurrency":
			cfg.Concurrency, err = parseConcurrency(path, v)
		case "tools":
			cfg.Tools, err = parseTools(path, v)
		case "methods":
			cfg.Methods, err = parseMethods(path, v)
		case "prompts":
			cfg.Prompts, err = parsePrompts(path, v)
		case "resources":
			cfg.Resources, err = parseResources(path, v)
		case "userIdentity":
			cfg.UserIdentity, err = parseUserIdentity(path, v)
		case "maxTrackedUsers":
			cfg.MaxTrackedUsers, err = intInRange(path, v, 1, MaxMaxTrackedUsers, "")
		case "paths":
			cfg.Paths, err = parsePaths(path, v)
		case "maxRequestBodyBytes":
			cfg.MaxRequestBodyBytes, err = intInRange(path, v, 1, MaxMaxRequestBodyBytes, " (16 MiB: the body is held in the Wasm VM's memory, once per Envoy worker)")
		case "batch":
			var mode string
			mode, err = oneOf(path, v, string(BatchReject), string(BatchLimit))
			cfg.Batch = BatchMode(mode)
		case "errorCode":
			cfg.ErrorCode, err = parseErrorCode(path, v)
		case "rejectStatus":
			cfg.RejectStatus, err = parseRejectStatus(path, v)
		case "dryRun":
			cfg.DryRun, err = boolean(path, v)
		case "rateLimitHeaders":
			cfg.RateLimitHeaders, err = boolean(path, v)
		case "redis":
			cfg.Redis, err = parseRedis(path, v)
		default:
			err = errorf(path, "known but not handled (a bug)")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := checkLimits(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkDocument checks that data is one JSON text in UTF-8.
func checkDocument(data []byte) *Error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errorf("", `the configuration is empty; it must be a JSON object that sets at least one of "shared", "perUser", "quota", "perUserQuota", "concurrency", "tools", "methods", "prompts" or "resources"`)
	}
	if !utf8.Valid(data) {
		offset := 0
		for offset < len(data) {
			r, size := utf8.DecodeRune(data[offset:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			offset += size
		}
		// 1-based, like the offsets of encoding/json's syntax errors.
		return errorf("", "the configuration is not valid UTF-8 (at byte %d)", offset+1)
	}
	// syntaxError is iterative, bounds nesting depth, and reports the
	// offset of a syntax error, including data after the object, in
	// encoding/json's words.
	if msg, offset, ok := syntaxError(data); !ok {
		return errorf("", "the configuration is not valid JSON: %s (at byte %d)", msg, offset)
	}
	return nil
}

// eachMember walks the members of obj, an object at path whose allowed
// members are specs: it refuses unknown and duplicate members and member
// names with lone surrogate escapes, calls set for each member in order,
// and then refuses missing required members. It stops at the first error.
func eachMember(obj gjson.Result, path string, specs []fieldSpec, set func(name, path string, v gjson.Result) *Error) *Error {
	var err *Error
	seen := make(map[string]bool, len(specs))
	obj.ForEach(func(key, value gjson.Result) bool {
		name := key.Str
		memberPath := joinPath(path, name)
		if hasLoneSurrogate(key.Raw) {
			err = errorf(memberPath, "the field name contains a lone UTF-16 surrogate escape")
			return false
		}
		if seen[name] {
			err = errorf(memberPath, "duplicate field")
			return false
		}
		seen[name] = true
		spec := findSpec(specs, name)
		if spec == nil {
			err = unknownField(memberPath, name, specs)
			return false
		}
		err = set(name, memberPath, value)
		return err == nil
	})
	if err != nil {
		return err
	}
	for _, spec := range specs {
		if spec.required && !seen[spec.name] {
			return errorf(joinPath(path, spec.name), "required")
		}
	}
	return nil
}

func findSpec(specs []fieldSpec, name string) *fieldSpec {
	for i := range specs {
		if specs[i].name == name {
			return &specs[i]
		}
	}
	return nil
}

// unknownField describes a member that is not in specs, suggesting the
// field it most likely meant.
func unknownField(path, name string, specs []fieldSpec) *Error {
	for _, spec := range specs {
		if strings.EqualFold(spec.name, name) {
			return errorf(path, "unknown field; field names are case-sensitive: did you mean %q?", spec.name)
		}
	}
	known := make([]string, len(specs))
	for i, spec := range specs {
		known[i] = spec.name
	}
	return errorf(path, "unknown field; the known fields here are %s", strings.Join(known, ", "))
}

// parseBucket reads a bucket object.
func parseBucket(path string, v gjson.Result) (*Bucket, *Error) {
	if !v.IsObject() {
		return nil, errorf(path, `must be an object such as {"maxTokens": 100, "refillPeriod": "1m"}, got %s`, shown(v))
	}
	b := &Bucket{}
	err := eachMember(v, path, bucketMembers, func(name, path string, v gjson.Result) *Error {
		var err *Error
		switch name {
		case "maxTokens":
			var n int
			n, err = intInRange(path, v, 1, MaxMaxTokens, " (keeps the bucket arithmetic exact)")
			b.MaxTokens = int64(n)
		case "refillPeriod":
			b.RefillPeriod, err = parseDuration(path, v, &refillPeriodField)
		default:
			err = errorf(path, "known but not handled (a bug)")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// durationField is what a duration field accepts, and the examples and
// reasons its errors give.
type durationField struct {
	min, max time.Duration
	// positive refuses durations <= 0 as such, before min.
	positive bool
	// asString and asDuration are the examples of the errors for a value
	// that is not a string and not a duration; maxWhy explains max.
	asString, asDuration, maxWhy string
}

var refillPeriodField = durationField{min: MinRefillPeriod, max: MaxRefillPeriod, positive: true,
	asString: `"1m" or "1h30m"`, asDuration: `"30s", "1m" or "1h30m"`, maxWhy: " (365 days)"}

// parseDuration reads a Go duration string that f accepts.
func parseDuration(path string, v gjson.Result, f *durationField) (time.Duration, *Error) {
	if v.Type != gjson.String {
		return 0, errorf(path, "must be a Go duration string such as %s, got %s", f.asString, shown(v))
	}
	d, err := time.ParseDuration(v.Str)
	switch {
	case err != nil:
		return 0, errorf(path, "must be a Go duration such as %s (units ns, us, ms, s, m, h), got %s", f.asDuration, shown(v))
	case f.positive && d <= 0:
		return 0, errorf(path, "must be a Go duration > 0, got %s", shown(v))
	case d < f.min:
		return 0, errorf(path, "must be at least %s, got %s", f.min, shown(v))
	case d > f.max:
		return 0, errorf(path, "must be at most %s%s, got %s", f.max, f.maxWhy, shown(v))
	}
	return d, nil
}

// intInRange reads an integer from lo to hi; why explains the upper bound.
func intInRange(path string, v gjson.Result, lo, hi int, why string) (int, *Error) {
	if v.Type != gjson.Number {
		return 0, errorf(path, "must be an integer from %d to %d, got %s", lo, hi, shown(v))
	}
	n, status := parseInteger(v.Raw)
	switch {
	case status == integerFractional || status == integerMalformed:
		return 0, errorf(path, "must be an integer from %d to %d, got %s", lo, hi, shown(v))
	case status == integerTooLarge && v.Raw[0] == '-' || status == integerOK && n < int64(lo):
		return 0, errorf(path, "must be an integer >= %d, got %s", lo, shown(v))
	case status == integerTooLarge || n > int64(hi):
		return 0, errorf(path, "must be an integer <= %d%s, got %s", hi, why, shown(v))
	}
	return int(n), nil
}

// parseErrorCode reads the JSON-RPC error code of a rejection.
func parseErrorCode(path string, v gjson.Result) (int, *Error) {
	code, err := intInRange(path, v, math.MinInt32, math.MaxInt32, " (JSON-RPC error codes are 32-bit)")
	if err != nil {
		return 0, err
	}
	switch {
	case code >= -32768 && code <= -32100:
		// JSON-RPC 2.0, section 5.1: -32768 to -32000 are reserved for
		// pre-defined errors; -32099 to -32000 are left to
		// implementation-defined server errors.
		return 0, errorf(path, "must not be a code JSON-RPC 2.0 reserves for pre-defined errors (-32768 to -32100, e.g. -32700 parse error, -32600 to -32603), got %s; the default is %d", shown(v), DefaultErrorCode)
	case code == -32020:
		return 0, errorf(path, "must not be -32020, the code the filter answers an Mcp-Method/Mcp-Name header mismatch with (MCP 2026-07-28); the default is %d", DefaultErrorCode)
	}
	return code, nil
}

// parseRejectStatus reads the HTTP status of a rejection.
func parseRejectStatus(path string, v gjson.Result) (int, *Error) {
	n, status := 0, integerMalformed
	if v.Type == gjson.Number {
		var n64 int64
		n64, status = parseInteger(v.Raw)
		n = int(n64)
	}
	if status != integerOK || n != 429 && n != 200 {
		return 0, errorf(path, "must be 429 or 200, got %s", shown(v))
	}
	return n, nil
}

// boolean reads true or false.
func boolean(path string, v gjson.Result) (bool, *Error) {
	if !v.IsBool() {
		return false, errorf(path, "must be true or false, got %s", shown(v))
	}
	return v.Type == gjson.True, nil
}

// stringValue reads a string, refusing lone surrogate escapes (which
// decoders replace with U+FFFD).
func stringValue(path string, v gjson.Result, want string) (string, *Error) {
	if v.Type != gjson.String {
		return "", errorf(path, "must be %s, got %s", want, shown(v))
	}
	if hasLoneSurrogate(v.Raw) {
		return "", errorf(path, "must not contain a lone UTF-16 surrogate escape, got %s", shown(v))
	}
	return v.Str, nil
}

// oneOf reads a string that must be one of choices.
func oneOf(path string, v gjson.Result, choices ...string) (string, *Error) {
	quotedChoices := make([]string, len(choices))
	for i, c := range choices {
		quotedChoices[i] = fmt.Sprintf("%q", c)
	}
	want := strings.Join(quotedChoices, " or ")
	if len(choices) > 2 {
		want = "one of " + strings.Join(quotedChoices, ", ")
	}
	if v.Type == gjson.String {
		for _, c := range choices {
			if v.Str == c {
				return c, nil
			}
		}
	}
	return "", errorf(path, "must be %s, got %s", want, shown(v))
}

// namedList describes an array of named limits: "tools", "prompts",
// "resources" or "methods".
type namedList struct {
	what      string // "tool", "prompt", "resource" or "method"
	nameField string // the member holding the name: "name" or "uri"
	example   string // an example name
	members   []fieldSpec
	maxName   int  // the longest name in bytes
	hasCost   bool // entries may set "cost"
	// reserved, when set, explains why a name is refused.
	reserved func(name string) string
}

var toolList = namedList{what: "tool", nameField: "name", example: "search", members: toolMembers,
	maxName: MaxToolNameBytes, hasCost: true}

// parseTools reads the tools array.
func parseTools(path string, v gjson.Result) ([]Tool, *Error) {
	return parseNamedList(path, v, toolList)
}

// parseNamedList reads an array of named limits.
func parseNamedList(path string, v gjson.Result, list namedList) ([]Named, *Error) {
	if !v.IsArray() {
		return nil, errorf(path, `must be an array of objects such as {%q: %q, "shared": {...}}, got %s`, list.nameField, list.example, shown(v))
	}
	var entries []Named
	var err *Error
	indexOf := map[string]int{}
	v.ForEach(func(_, element gjson.Result) bool {
		elementPath := indexPath(path, len(entries))
		var entry Named
		entry, err = parseNamed(elementPath, element, list)
		if err != nil {
			return false
		}
		if i, duplicate := indexOf[entry.Name]; duplicate {
			err = errorf(joinPath(elementPath, list.nameField), "duplicate %s %s %s, also in %s", list.what, list.nameField, quoted(entry.Name), indexPath(path, i))
			return false
		}
		indexOf[entry.Name] = len(entries)
		entries = append(entries, entry)
		return true
	})
	if err != nil {
		return nil, err
	}
	return entries, nil
}

// parseNamed reads one entry of a list of named limits.
func parseNamed(path string, v gjson.Result, list namedList) (Named, *Error) {
	if !v.IsObject() {
		return Named{}, errorf(path, `must be an object such as {%q: %q, "shared": {...}}, got %s`, list.nameField, list.example, shown(v))
	}
	entry := Named{Cost: DefaultCost}
	hasCost := false
	err := eachMember(v, path, list.members, func(name, path string, v gjson.Result) *Error {
		var err *Error
		switch name {
		case list.nameField:
			entry.Name, err = parseName(path, v, list.maxName)
			if err == nil && list.reserved != nil {
				if why := list.reserved(entry.Name); why != "" {
					err = errorf(path, "%s", why)
				}
			}
		case "shared":
			entry.Shared, err = parseBucket(path, v)
		case "perUser":
			entry.PerUser, err = parseBucket(path, v)
		case "quota":
			entry.Quota, err = parseQuota(path, v)
		case "perUserQuota":
			entry.PerUserQuota, err = parseQuota(path, v)
		case "concurrency":
			entry.Concurrency, err = parseConcurrency(path, v)
		case "cost":
			hasCost = true
			var n int
			n, err = intInRange(path, v, 1, MaxMaxTokens, " (the largest maxTokens)")
			entry.Cost = int64(n)
		default:
			err = errorf(path, "known but not handled (a bug)")
		}
		return err
	})
	if err != nil {
		return Named{}, err
	}
	if entry.Shared == nil && entry.PerUser == nil && entry.Quota == nil && entry.PerUserQuota == nil && entry.Concurrency == nil && !hasCost {
		if list.hasCost {
			return Named{}, errorf(path, "%s %s sets no limit; it must set shared, perUser, quota, perUserQuota, concurrency, cost or several of them", list.what, quoted(entry.Name))
		}
		return Named{}, errorf(path, "%s %s sets no limit; it must set shared, perUser, quota, perUserQuota, concurrency or several of them", list.what, quoted(entry.Name))
	}
	return entry, nil
}

// parseName reads the name of a tool, prompt, resource or method: at most
// maxBytes long.
func parseName(path string, v gjson.Result, maxBytes int) (string, *Error) {
	name, err := stringValue(path, v, "a non-empty string")
	if err != nil {
		return "", err
	}
	switch {
	case name == "":
		return "", errorf(path, "must be a non-empty string, got %s", shown(v))
	case len(name) > maxBytes:
		return "", errorf(path, "must be at most %d bytes long, got %d bytes: %s", maxBytes, len(name), shown(v))
	case strings.TrimSpace(name) != name:
		return "", errorf(path, "must not start or end with spaces, got %s", shown(v))
	case strings.ContainsFunc(name, isControl):
		return "", errorf(path, "must not contain control characters, got %s", shown(v))
	}
	return name, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 }

// parseUserIdentity reads the userIdentity object.
func parseUserIdentity(path string, v gjson.Result) (*UserIdentity, *Error) {
	if !v.IsObject() {
		return nil, errorf(path, `must be an object such as {"from": "header", "header": "x-user-id"}, got %s`, shown(v))
	}
	identity := &UserIdentity{Missing: MissingShared}
	headerPath := joinPath(path, "header")
	hasHeader := false
	err := eachMember(v, path, userIdentityMembers, func(name, path string, v gjson.Result) *Error {
		var err *Error
		switch name {
		case "from":
			var from string
			from, err = oneOf(path, v, string(IdentityHeader), string(IdentityPeerPrincipal), string(IdentitySourceAddress))
			identity.From = IdentitySource(from)
		case "header":
			hasHeader = true
			identity.Header, err = parseHeaderName(path, v)
		case "missing":
			var missing string
			missing, err = oneOf(path, v, string(MissingShared), string(MissingAnonymous), string(MissingReject))
			identity.Missing = MissingIdentity(missing)
		default:
			err = errorf(path, "known but not handled (a bug)")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch {
	case identity.From == IdentityHeader && !hasHeader:
		return nil, errorf(headerPath, `required when from is "header"`)
	case identity.From != IdentityHeader && hasHeader:
		return nil, errorf(headerPath, `only allowed when from is "header", got from %q`, identity.From)
	}
	return identity, nil
}

// parseHeaderName reads an HTTP header name and lower-cases it.
func parseHeaderName(path string, v gjson.Result) (string, *Error) {
	name, err := stringValue(path, v, "an HTTP header name")
	if err != nil {
		return "", err
	}
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return !IsTokenChar(r) }) >= 0 {
		return "", errorf(path, "must be a valid HTTP header name (letters, digits and !#$%%&'*+-.^_`|~), got %s", shown(v))
	}
	return strings.ToLower(name), nil
}

// IsTokenChar reports whether r may appear in an RFC 9110 token (section
// 5.6.2), the syntax of a header field name and of media types and their
// parameters; the filter reads Content-Type with it too, on every
// inspected request, hence the table.
func IsTokenChar(r rune) bool {
	return r >= 0 && r < rune(len(tokenChars)) && tokenChars[r]
}

// tokenChars marks the ASCII characters of an RFC 9110 token.
var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// parsePaths reads the paths array.
func parsePaths(path string, v gjson.Result) ([]string, *Error) {
	if !v.IsArray() {
		return nil, errorf(path, `must be an array of path prefixes such as ["/mcp"], got %s`, shown(v))
	}
	var paths []string
	var err *Error
	indexOf := map[string]int{}
	v.ForEach(func(_, element gjson.Result) bool {
		elementPath := indexPath(path, len(paths))
		var p string
		if p, err = stringValue(elementPath, element, `a path prefix such as "/mcp"`); err != nil {
			return false
		}
		switch {
		case !strings.HasPrefix(p, "/"):
			err = errorf(elementPath, `must start with "/", got %s`, shown(element))
		case len(p) > MaxPathBytes:
			err = errorf(elementPath, "must be at most %d bytes long, got %d bytes", MaxPathBytes, len(p))
		case strings.ContainsAny(p, "?#"):
			err = errorf(elementPath, `must be a path prefix without query ("?") or fragment ("#"), got %s`, shown(element))
		case strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r >= 0x7f }) >= 0:
			err = errorf(elementPath, "must be printable ASCII without spaces (percent-encode other bytes, as they appear in request paths), got %s", shown(element))
		}
		if err != nil {
			return false
		}
		if i, duplicate := indexOf[p]; duplicate {
			err = errorf(elementPath, "duplicate of %s, %s", indexPath(path, i), quoted(p))
			return false
		}
		indexOf[p] = len(paths)
		paths = append(paths, p)
		return true
	})
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errorf(path, `must list at least one path prefix, got []; omit "paths" to inspect every path`)
	}
	return paths, nil
}

// checkLimits checks the rules that involve several fields.
func checkLimits(cfg *Config) *Error {
	if cfg.Shared == nil && cfg.PerUser == nil && cfg.Quota == nil && cfg.PerUserQuota == nil && cfg.Concurrency == nil &&
		len(cfg.Tools)+len(cfg.Methods)+len(cfg.Prompts)+len(cfg.Resources) == 0 {
		return errorf("", `the configuration sets no limit; set at least one of "shared", "perUser", "quota", "perUserQuota", "concurrency", "tools", "methods", "prompts" or "resources"`)
	}
	if cfg.UserIdentity == nil {
		const why = "requires userIdentity, which says how users are told apart"
		switch {
		case cfg.PerUser != nil:
			return errorf("perUser", why)
		case cfg.PerUserQuota != nil:
			return errorf("perUserQuota", why)
		case cfg.Concurrency != nil && cfg.Concurrency.PerUser > 0:
			return errorf(joinPath("concurrency", "perUser"), why)
		}
		for _, l := range namedLists(cfg) {
			for i, entry := range l.list {
				switch {
				case entry.PerUser != nil:
					return errorf(joinPath(indexPath(l.field, i), "perUser"), why)
				case entry.PerUserQuota != nil:
					return errorf(joinPath(indexPath(l.field, i), "perUserQuota"), why)
				case entry.Concurrency != nil && entry.Concurrency.PerUser > 0:
					return errorf(joinPath(joinPath(indexPath(l.field, i), "concurrency"), "perUser"), why)
				}
			}
		}
	} else if !cfg.HasPerUser() {
		return errorf("userIdentity", "has no effect without a perUser limit (top-level or in a tool); add one or remove userIdentity")
	}
	return checkCosts(cfg)
}

// hasLoneSurrogate reports whether the raw JSON string text (quotes
// included) has a \uD800-\uDFFF escape that is not half of a pair.
// gjson, like encoding/json, decodes such an escape to U+FFFD.
func hasLoneSurrogate(raw string) bool {
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++
		if i >= len(raw) || raw[i] != 'u' {
			continue // a one-character escape; i is past it
		}
		r, ok := hex4(raw, i+1)
		if !ok {
			return false // invalid JSON; checked elsewhere
		}
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return true
		case r >= 0xD800 && r <= 0xDBFF:
			if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
				return true
			}
			low, ok := hex4(raw, i+3)
			if !ok || low < 0xDC00 || low > 0xDFFF {
				return true
			}
			i += 6
		}
	}
	return false
}

// hex4 decodes the four hex digits at s[i:i+4].
func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[i : i+4]) {
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}
