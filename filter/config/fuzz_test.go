package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzSeeds are added to the corpus under testdata/fuzz/FuzzParse.
var fuzzSeeds = []string{
	fullExample,
	redisExample,
	`{"shared":{"maxTokens":5,"refillPeriod":"1s"}}`,
	`{"tools":[{"name":"a","perUser":{"maxTokens":1,"refillPeriod":"1ms"}}],"userIdentity":{"from":"peerPrincipal"}}`,
	`{"perUser":{"maxTokens":1e3,"refillPeriod":"8760h"},"userIdentity":{"from":"header","header":"X-User"},"paths":["/mcp","/v1/mcp"],"batch":"limit","errorCode":429,"rejectStatus":200,"dryRun":true,"rateLimitHeaders":true}`,
	`{"shared":{"maxTokens":1.5,"refillPeriod":"0s"}}`,
	`{"shared":{"maxTokens":1,"refillPeriod":"1s","maxTokens":2}}`,
	`{"\u0073hared":{"maxTokens":1,"refillPeriod":"1s"},"tools":[{"name":"\ud800","shared":{"maxTokens":1,"refillPeriod":"1s"}}]}`,
	`{"shared":{"maxTokens":1,"refillPeriod":"1s"}} {}`,
	`{"errorCode":-32700,"shared":{"maxTokens":1,"refillPeriod":"1s"}}`,
	`{"shared":{"maxTokens":5,"refillPeriod":"1s"},"tools":[{"name":"a","cost":5},{"name":"b","cost":6}]}`,
	`{"tools":[{"name":"a","cost":3,"perUser":{"maxTokens":3,"refillPeriod":"1m"}}],"userIdentity":{"from":"sourceAddress","missing":"anonymous"}}`,
	`{"perUser":{"maxTokens":1,"refillPeriod":"1s"},"userIdentity":{"from":"header","header":"x","missing":"reject"}}`,
	`{"methods":[{"name":"resources/read","shared":{"maxTokens":5,"refillPeriod":"1s"}},{"name":"tools/call","shared":{"maxTokens":5,"refillPeriod":"1s"}}]}`,
	`{"methods":[{"name":"prompts/get","perUser":{"maxTokens":4,"refillPeriod":"1s"}}],"prompts":[{"name":"p","cost":4}],"resources":[{"uri":"file:///a","cost":2,"shared":{"maxTokens":2,"refillPeriod":"1m"}}],"userIdentity":{"from":"peerPrincipal"}}`,
	`{"quota":{"maxCalls":5,"period":"day","timeZone":"Asia/Kolkata"},"tools":[{"name":"a","perUserQuota":{"maxCalls":1,"period":"month"}}],"userIdentity":{"from":"sourceAddress"}}`,
	`{"quota":{"maxCalls":5,"period":"week","timeZone":"Local"}}`,
	`{"concurrency":{"shared":3},"tools":[{"name":"slow","concurrency":{"shared":1,"perUser":1}}],"userIdentity":{"from":"sourceAddress"}}`,
	`{"concurrency":{"perUser":0}}`,
	`[]`,
	``,
}

// FuzzParse checks that Parse never panics, that every error is one
// *Error line, and that whatever it accepts satisfies the documented rules
// and parses back to the same configuration when written out again.
func FuzzParse(f *testing.F) {
	for _, seed := range fuzzSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			var configErr *Error
			if !errors.As(err, &configErr) {
				t.Fatalf("error %T is not *Error", err)
			}
			if cfg != nil {
				t.Fatalf("Parse returned a configuration with error %v", err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") || !utf8.ValidString(err.Error()) {
				t.Fatalf("error %q is not one line of UTF-8", err)
			}
			return
		}
		if problem := checkInvariants(cfg); problem != "" {
			t.Fatalf("Parse(%q) accepted a configuration that %s", data, problem)
		}
		again, err := Parse(encodeConfig(cfg))
		if err != nil {
			t.Fatalf("Parse(%q) accepted a configuration that, written out as %s, fails: %v", data, encodeConfig(cfg), err)
		}
		if !reflect.DeepEqual(again, cfg) {
			t.Fatalf("round trip of %q\n got %s\nwant %s", data, dump(again), dump(cfg))
		}
	})
}

