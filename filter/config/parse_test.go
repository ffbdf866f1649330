package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fullExample is the configuration example of README.md: every field set.
const fullExample = `{
  "shared":  {"maxTokens": 100, "refillPeriod": "1m"},
  "perUser": {"maxTokens": 20,  "refillPeriod": "1m"},
  "quota": {"maxCalls": 10000, "period": "day", "timeZone": "UTC"},
  "perUserQuota": {"maxCalls": 500, "period": "week", "timeZone": "Europe/Berlin"},
  "concurrency": {"shared": 50, "perUser": 5},
  "tools": [
    {"name": "search", "shared": {"maxTokens": 10, "refillPeriod": "1m"}, "perUser": {"maxTokens": 2, "refillPeriod": "1m"}, "cost": 2,
     "quota": {"maxCalls": 1000, "period": "month", "timeZone": "America/New_York"}, "perUserQuota": {"maxCalls": 50, "period": "day", "timeZone": "UTC"}, "concurrency": {"shared": 4, "perUser": 1}}
  ],
  "methods": [
    {"name": "resources/read", "shared": {"maxTokens": 50, "refillPeriod": "1m"}, "perUser": {"maxTokens": 10, "refillPeriod": "1m"},
     "quota": {"maxCalls": 100, "period": "day", "timeZone": "UTC"}, "perUserQuota": {"maxCalls": 10, "period": "day", "timeZone": "UTC"}, "concurrency": {"shared": 3, "perUser": 1}}
  ],
  "prompts": [
    {"name": "summarize", "shared": {"maxTokens": 5, "refillPeriod": "1m"}, "perUser": {"maxTokens": 1, "refillPeriod": "1m"}, "cost": 1,
     "quota": {"maxCalls": 100, "period": "day", "timeZone": "UTC"}, "perUserQuota": {"maxCalls": 10, "period": "day", "timeZone": "UTC"}, "concurrency": {"shared": 3, "perUser": 1}}
  ],
  "resources": [
    {"uri": "file:///big.csv", "shared": {"maxTokens": 6, "refillPeriod": "1m"}, "perUser": {"maxTokens": 3, "refillPeriod": "1m"}, "cost": 3,
     "quota": {"maxCalls": 100, "period": "day", "timeZone": "UTC"}, "perUserQuota": {"maxCalls": 10, "period": "day", "timeZone": "UTC"}, "concurrency": {"shared": 3, "perUser": 1}}
  ],
  "userIdentity": {"from": "header", "header": "x-user-id", "missing": "anonymous"},
  "maxTrackedUsers": 10000,
  "paths": ["/mcp"],
  "maxRequestBodyBytes": 1048576,
  "batch": "reject",
  "errorCode": -32029,
  "rejectStatus": 429,
  "dryRun": false,
  "rateLimitHeaders": false
}`

// shared is a valid top-level limit to complete test configurations.
const shared = `"shared":{"maxTokens":5,"refillPeriod":"1s"}`

func bucket(n int64, d time.Duration) *Bucket { return &Bucket{MaxTokens: n, RefillPeriod: d} }

// withDefaults returns cfg with the defaults of unset optional fields.
func withDefaults(cfg Config) *Config {
	if cfg.MaxTrackedUsers == 0 {
		cfg.MaxTrackedUsers = DefaultMaxTrackedUsers
	}
	if cfg.MaxRequestBodyBytes == 0 {
		cfg.MaxRequestBodyBytes = DefaultMaxRequestBodyBytes
	}
	if cfg.Batch == "" {
		cfg.Batch = BatchReject
	}
	if cfg.ErrorCode == 0 {
		cfg.ErrorCode = DefaultErrorCode
	}
	if cfg.RejectStatus == 0 {
		cfg.RejectStatus = DefaultRejectStatus
	}
	for _, list := range [][]Named{cfg.Tools, cfg.Methods, cfg.Prompts, cfg.Resources} {
		for i := range list {
			if list[i].Cost == 0 {
				list[i].Cost = DefaultCost
			}
		}
	}
	if cfg.UserIdentity != nil && cfg.UserIdentity.Missing == "" {
		cfg.UserIdentity.Missing = MissingShared
	}
	return &cfg
}

var sharedBucket = bucket(5, time.Second)

// parseAcceptTests are configurations Parse accepts.
var parseAcceptTests = []struct {
	name string
	json string
	want *Config
}{
	{"full example", fullExample, withDefaults(Config{
		Shared:       bucket(100, time.Minute),
		PerUser:      bucket(20, time.Minute),
		Quota:        &Quota{MaxCalls: 10000, Period: "day", TimeZone: "UTC"},
		PerUserQuota: &Quota{MaxCalls: 500, Period: "week", TimeZone: "Europe/Berlin"},
		Concurrency:  &Concurrency{Shared: 50, PerUser: 5},
		Tools: []Tool{{Name: "search", Shared: bucket(10, time.Minute), PerUser: bucket(2, time.Minute), Cost: 2,
			Quota: &Quota{MaxCalls: 1000, Period: "month", TimeZone: "America/New_York"}, PerUserQuota: &Quota{MaxCalls: 50, Period: "day", TimeZone: "UTC"},
			Concurrency: &Concurrency{Shared: 4, PerUser: 1}}},
		Methods: []Named{{Name: "resources/read", Shared: bucket(50, time.Minute), PerUser: bucket(10, time.Minute),
			Quota: &Quota{MaxCalls: 100, Period: "day", TimeZone: "UTC"}, PerUserQuota: &Quota{MaxCalls: 10, Period: "day", TimeZone: "UTC"},
			Concurrency: &Concurrency{Shared: 3, PerUser: 1}}},
		Prompts: []Named{{Name: "summarize", Shared: bucket(5, time.Minute), PerUser: bucket(1, time.Minute),
			Quota: &Quota{MaxCalls: 100, Period: "day", TimeZone: "UTC"}, PerUserQuota: &Quota{MaxCalls: 10, Period: "day", TimeZone: "UTC"},
			Concurrency: &Concurrency{Shared: 3, PerUser: 1}}},
		Resources: []Named{{Name: "file:///big.csv", Shared: bucket(6, time.Minute), PerUser: bucket(3, time.Minute), Cost: 3,
			Quota: &Quota{MaxCalls: 100, Period: "day", TimeZone: "UTC"}, PerUserQuota: &Quota{MaxCalls: 10, Period: "day", TimeZone: "UTC"},
			Concurrency: &Concurrency{Shared: 3, PerUser: 1}}},
		UserIdentity: &UserIdentity{From: IdentityHeader, Header: "x-user-id", Missing: MissingAnonymous},
		Paths:        []string{"/mcp"},
	})},
	{"shared only, defaults", `{` + shared + `}`, withDefaults(Config{Shared: sharedBucket})},
	{"surrounding whitespace", " \n\t{" + shared + "}\r\n ", withDefaults(Config{Shared: sharedBucket})},
	{"escaped field names", `{"\u0073hared":{"max\u0054okens":5,"refillPeriod":"1\u0073"}}`, withDefaults(Config{Shared: sharedBucket})},
	{"cost alone weights the shared bucket", `{` + shared + `,"tools":[{"name":"a","cost":5}]}`,
		withDefaults(Config{Shared: sharedBucket, Tools: []Tool{{Name: "a", Cost: 5}}})},
	{"quota alone", `{"quota":{"maxCalls":5,"period":"week"}}`,
		withDefaults(Config{Quota: &Quota{MaxCalls: 5, Period: "week", TimeZone: "UTC"}})},
	{"methods alone", `{"methods":[{"name":"resources/list",` + shared + `}]}`,
		withDefaults(Config{Methods: []Named{{Name: "resources/list", Shared: sharedBucket}}})},
	{"a prompt's cost weighs on its method's bucket", `{"methods":[{"name":"prompts/get",` + shared + `}],"prompts":[{"name":"p","cost":5}]}`,
		withDefaults(Config{Methods: []Named{{Name: "prompts/get", Shared: sharedBucket}}, Prompts: []Named{{Name: "p", Cost: 5}}})},
	{"a tool's cost ignores method buckets", `{"methods":[{"name":"prompts/get",` + shared + `}],"tools":[{"name":"t","cost":9}]}`,
		withDefaults(Config{Methods: []Named{{Name: "prompts/get", Shared: sharedBucket}}, Tools: []Named{{Name: "t", Cost: 9}}})},
	{"missing reject", `{"perUser":{"maxTokens":5,"refillPeriod":"1s"},"userIdentity":{"from":"sourceAddress","missing":"reject"}}`,
		withDefaults(Config{PerUser: sharedBucket, UserIdentity: &UserIdentity{From: IdentitySourceAddress, Missing: MissingReject}})},
	{"tools only", `{"tools":[{"name":"a","shared":{"maxTokens":1,"refillPeriod":"1h"}}]}`,
		withDefaults(Config{Tools: []Tool{{Name: "a", Shared: bucket(1, time.Hour)}}})},
	{"empty tools with shared", `{` + shared + `,"tools":[]}`, withDefaults(Config{Shared: sharedBucket})},
	{"tool names differing in case", `{"tools":[{"name":"a","shared":{"maxTokens":1,"refillPeriod":"1h"}},{"name":"A","shared":{"maxTokens":2,"refillPeriod":"1h"}}]}`,
		withDefaults(Config{Tools: []Tool{{Name: "a", Shared: bucket(1, time.Hour)}, {Name: "A", Shared: bucket(2, time.Hour)}}})},
	{"tool name with Unicode and punctuation", `{"tools":[{"name":"dépôt.files/read_v2-ü","shared":{"maxTokens":1,"refillPeriod":"1h"}}]}`,
		withDefaults(Config{Tools: []Tool{{Name: "dépôt.files/read_v2-ü", Shared: bucket(1, time.Hour)}}})},
	{"tool name at the length limit", `{"tools":[{"name":"` + strings.Repeat("n", MaxToolNameBytes) + `","shared":{"maxTokens":1,"refillPeriod":"1h"}}]}`,
		withDefaults(Config{Tools: []Tool{{Name: strings.Repeat("n", MaxToolNameBytes), Shared: bucket(1, time.Hour)}}})},
	{"perUser with header identity, lower-cased", `{"perUser":{"maxTokens":3,"refillPeriod":"10s"},"userIdentity":{"from":"header","header":"X-User-ID"}}`,
		withDefaults(Config{PerUser: bucket(3, 10*time.Second), UserIdentity: &UserIdentity{From: IdentityHeader, Header: "x-user-id"}})},
	{"header name with token punctuation", `{"perUser":{"maxTokens":3,"refillPeriod":"10s"},"userIdentity":{"from":"header","header":"X!#$%&'*+-.^_|~1` + "`" + `"}}`,
		withDefaults(Config{PerUser: bucket(3, 10*time.Second), UserIdentity: &UserIdentity{From: IdentityHeader, Header: "x!#$%&'*+-.^_|~1`"}})},
	{"peerPrincipal identity", `{"perUser":{"maxTokens":3,"refillPeriod":"10s"},"userIdentity":{"from":"peerPrincipal"}}`,
		withDefaults(Config{PerUser: bucket(3, 10*time.Second), UserIdentity: &UserIdentity{From: IdentityPeerPrincipal}})},
	{"sourceAddress identity", `{"perUser":{"maxTokens":3,"refillPeriod":"10s"},"userIdentity":{"from":"sourceAddress"}}`,
		withDefaults(Config{PerUser: bucket(3, 10*time.Second), UserIdentity: &UserIdentity{From: IdentitySourceAddress}})},
	{"perUser only in a tool", `{"tools":[{"name":"a","perUser":{"maxTokens":1,"refillPeriod":"1m"}}],"userIdentity":{"from":"sourceAddress"}}`,
		withDefaults(Config{Tools: []Tool{{Name: "a", PerUser: bucket(1, time.Minute)}}, UserIdentity: &UserIdentity{From: IdentitySourceAddress}})},
	{"maxTokens at its bounds", `{"shared":{"maxTokens":1,"refillPeriod":"1s"},"tools":[{"name":"a","shared":{"maxTokens":1000000000,"refillPeriod":"1s"}}]}`,
		withDefaults(Config{Shared: bucket(1, time.Second), Tools: []Tool{{Name: "a", Shared: bucket(MaxMaxTokens, time.Second)}}})},
	{"maxTokens with an exponent", `{"shared":{"maxTokens":1e3,"refillPeriod":"1s"}}`, withDefaults(Config{Shared: bucket(1000, time.Second)})},
	{"maxTokens with zero fraction", `{"shared":{"maxTokens":100.000,"refillPeriod":"1s"}}`, withDefaults(Config{Shared: bucket(100, time.Second)})},
	{"maxTokens as fraction times power", `{"shared":{"maxTokens":2.5E+1,"refillPeriod":"1s"}}`, withDefaults(Config{Shared: bucket(25, time.Second)})},
	{"refillPeriod at its lower bound", `{"shared":{"maxTokens":1,"refillPeriod":"1ms"}}`, withDefaults(Config{Shared: bucket(1, time.Millisecond)})},
	{"refillPeriod at its upper bound", `{"shared":{"maxTokens":1,"refillPeriod":"8760h"}}`, withDefaults(Config{Shared: bucket(1, MaxRefillPeriod)})},
	{"refillPeriod compound", `{"shared":{"maxTokens":1,"refillPeriod":"1h30m15.5s"}}`, withDefaults(Config{Shared: bucket(1, time.Hour+30*time.Minute+15500*time.Millisecond)})},
	{"refillPeriod fractional", `{"shared":{"maxTokens":1,"refillPeriod":"0.5s"}}`, withDefaults(Config{Shared: bucket(1, 500*time.Millisecond)})},
	{"refillPeriod in microseconds", `{"shared":{"maxTokens":1,"refillPeriod":"1500µs"}}`, withDefaults(Config{Shared: bucket(1, 1500*time.Microsecond)})},
	{"maxTrackedUsers bounds", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"sourceAddress"},"maxTrackedUsers":1000000}`,
		withDefaults(Config{PerUser: bucket(1, time.Second), UserIdentity: &UserIdentity{From: IdentitySourceAddress}, MaxTrackedUsers: MaxMaxTrackedUsers})},
	{"maxTrackedUsers 1", `{` + shared + `,"maxTrackedUsers":1}`, withDefaults(Config{Shared: sharedBucket, MaxTrackedUsers: 1})},
	{"paths", `{` + shared + `,"paths":["/","/mcp","/mcp/","/a%20b;x=1","/MCP"]}`,
		withDefaults(Config{Shared: sharedBucket, Paths: []string{"/", "/mcp", "/mcp/", "/a%20b;x=1", "/MCP"}})},
	{"maxRequestBodyBytes bounds", `{` + shared + `,"maxRequestBodyBytes":16777216}`, withDefaults(Config{Shared: sharedBucket, MaxRequestBodyBytes: MaxMaxRequestBodyBytes})},
	{"maxRequestBodyBytes 1", `{` + shared + `,"maxRequestBodyBytes":1}`, withDefaults(Config{Shared: sharedBucket, MaxRequestBodyBytes: 1})},
	{"batch limit", `{` + shared + `,"batch":"limit"}`, withDefaults(Config{Shared: sharedBucket, Batch: BatchLimit})},
	{"batch reject", `{` + shared + `,"batch":"reject"}`, withDefaults(Config{Shared: sharedBucket, Batch: BatchReject})},
	{"errorCode 429", `{` + shared + `,"errorCode":429}`, withDefaults(Config{Shared: sharedBucket, ErrorCode: 429})},
	{"errorCode -32099", `{` + shared + `,"errorCode":-32099}`, withDefaults(Config{Shared: sharedBucket, ErrorCode: -32099})},
	{"errorCode -32769", `{` + shared + `,"errorCode":-32769}`, withDefaults(Config{Shared: sharedBucket, ErrorCode: -32769})},
	{"errorCode int32 min", `{` + shared + `,"errorCode":-2147483648}`, withDefaults(Config{Shared: sharedBucket, ErrorCode: -2147483648})},
	{"errorCode int32 max", `{` + shared + `,"errorCode":2147483647}`, withDefaults(Config{Shared: sharedBucket, ErrorCode: 2147483647})},
	{"rejectStatus 200", `{` + shared + `,"rejectStatus":200}`, withDefaults(Config{Shared: sharedBucket, RejectStatus: 200})},
	{"rejectStatus 429", `{` + shared + `,"rejectStatus":429}`, withDefaults(Config{Shared: sharedBucket, RejectStatus: 429})},
	{"dryRun and rateLimitHeaders", `{` + shared + `,"dryRun":true,"rateLimitHeaders":true}`, withDefaults(Config{Shared: sharedBucket, DryRun: true, RateLimitHeaders: true})},
}

func TestParseAccepts(t *testing.T) {
	tests := parseAcceptTests
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.json))
			if err != nil {
				t.Fatalf("Parse = error %v, want success", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%s)\n got %s\nwant %s", tt.json, dump(got), dump(tt.want))
			}
		})
	}
}

// dump renders a Config with its pointers followed.
func dump(c *Config) string {
	if c == nil {
		return "nil"
	}
	tools := make([]string, len(c.Tools))
	for i, tool := range c.Tools {
		tools[i] = fmt.Sprintf("{%q shared=%s perUser=%s}", tool.Name, dumpBucket(tool.Shared), dumpBucket(tool.PerUser))
	}
	identity := "nil"
	if c.UserIdentity != nil {
		identity = fmt.Sprintf("%+v", *c.UserIdentity)
	}
	rest := *c
	rest.Shared, rest.PerUser, rest.Tools, rest.UserIdentity = nil, nil, nil, nil
	return fmt.Sprintf("shared=%s perUser=%s tools=%v userIdentity=%s %+v",
		dumpBucket(c.Shared), dumpBucket(c.PerUser), tools, identity, rest)
}

func dumpBucket(b *Bucket) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprintf("%+v", *b)
}

// parseRefuseTests are configurations Parse refuses, with the error.
var parseRefuseTests = []struct {
	name string
	json string
	want string // the exact error
}{
	// The document.
	{"nil", "", `the configuration is empty; it must be a JSON object that sets at least one of "shared", "perUser", "quota", "perUserQuota", "concurrency", "tools", "methods", "prompts" or "resources"`},
	{"whitespace", " \n ", `the configuration is empty; it must be a JSON object that sets at least one of "shared", "perUser", "quota", "perUserQuota", "concurrency", "tools", "methods", "prompts" or "resources"`},
	{"not JSON", `{shared:1}`, `the configuration is not valid JSON: invalid character 's' looking for beginning of object key string (at byte 2)`},
	{"truncated", `{"shared":{"maxTokens":1`, `the configuration is not valid JSON: unexpected end of JSON input (at byte 24)`},
	{"trailing data", `{` + shared + `} {}`, `the configuration is not valid JSON: invalid character '{' after top-level value (at byte 48)`},
	{"trailing comma", `{` + shared + `,}`, `the configuration is not valid JSON: invalid character '}' looking for beginning of object key string (at byte 47)`},
	{"invalid UTF-8", "{" + shared + `,"tools":[{"name":"a` + "\xff" + `"}]}`, `the configuration is not valid UTF-8 (at byte 66)`},
	{"too deep", strings.Repeat("[", 20000), `the configuration is not valid JSON: invalid character '[' exceeded max depth (at byte 10001)`},
	{"array", `[` + `{` + shared + `}]`, `the configuration must be a JSON object, got an array`},
	{"string", `"shared"`, `the configuration must be a JSON object, got "shared"`},
	{"null", `null`, `the configuration must be a JSON object, got null`},
	{"empty object", `{}`, `the configuration sets no limit; set at least one of "shared", "perUser", "quota", "perUserQuota", "concurrency", "tools", "methods", "prompts" or "resources"`},
	{"only empty tools", `{"tools":[]}`, `the configuration sets no limit; set at least one of "shared", "perUser", "quota", "perUserQuota", "concurrency", "tools", "methods", "prompts" or "resources"`},
	{"only options", `{"dryRun":true,"paths":["/mcp"]}`, `the configuration sets no limit; set at least one of "shared", "perUser", "quota", "perUserQuota", "concurrency", "tools", "methods", "prompts" or "resources"`},

	// Quotas and caps beside redis follow the same rules as without.
	{"redis with a per-user quota without identity", `{` + shared + `,"perUserQuota":{"maxCalls":5,"period":"day"},"redis":{"cluster":"webdis"}}`,
		`perUserQuota: requires userIdentity, which says how users are told apart`},
	{"redis with a per-user cap without identity", `{` + shared + `,"concurrency":{"perUser":2},"redis":{"cluster":"webdis"}}`,
		`concurrency.perUser: requires userIdentity, which says how users are told apart`},

	// Field names.
	{"unknown field", `{` + shared + `,"sharedd":{}}`, `sharedd: unknown field; the known fields here are shared, perUser, quota, perUserQuota, concurrency, tools, methods, prompts, resources, userIdentity, maxTrackedUsers, paths, maxRequestBodyBytes, batch, errorCode, rejectStatus, dryRun, rateLimitHeaders, redis`},
	{"wrong case", `{"Shared":{"maxTokens":1,"refillPeriod":"1s"}}`, `Shared: unknown field; field names are case-sensitive: did you mean "shared"?`},
	{"snake case", `{` + shared + `,"dry_run":true}`, `dry_run: unknown field; the known fields here are shared, perUser, quota, perUserQuota, concurrency, tools, methods, prompts, resources, userIdentity, maxTrackedUsers, paths, maxRequestBodyBytes, batch, errorCode, rejectStatus, dryRun, rateLimitHeaders, redis`},
	{"unknown bucket field", `{"shared":{"maxTokens":1,"refillPeriod":"1s","burst":2}}`, `shared.burst: unknown field; the known fields here are maxTokens, refillPeriod`},
	{"unknown tool field", `{"tools":[{"name":"a","sharedd":{}}]}`, `tools[0].sharedd: unknown field; the known fields here are name, shared, perUser, quota, perUserQuota, concurrency, cost`},
	{"unknown identity field", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"header","claim":"sub"}}`, `userIdentity.claim: unknown field; the known fields here are from, header, missing`},
	{"odd unknown field name quoted", `{` + shared + `,"a b\n":1}`, `["a b\n"]: unknown field; the known fields here are shared, perUser, quota, perUserQuota, concurrency, tools, methods, prompts, resources, userIdentity, maxTrackedUsers, paths, maxRequestBodyBytes, batch, errorCode, rejectStatus, dryRun, rateLimitHeaders, redis`},
	{"duplicate field", `{` + shared + `,` + shared + `}`, `shared: duplicate field`},
	{"duplicate escaped field", `{` + shared + `,"s\u0068ared":{}}`, `shared: duplicate field`},
	{"duplicate nested field", `{"shared":{"maxTokens":1,"refillPeriod":"1s","maxTokens":2}}`, `shared.maxTokens: duplicate field`},
	{"lone surrogate in a field name", `{` + shared + `,"\ud800":1}`, `["�"]: the field name contains a lone UTF-16 surrogate escape`},

	// Buckets.
	{"bucket not an object", `{"shared":5}`, `shared: must be an object such as {"maxTokens": 100, "refillPeriod": "1m"}, got 5`},
	{"bucket null", `{"shared":null}`, `shared: must be an object such as {"maxTokens": 100, "refillPeriod": "1m"}, got null`},
	{"bucket array", `{"perUser":[]}`, `perUser: must be an object such as {"maxTokens": 100, "refillPeriod": "1m"}, got []`},
	{"maxTokens missing", `{"shared":{"refillPeriod":"1s"}}`, `shared.maxTokens: required`},
	{"refillPeriod missing", `{"shared":{"maxTokens":1}}`, `shared.refillPeriod: required`},
	{"maxTokens zero", `{"shared":{"maxTokens":0,"refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer >= 1, got 0`},
	{"maxTokens negative", `{"shared":{"maxTokens":-3,"refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer >= 1, got -3`},
	{"maxTokens hugely negative", `{"shared":{"maxTokens":-1e30,"refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer >= 1, got -1e30`},
	{"maxTokens fractional", `{"shared":{"maxTokens":1.5,"refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer from 1 to 1000000000, got 1.5`},
	{"maxTokens barely fractional", `{"shared":{"maxTokens":1.0000000000000000001,"refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer from 1 to 1000000000, got 1.0000000000000000001`},
	{"maxTokens small exponent", `{"shared":{"maxTokens":1e-3,"refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer from 1 to 1000000000, got 1e-3`},
	{"maxTokens too large", `{"shared":{"maxTokens":1000000001,"refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer <= 1000000000 (keeps the bucket arithmetic exact), got 1000000001`},
	{"maxTokens beyond int64", `{"shared":{"maxTokens":1e400,"refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer <= 1000000000 (keeps the bucket arithmetic exact), got 1e400`},
	{"maxTokens string", `{"shared":{"maxTokens":"10","refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer from 1 to 1000000000, got "10"`},
	{"maxTokens bool", `{"shared":{"maxTokens":true,"refillPeriod":"1s"}}`, `shared.maxTokens: must be an integer from 1 to 1000000000, got true`},
	{"refillPeriod zero", `{"shared":{"maxTokens":1,"refillPeriod":"0s"}}`, `shared.refillPeriod: must be a Go duration > 0, got "0s"`},
	{"refillPeriod bare zero", `{"shared":{"maxTokens":1,"refillPeriod":"0"}}`, `shared.refillPeriod: must be a Go duration > 0, got "0"`},
	{"refillPeriod negative", `{"shared":{"maxTokens":1,"refillPeriod":"-1m"}}`, `shared.refillPeriod: must be a Go duration > 0, got "-1m"`},
	{"refillPeriod too short", `{"shared":{"maxTokens":1,"refillPeriod":"999us"}}`, `shared.refillPeriod: must be at least 1ms, got "999us"`},
	{"refillPeriod too long", `{"shared":{"maxTokens":1,"refillPeriod":"8761h"}}`, `shared.refillPeriod: must be at most 8760h0m0s (365 days), got "8761h"`},
	{"refillPeriod overflowing", `{"shared":{"maxTokens":1,"refillPeriod":"9999999999h"}}`, `shared.refillPeriod: must be a Go duration such as "30s", "1m" or "1h30m" (units ns, us, ms, s, m, h), got "9999999999h"`},
	{"refillPeriod in days", `{"shared":{"maxTokens":1,"refillPeriod":"1d"}}`, `shared.refillPeriod: must be a Go duration such as "30s", "1m" or "1h30m" (units ns, us, ms, s, m, h), got "1d"`},
	{"refillPeriod without unit", `{"shared":{"maxTokens":1,"refillPeriod":"60"}}`, `shared.refillPeriod: must be a Go duration such as "30s", "1m" or "1h30m" (units ns, us, ms, s, m, h), got "60"`},
	{"refillPeriod empty", `{"shared":{"maxTokens":1,"refillPeriod":""}}`, `shared.refillPeriod: must be a Go duration such as "30s", "1m" or "1h30m" (units ns, us, ms, s, m, h), got ""`},
	{"refillPeriod number", `{"shared":{"maxTokens":1,"refillPeriod":60}}`, `shared.refillPeriod: must be a Go duration string such as "1m" or "1h30m", got 60`},
	{"refillPeriod long value cut", `{"shared":{"maxTokens":1,"refillPeriod":"` + strings.Repeat("x", 100) + `"}}`, `shared.refillPeriod: must be a Go duration such as "30s", "1m" or "1h30m" (units ns, us, ms, s, m, h), got "` + strings.Repeat("x", 64) + `..."`},
	{"perUser bucket error", `{"perUser":{"maxTokens":1,"refillPeriod":"1x"},"userIdentity":{"from":"sourceAddress"}}`, `perUser.refillPeriod: must be a Go duration such as "30s", "1m" or "1h30m" (units ns, us, ms, s, m, h), got "1x"`},

	// Tools.
	{"tools not an array", `{"tools":{"name":"a"}}`, `tools: must be an array of objects such as {"name": "search", "shared": {...}}, got an object`},
	{"tool not an object", `{"tools":["search"]}`, `tools[0]: must be an object such as {"name": "search", "shared": {...}}, got "search"`},
	{"tool without name", `{"tools":[{"shared":{"maxTokens":1,"refillPeriod":"1s"}}]}`, `tools[0].name: required`},
	{"tool name empty", `{"tools":[{"name":"","shared":{"maxTokens":1,"refillPeriod":"1s"}}]}`, `tools[0].name: must be a non-empty string, got ""`},
	{"tool name number", `{"tools":[{"name":7,"shared":{"maxTokens":1,"refillPeriod":"1s"}}]}`, `tools[0].name: must be a non-empty string, got 7`},
	{"tool name with spaces around", `{"tools":[{"name":"search ","shared":{"maxTokens":1,"refillPeriod":"1s"}}]}`, `tools[0].name: must not start or end with spaces, got "search "`},
	{"tool name with control character", `{"tools":[{"name":"a\u0000b","shared":{"maxTokens":1,"refillPeriod":"1s"}}]}`, `tools[0].name: must not contain control characters, got "a\x00b"`},
	{"tool name with lone surrogate", `{"tools":[{"name":"a\udc00","shared":{"maxTokens":1,"refillPeriod":"1s"}}]}`, `tools[0].name: must not contain a lone UTF-16 surrogate escape, got "a�"`},
	{"tool name too long", `{"tools":[{"name":"` + strings.Repeat("n", MaxToolNameBytes+1) + `","shared":{"maxTokens":1,"refillPeriod":"1s"}}]}`, `tools[0].name: must be at most 256 bytes long, got 257 bytes: "` + strings.Repeat("n", 64) + `..."`},
	{"tool without limit", `{"tools":[{"name":"a"}]}`, `tools[0]: tool "a" sets no limit; it must set shared, perUser, quota, perUserQuota, concurrency, cost or several of them`},
	{"cost zero", `{` + shared + `,"tools":[{"name":"a","cost":0}]}`, `tools[0].cost: must be an integer >= 1, got 0`},
	{"cost fractional", `{` + shared + `,"tools":[{"name":"a","cost":1.5}]}`, `tools[0].cost: must be an integer from 1 to 1000000000, got 1.5`},
	{"cost string", `{` + shared + `,"tools":[{"name":"a","cost":"2"}]}`, `tools[0].cost: must be an integer from 1 to 1000000000, got "2"`},
	{"cost above the tool's bucket", `{"tools":[{"name":"a","cost":4,"shared":{"maxTokens":3,"refillPeriod":"1m"}}]}`,
		`tools[0].cost: 4 is more than tools[0].shared.maxTokens 3: a call of tool "a" could never be admitted; lower the cost or raise maxTokens`},
	{"cost above the tool's per-user bucket", `{"tools":[{"name":"a","cost":4,"perUser":{"maxTokens":2,"refillPeriod":"1m"}}],"userIdentity":{"from":"sourceAddress"}}`,
		`tools[0].cost: 4 is more than tools[0].perUser.maxTokens 2: a call of tool "a" could never be admitted; lower the cost or raise maxTokens`},
	{"cost above the shared bucket", `{` + shared + `,"tools":[{"name":"b","cost":1},{"name":"a","cost":6}]}`,
		`tools[1].cost: 6 is more than shared.maxTokens 5: a call of tool "a" could never be admitted; lower the cost or raise maxTokens`},
	{"cost above the per-user bucket", `{"perUser":{"maxTokens":5,"refillPeriod":"1m"},"tools":[{"name":"a","cost":6}],"userIdentity":{"from":"sourceAddress"}}`,
		`tools[0].cost: 6 is more than perUser.maxTokens 5: a call of tool "a" could never be admitted; lower the cost or raise maxTokens`},
	{"tools/call as a method", `{"methods":[{"name":"tools/call",` + shared + `}]}`,
		`methods[0].name: must not be "tools/call": the top-level shared and perUser and the tools entries limit it`},
	{"duplicate method", `{"methods":[{"name":"ping",` + shared + `},{"name":"ping",` + shared + `}]}`,
		`methods[1].name: duplicate method name "ping", also in methods[0]`},
	{"method without limit", `{"methods":[{"name":"ping"}]}`, `methods[0]: method "ping" sets no limit; it must set shared, perUser, quota, perUserQuota, concurrency or several of them`},
	{"method with a cost", `{"methods":[{"name":"ping","cost":2,` + shared + `}]}`,
		`methods[0].cost: unknown field; the known fields here are name, shared, perUser, quota, perUserQuota, concurrency`},
	{"methods not an array", `{"methods":{"name":"ping"}}`,
		`methods: must be an array of objects such as {"name": "resources/read", "shared": {...}}, got an object`},
	{"method per user without identity", `{"methods":[{"name":"ping","perUser":{"maxTokens":1,"refillPeriod":"1s"}}]}`,
		`methods[0].perUser: requires userIdentity, which says how users are told apart`},
	{"resource without uri", `{"resources":[{"name":"x",` + shared + `}]}`,
		`resources[0].name: unknown field; the known fields here are uri, shared, perUser, quota, perUserQuota, concurrency, cost`},
	{"duplicate resource", `{"resources":[{"uri":"demo://a",` + shared + `},{"uri":"demo://a","cost":1}]}`,
		`resources[1].uri: duplicate resource uri "demo://a", also in resources[0]`},
	{"prompt per user without identity", `{"prompts":[{"name":"p","perUser":{"maxTokens":1,"refillPeriod":"1s"}}]}`,
		`prompts[0].perUser: requires userIdentity, which says how users are told apart`},
	{"prompt cost above its method's bucket", `{"methods":[{"name":"prompts/get",` + shared + `}],"prompts":[{"name":"p","cost":6}]}`,
		`prompts[0].cost: 6 is more than methods[0].shared.maxTokens 5: a call of prompt "p" could never be admitted; lower the cost or raise maxTokens`},
	{"resource cost above its own bucket", `{"resources":[{"uri":"demo://a","cost":6,` + shared + `}]}`,
		`resources[0].cost: 6 is more than resources[0].shared.maxTokens 5: a call of resource "demo://a" could never be admitted; lower the cost or raise maxTokens`},
	{"concurrency of zero", `{"concurrency":{"shared":0}}`, `concurrency.shared: must be an integer >= 1, got 0`},
	{"concurrency too high", `{"concurrency":{"shared":10001}}`, `concurrency.shared: must be an integer <= 10000 (the calls in flight are listed in one shared-data value), got 10001`},
	{"concurrency without caps", `{"concurrency":{}}`, `concurrency: sets no cap; it must set shared, perUser or both`},
	{"concurrency as a number", `{"concurrency":3}`, `concurrency: must be an object such as {"shared": 10, "perUser": 2}, got 3`},
	{"per-user concurrency without identity", `{"tools":[{"name":"a","concurrency":{"perUser":1}}]}`, `tools[0].concurrency.perUser: requires userIdentity, which says how users are told apart`},
	{"quota without period", `{"quota":{"maxCalls":5}}`, `quota.period: required`},
	{"quota with an hourly period", `{"quota":{"maxCalls":5,"period":"hour"}}`, `quota.period: must be one of "day", "week", "month", got "hour"`},
	{"quota of zero calls", `{"quota":{"maxCalls":0,"period":"day"}}`, `quota.maxCalls: must be an integer >= 1, got 0`},
	{"quota in an unknown zone", `{"quota":{"maxCalls":5,"period":"day","timeZone":"Mars/Olympus_Mons"}}`,
		`quota.timeZone: must be an IANA time zone name such as "UTC" or "Europe/Berlin", got "Mars/Olympus_Mons" (unknown time zone)`},
	{"quota in the machine's zone", `{"quota":{"maxCalls":5,"period":"day","timeZone":"Local"}}`,
		`quota.timeZone: must be an IANA time zone name such as "UTC" or "Europe/Berlin", got "Local"`},
	{"quota as a number", `{"quota":5}`, `quota: must be an object such as {"maxCalls": 10000, "period": "day", "timeZone": "UTC"}, got 5`},
	{"per-user quota without identity", `{"tools":[{"name":"a","perUserQuota":{"maxCalls":5,"period":"day"}}]}`,
		`tools[0].perUserQuota: requires userIdentity, which says how users are told apart`},
	{"missing unknown", `{"perUser":{"maxTokens":5,"refillPeriod":"1m"},"userIdentity":{"from":"sourceAddress","missing":"deny"}}`,
		`userIdentity.missing: must be one of "shared", "anonymous", "reject", got "deny"`},
	{"duplicate tool", `{"tools":[{"name":"a","shared":{"maxTokens":1,"refillPeriod":"1s"}},{"name":"b","shared":{"maxTokens":1,"refillPeriod":"1s"}},{"name":"a","shared":{"maxTokens":2,"refillPeriod":"1s"}}]}`, `tools[2].name: duplicate tool name "a", also in tools[0]`},
	{"duplicate escaped tool", `{"tools":[{"name":"a","shared":{"maxTokens":1,"refillPeriod":"1s"}},{"name":"\u0061","shared":{"maxTokens":2,"refillPeriod":"1s"}}]}`, `tools[1].name: duplicate tool name "a", also in tools[0]`},
	{"tool bucket error", `{"tools":[{"name":"a","shared":{"maxTokens":1,"refillPeriod":"1s"}},{"name":"b","perUser":{"maxTokens":1,"refillPeriod":"0s"}}],"userIdentity":{"from":"sourceAddress"}}`, `tools[1].perUser.refillPeriod: must be a Go duration > 0, got "0s"`},
	{"tool shared error", `{"tools":[{"name":"a","shared":{"maxTokens":0,"refillPeriod":"1s"}}]}`, `tools[0].shared.maxTokens: must be an integer >= 1, got 0`},

	// User identity.
	{"perUser without identity", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"}}`, `perUser: requires userIdentity, which says how users are told apart`},
	{"tool perUser without identity", `{` + shared + `,"tools":[{"name":"a","shared":{"maxTokens":1,"refillPeriod":"1s"}},{"name":"b","perUser":{"maxTokens":1,"refillPeriod":"1s"}}]}`, `tools[1].perUser: requires userIdentity, which says how users are told apart`},
	{"identity without perUser", `{` + shared + `,"userIdentity":{"from":"sourceAddress"}}`, `userIdentity: has no effect without a perUser limit (top-level or in a tool); add one or remove userIdentity`},
	{"identity not an object", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":"header"}`, `userIdentity: must be an object such as {"from": "header", "header": "x-user-id"}, got "header"`},
	{"identity without from", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"header":"x-user"}}`, `userIdentity.from: required`},
	{"identity from unknown", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"jwt"}}`, `userIdentity.from: must be one of "header", "peerPrincipal", "sourceAddress", got "jwt"`},
	{"identity from wrong case", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"Header","header":"x"}}`, `userIdentity.from: must be one of "header", "peerPrincipal", "sourceAddress", got "Header"`},
	{"header missing", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"header"}}`, `userIdentity.header: required when from is "header"`},
	{"header with other source", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"sourceAddress","header":"x-user"}}`, `userIdentity.header: only allowed when from is "header", got from "sourceAddress"`},
	{"header with other source, header first", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"header":"x-user","from":"peerPrincipal"}}`, `userIdentity.header: only allowed when from is "header", got from "peerPrincipal"`},
	{"header empty", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"header","header":""}}`, "userIdentity.header: must be a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~), got \"\""},
	{"header with space", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"header","header":"x user"}}`, "userIdentity.header: must be a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~), got \"x user\""},
	{"header with colon", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"header","header":":authority"}}`, "userIdentity.header: must be a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~), got \":authority\""},
	{"header non-ASCII", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"header","header":"x-üser"}}`, "userIdentity.header: must be a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~), got \"x-üser\""},
	{"header number", `{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"header","header":1}}`, `userIdentity.header: must be an HTTP header name, got 1`},

	// Scalars.
	{"maxTrackedUsers zero", `{` + shared + `,"maxTrackedUsers":0}`, `maxTrackedUsers: must be an integer >= 1, got 0`},
	{"maxTrackedUsers too large", `{` + shared + `,"maxTrackedUsers":1000001}`, `maxTrackedUsers: must be an integer <= 1000000, got 1000001`},
	{"maxTrackedUsers string", `{` + shared + `,"maxTrackedUsers":"100"}`, `maxTrackedUsers: must be an integer from 1 to 1000000, got "100"`},
	{"maxRequestBodyBytes zero", `{` + shared + `,"maxRequestBodyBytes":0}`, `maxRequestBodyBytes: must be an integer >= 1, got 0`},
	{"maxRequestBodyBytes too large", `{` + shared + `,"maxRequestBodyBytes":16777217}`, `maxRequestBodyBytes: must be an integer <= 16777216 (16 MiB: the body is held in the Wasm VM's memory, once per Envoy worker), got 16777217`},
	{"maxRequestBodyBytes fractional", `{` + shared + `,"maxRequestBodyBytes":1024.5}`, `maxRequestBodyBytes: must be an integer from 1 to 16777216, got 1024.5`},
	{"batch unknown", `{` + shared + `,"batch":"allow"}`, `batch: must be "reject" or "limit", got "allow"`},
	{"batch bool", `{` + shared + `,"batch":false}`, `batch: must be "reject" or "limit", got false`},
	{"errorCode parse error", `{` + shared + `,"errorCode":-32700}`, `errorCode: must not be a code JSON-RPC 2.0 reserves for pre-defined errors (-32768 to -32100, e.g. -32700 parse error, -32600 to -32603), got -32700; the default is -32029`},
	{"errorCode invalid request", `{` + shared + `,"errorCode":-32600}`, `errorCode: must not be a code JSON-RPC 2.0 reserves for pre-defined errors (-32768 to -32100, e.g. -32700 parse error, -32600 to -32603), got -32600; the default is -32029`},
	{"errorCode internal error", `{` + shared + `,"errorCode":-32603}`, `errorCode: must not be a code JSON-RPC 2.0 reserves for pre-defined errors (-32768 to -32100, e.g. -32700 parse error, -32600 to -32603), got -32603; the default is -32029`},
	{"errorCode range start", `{` + shared + `,"errorCode":-32768}`, `errorCode: must not be a code JSON-RPC 2.0 reserves for pre-defined errors (-32768 to -32100, e.g. -32700 parse error, -32600 to -32603), got -32768; the default is -32029`},
	{"errorCode range end", `{` + shared + `,"errorCode":-32100}`, `errorCode: must not be a code JSON-RPC 2.0 reserves for pre-defined errors (-32768 to -32100, e.g. -32700 parse error, -32600 to -32603), got -32100; the default is -32029`},
	{"errorCode header mismatch", `{` + shared + `,"errorCode":-32020}`, `errorCode: must not be -32020, the code the filter answers an Mcp-Method/Mcp-Name header mismatch with (MCP 2026-07-28); the default is -32029`},
	{"errorCode beyond int32", `{` + shared + `,"errorCode":2147483648}`, `errorCode: must be an integer <= 2147483647 (JSON-RPC error codes are 32-bit), got 2147483648`},
	{"errorCode below int32", `{` + shared + `,"errorCode":-2147483649}`, `errorCode: must be an integer >= -2147483648, got -2147483649`},
	{"errorCode fractional", `{` + shared + `,"errorCode":-32029.5}`, `errorCode: must be an integer from -2147483648 to 2147483647, got -32029.5`},
	{"rejectStatus 503", `{` + shared + `,"rejectStatus":503}`, `rejectStatus: must be 429 or 200, got 503`},
	{"rejectStatus string", `{` + shared + `,"rejectStatus":"429"}`, `rejectStatus: must be 429 or 200, got "429"`},
	{"rejectStatus fractional", `{` + shared + `,"rejectStatus":429.5}`, `rejectStatus: must be 429 or 200, got 429.5`},
	{"dryRun string", `{` + shared + `,"dryRun":"true"}`, `dryRun: must be true or false, got "true"`},
	{"dryRun number", `{` + shared + `,"dryRun":1}`, `dryRun: must be true or false, got 1`},
	{"rateLimitHeaders null", `{` + shared + `,"rateLimitHeaders":null}`, `rateLimitHeaders: must be true or false, got null`},

	// Paths.
	{"paths not an array", `{` + shared + `,"paths":"/mcp"}`, `paths: must be an array of path prefixes such as ["/mcp"], got "/mcp"`},
	{"paths empty", `{` + shared + `,"paths":[]}`, `paths: must list at least one path prefix, got []; omit "paths" to inspect every path`},
	{"path not a string", `{` + shared + `,"paths":["/a",3]}`, `paths[1]: must be a path prefix such as "/mcp", got 3`},
	{"path relative", `{` + shared + `,"paths":["mcp"]}`, `paths[0]: must start with "/", got "mcp"`},
	{"path empty", `{` + shared + `,"paths":[""]}`, `paths[0]: must start with "/", got ""`},
	{"path with query", `{` + shared + `,"paths":["/mcp?x=1"]}`, `paths[0]: must be a path prefix without query ("?") or fragment ("#"), got "/mcp?x=1"`},
	{"path with fragment", `{` + shared + `,"paths":["/mcp#a"]}`, `paths[0]: must be a path prefix without query ("?") or fragment ("#"), got "/mcp#a"`},
	{"path with space", `{` + shared + `,"paths":["/m cp"]}`, `paths[0]: must be printable ASCII without spaces (percent-encode other bytes, as they appear in request paths), got "/m cp"`},
	{"path non-ASCII", `{` + shared + `,"paths":["/mcp/ü"]}`, `paths[0]: must be printable ASCII without spaces (percent-encode other bytes, as they appear in request paths), got "/mcp/ü"`},
	{"path too long", `{` + shared + `,"paths":["/` + strings.Repeat("p", MaxPathBytes) + `"]}`, `paths[0]: must be at most 1024 bytes long, got 1025 bytes`},
	{"duplicate path", `{` + shared + `,"paths":["/a","/mcp","/mcp"]}`, `paths[2]: duplicate of paths[1], "/mcp"`},
}