// checkInvariants describes how cfg breaks the documented rules, or
// returns "".
func checkInvariants(cfg *Config) string {
	if cfg.Shared == nil && cfg.PerUser == nil && cfg.Quota == nil && cfg.PerUserQuota == nil && cfg.Concurrency == nil && len(cfg.Tools)+len(cfg.Methods)+len(cfg.Prompts)+len(cfg.Resources) == 0 {
		return "sets no limit"
	}
	quotas := []*Quota{cfg.Quota, cfg.PerUserQuota}
	for _, list := range [][]Named{cfg.Tools, cfg.Methods, cfg.Prompts, cfg.Resources} {
		for _, entry := range list {
			quotas = append(quotas, entry.Quota, entry.PerUserQuota)
		}
	}
	caps := []*Concurrency{cfg.Concurrency}
	for _, list := range [][]Named{cfg.Tools, cfg.Methods, cfg.Prompts, cfg.Resources} {
		for _, entry := range list {
			caps = append(caps, entry.Concurrency)
		}
	}
	for _, c := range caps {
		if c != nil && (c.Shared < 0 || c.Shared > MaxConcurrency || c.PerUser < 0 || c.PerUser > MaxConcurrency || c.Shared+c.PerUser == 0) {
			return "has a bad concurrency cap"
		}
	}
	for _, q := range quotas {
		if q == nil {
			continue
		}
		if _, err := q.Location(); err != nil || q.TimeZone == "" || q.TimeZone == "Local" || q.MaxCalls < 1 || q.MaxCalls > MaxMaxTokens ||
			q.Period != PeriodDay && q.Period != PeriodWeek && q.Period != PeriodMonth {
			return "has a bad quota"
		}
	}
	for _, list := range [][]Named{cfg.Methods, cfg.Prompts, cfg.Resources} {
		seen := map[string]bool{}
		for _, entry := range list {
			if entry.Name == "" || seen[entry.Name] || !utf8.ValidString(entry.Name) || entry.Cost < 1 {
				return "has a bad or duplicate name or cost " + entry.Name
			}
			seen[entry.Name] = true
			for _, b := range []*Bucket{entry.Shared, entry.PerUser} {
				if b != nil && (b.MaxTokens < entry.Cost || b.MaxTokens > MaxMaxTokens || b.RefillPeriod < MinRefillPeriod || b.RefillPeriod > MaxRefillPeriod) {
					return "has a method, prompt or resource bucket out of bounds"
				}
			}
		}
	}
	if cfg.Method(MethodToolsCall) != nil {
		return "limits tools/call as a method"
	}
	buckets := []*Bucket{cfg.Shared, cfg.PerUser}
	names := map[string]bool{}
	for _, tool := range cfg.Tools {
		if tool.Name == "" || len(tool.Name) > MaxToolNameBytes || names[tool.Name] || !utf8.ValidString(tool.Name) {
			return "has a bad or duplicate tool name " + tool.Name
		}
		names[tool.Name] = true
		if tool.Cost < 1 {
			return "has a tool cost below 1"
		}
		for _, b := range []*Bucket{tool.Shared, tool.PerUser, cfg.Shared, cfg.PerUser} {
			if b != nil && b.MaxTokens < tool.Cost {
				return "has a tool cost above a bucket's maxTokens"
			}
		}
		buckets = append(buckets, tool.Shared, tool.PerUser)
	}
	for _, b := range buckets {
		if b != nil && (b.MaxTokens < 1 || b.MaxTokens > MaxMaxTokens || b.RefillPeriod < MinRefillPeriod || b.RefillPeriod > MaxRefillPeriod) {
			return "has a bucket out of bounds"
		}
	}
	if (cfg.UserIdentity != nil) != cfg.HasPerUser() {
		return "has userIdentity without perUser or the other way round"
	}
	if id := cfg.UserIdentity; id != nil {
		switch id.From {
		case IdentityHeader:
			if id.Header == "" || id.Header != strings.ToLower(id.Header) || strings.IndexFunc(id.Header, func(r rune) bool { return !IsTokenChar(r) }) >= 0 {
				return "has a bad identity header"
			}
		case IdentityPeerPrincipal, IdentitySourceAddress:
			if id.Header != "" {
				return "has a header with a non-header identity"
			}
		default:
			return "has an unknown identity source"
		}
		if id.Missing != MissingShared && id.Missing != MissingAnonymous && id.Missing != MissingReject {
			return "has an unknown missing-identity mode"
		}
	}
	if cfg.MaxTrackedUsers < 1 || cfg.MaxTrackedUsers > MaxMaxTrackedUsers ||
		cfg.MaxRequestBodyBytes < 1 || cfg.MaxRequestBodyBytes > MaxMaxRequestBodyBytes {
		return "has a size out of bounds"
	}
	seen := map[string]bool{}
	for _, p := range cfg.Paths {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# ") || seen[p] {
			return "has a bad path " + p
		}
		seen[p] = true
	}
	if cfg.Batch != BatchReject && cfg.Batch != BatchLimit {
		return "has a bad batch mode"
	}
	if int(int32(cfg.ErrorCode)) != cfg.ErrorCode || cfg.ErrorCode >= -32768 && cfg.ErrorCode <= -32100 || cfg.ErrorCode == -32020 {
		return "has a bad error code"
	}
	if cfg.RejectStatus != 429 && cfg.RejectStatus != 200 {
		return "has a bad reject status"
	}
	return ""
}