func TestParseRefuses(t *testing.T) {
	tests := parseRefuseTests
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.json))
			if err == nil {
				t.Fatalf("Parse(%.300s) = %s, want error %q", tt.json, dump(cfg), tt.want)
			}
			if cfg != nil {
				t.Errorf("Parse returned a configuration with its error")
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%.300s)\n got error %s\nwant error %s", tt.json, err, tt.want)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error %q is not one line", err)
			}
			var configErr *Error
			if !errors.As(err, &configErr) {
				t.Errorf("error %T is not *Error", err)
			}
		})
	}
}

func TestErrorPath(t *testing.T) {
	_, err := Parse([]byte(`{"tools":[{"name":"a","shared":{"maxTokens":1,"refillPeriod":"1s"}},{"name":"b","perUser":{"maxTokens":1,"refillPeriod":"0s"}}],"userIdentity":{"from":"sourceAddress"}}`))
	var configErr *Error
	if !errors.As(err, &configErr) {
		t.Fatalf("Parse error %v is not *Error", err)
	}
	if configErr.Path != "tools[1].perUser.refillPeriod" || configErr.Problem != `must be a Go duration > 0, got "0s"` {
		t.Errorf("Error = %+v, want path tools[1].perUser.refillPeriod", configErr)
	}
}

func TestConfigHelpers(t *testing.T) {
	cfg, err := Parse([]byte(fullExample))
	if err != nil {
		t.Fatal(err)
	}
	if tool := cfg.Tool("search"); tool == nil || tool.Name != "search" || tool.Shared.MaxTokens != 10 {
		t.Errorf("Tool(search) = %+v", tool)
	}
	if tool := cfg.Tool("Search"); tool != nil {
		t.Errorf("Tool(Search) = %+v, want nil (names are case-sensitive)", tool)
	}
	if !cfg.HasPerUser() {
		t.Errorf("HasPerUser() = false for the full example")
	}
	onlyTool, err := Parse([]byte(`{"tools":[{"name":"a","perUser":{"maxTokens":1,"refillPeriod":"1s"}}],"userIdentity":{"from":"sourceAddress"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !onlyTool.HasPerUser() {
		t.Errorf("HasPerUser() = false with a tool's perUser")
	}
	sharedOnly, err := Parse([]byte(`{` + shared + `}`))
	if err != nil {
		t.Fatal(err)
	}
	if sharedOnly.HasPerUser() {
		t.Errorf("HasPerUser() = true without perUser")
	}
}

func TestParseManyToolsAndPaths(t *testing.T) {
	const n = 5000
	var tools, paths []string
	for i := range n {
		tools = append(tools, fmt.Sprintf(`{"name":"tool-%d","shared":{"maxTokens":%d,"refillPeriod":"1m"}}`, i, i+1))
		paths = append(paths, fmt.Sprintf(`"/mcp/%d"`, i))
	}
	valid := `{"tools":[` + strings.Join(tools, ",") + `],"paths":[` + strings.Join(paths, ",") + `]}`
	cfg, err := Parse([]byte(valid))
	if err != nil {
		t.Fatalf("Parse(%d tools) = %v", n, err)
	}
	if len(cfg.Tools) != n || len(cfg.Paths) != n || cfg.Tools[n-1].Name != fmt.Sprintf("tool-%d", n-1) || cfg.Tools[n-1].Shared.MaxTokens != n {
		t.Errorf("Parse kept %d tools and %d paths, last tool %+v", len(cfg.Tools), len(cfg.Paths), cfg.Tools[len(cfg.Tools)-1])
	}
	duplicate := `{"tools":[` + strings.Join(tools, ",") + `,` + tools[1234] + `]}`
	_, err = Parse([]byte(duplicate))
	if want := `tools[5000].name: duplicate tool name "tool-1234", also in tools[1234]`; err == nil || err.Error() != want {
		t.Errorf("Parse(duplicate tool) = %v, want %s", err, want)
	}
}

// TestParseAcceptsRedisWithQuotasAndCaps: the Redis store keeps quotas and
// caps beside buckets.
func TestParseAcceptsRedisWithQuotasAndCaps(t *testing.T) {
	const redis = `,"redis":{"cluster":"webdis"}`
	for _, tt := range []struct{ name, json string }{
		{"quota", `{"quota":{"maxCalls":5,"period":"day","timeZone":"Europe/Paris"}` + redis + `}`},
		{"per-user quota", `{"perUserQuota":{"maxCalls":5,"period":"week"},"userIdentity":{"from":"sourceAddress"}` + redis + `}`},
		{"caps", `{"concurrency":{"shared":4,"perUser":1},"userIdentity":{"from":"sourceAddress"}` + redis + `}`},
		{"tool quota and cap", `{"tools":[{"name":"a","quota":{"maxCalls":9,"period":"month"},"concurrency":{"shared":2}}]` + redis + `}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.json))
			if err != nil {
				t.Fatalf("Parse(%s) = %v, want success", tt.json, err)
			}
			if cfg.Redis == nil || cfg.Redis.Cluster != "webdis" {
				t.Errorf("redis %+v", cfg.Redis)
			}
		})
	}
}

// TestIsTokenChar holds the token table to RFC 9110's tchar rule
// (section 5.6.2): ALPHA, DIGIT and fifteen punctuation characters, and
// nothing outside ASCII.
func TestIsTokenChar(t *testing.T) {
	for r := rune(-1); r < 0x300; r++ {
		want := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			r >= 0 && strings.ContainsRune("!#$%&'*+-.^_`|~", r)
		if got := IsTokenChar(r); got != want {
			t.Errorf("IsTokenChar(%q) = %v, want %v", r, got, want)
		}
	}
	for _, r := range []rune{0x10FFFF, 0x110000, -0x80000000} {
		if IsTokenChar(r) {
			t.Errorf("IsTokenChar(%#x) = true", r)
		}
	}
}
