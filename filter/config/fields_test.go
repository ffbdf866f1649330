package config

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestFieldPaths(t *testing.T) {
	object := func(path string, members ...string) []string {
		out := []string{path}
		for _, m := range members {
			out = append(out, path+"."+m)
		}
		return out
	}
	bucket := func(path string) []string { return object(path, "maxTokens", "refillPeriod") }
	quota := func(path string) []string { return object(path, "maxCalls", "period", "timeZone") }
	limits := func(prefix string) []string {
		return slices.Concat(bucket(prefix+"shared"), bucket(prefix+"perUser"), quota(prefix+"quota"), quota(prefix+"perUserQuota"),
			object(prefix+"concurrency", "shared", "perUser"))
	}
	want := slices.Concat(
		limits(""),
		[]string{"tools", "tools[].name"}, limits("tools[]."), []string{"tools[].cost"},
		[]string{"methods", "methods[].name"}, limits("methods[]."),
		[]string{"prompts", "prompts[].name"}, limits("prompts[]."), []string{"prompts[].cost"},
		[]string{"resources", "resources[].uri"}, limits("resources[]."), []string{"resources[].cost"},
		[]string{"userIdentity", "userIdentity.from", "userIdentity.header", "userIdentity.missing",
			"maxTrackedUsers", "paths", "maxRequestBodyBytes", "batch", "errorCode",
			"rejectStatus", "dryRun", "rateLimitHeaders",
			"redis", "redis.cluster", "redis.authority", "redis.timeout", "redis.keyPrefix",
			"redis.failureMode", "redis.username", "redis.password", "redis.rejectLocallyFor"},
	)
	if got := FieldPaths(); !reflect.DeepEqual(got, want) {
		t.Errorf("FieldPaths()\n got %q\nwant %q", got, want)
	}
}

// jsonPaths lists the field paths present in a JSON document, in the
// notation of FieldPaths.
func jsonPaths(prefix string, v gjson.Result, out map[string]bool) {
	v.ForEach(func(key, value gjson.Result) bool {
		path := prefix + key.Str
		out[path] = true
		switch {
		case value.IsObject():
			jsonPaths(path+".", value, out)
		case value.IsArray():
			value.ForEach(func(_, element gjson.Result) bool {
				if element.IsObject() {
					jsonPaths(path+"[].", element, out)
				}
				return true
			})
		}
		return true
	})
}

func TestFieldsCoverTheParser(t *testing.T) {
	// The full example sets every field; the parser accepts it, so
	// every field it names is known to the parser, and the table lists
	// exactly those.
	if _, err := Parse([]byte(fullExample)); err != nil {
		t.Fatalf("Parse(full example) = %v", err)
	}
	inExample := map[string]bool{}
	jsonPaths("", gjson.Parse(fullExample), inExample)
	// The redis object, every member set.
	if _, err := Parse([]byte(redisExample)); err != nil {
		t.Fatalf("Parse(redis example) = %v", err)
	}
	jsonPaths("", gjson.Parse(redisExample), inExample)
	paths := FieldPaths()
	for path := range inExample {
		if !slices.Contains(paths, path) {
			t.Errorf("the example sets %q, which FieldPaths does not list", path)
		}
	}
	for _, path := range paths {
		if !inExample[path] {
			t.Errorf("FieldPaths lists %q, which the example does not set", path)
		}
	}
}

func TestFieldsDescribeEveryField(t *testing.T) {
	types := []string{"object", "array of objects", "array of strings", "string", "string (Go duration)", "integer", "boolean"}
	for _, f := range Fields() {
		if !slices.Contains(types, f.Type) {
			t.Errorf("%s: type %q is not one of %q", f.Path, f.Type, types)
		}
		if len(f.Doc) < 20 || !strings.HasSuffix(f.Doc, ".") {
			t.Errorf("%s: doc %q is not a sentence", f.Path, f.Doc)
		}
		if f.Required && f.Default != "" {
			t.Errorf("%s: required with a default", f.Path)
		}
		if f.Default != "" && !json.Valid([]byte(f.Default)) {
			t.Errorf("%s: default %q is not JSON", f.Path, f.Default)
		}
	}
}

func TestFieldDefaultsAreTheParsersDefaults(t *testing.T) {
	const dayQuota = `"quota":{"maxCalls":1,"period":"day"},"perUserQuota":{"maxCalls":1,"period":"day"}`
	// Defaults of nested fields apply inside their objects.
	cfg, err := Parse([]byte(`{` + shared + `,"tools":[{"name":"a",` + shared + `,` + dayQuota + `}],"methods":[{"name":"m",` + dayQuota + `}],"prompts":[{"name":"p",` + shared + `,` + dayQuota + `}],"resources":[{"uri":"r",` + shared + `,` + dayQuota + `}],` + dayQuota + `,"perUser":{"maxTokens":5,"refillPeriod":"1s"},"userIdentity":{"from":"sourceAddress"}}`))
	if err != nil {
		t.Fatal(err)
	}
	encoded := gjson.ParseBytes(encodeConfig(cfg))
	// The redis object's defaults, from a configuration of its own.
	redisCfg, err := Parse([]byte(`{` + shared + `,"redis":{"cluster":"webdis"}}`))
	if err != nil {
		t.Fatal(err)
	}
	encodedRedis := gjson.ParseBytes(encodeConfig(redisCfg))
	withDefault := 0
	for _, f := range Fields() {
		if f.Default == "" {
			continue
		}
		withDefault++
		from := encoded
		if strings.HasPrefix(f.Path, "redis.") {
			from = encodedRedis
		}
		if got := from.Get(strings.ReplaceAll(f.Path, "[]", ".0")); got.Raw != f.Default {
			t.Errorf("%s: Fields says the default is %s, Parse applies %s", f.Path, f.Default, got.Raw)
		}
	}
	if withDefault != 25 {
		t.Errorf("%d fields have defaults, want 25", withDefault)
	}
}

// encodeConfig writes cfg back as configuration JSON, every field set.
func encodeConfig(cfg *Config) []byte {
	type bucketJSON struct {
		MaxTokens    int64  `json:"maxTokens"`
		RefillPeriod string `json:"refillPeriod"`
	}
	toBucket := func(b *Bucket) *bucketJSON {
		if b == nil {
			return nil
		}
		return &bucketJSON{MaxTokens: b.MaxTokens, RefillPeriod: b.RefillPeriod.String()}
	}
	type quotaJSON struct {
		MaxCalls int64  `json:"maxCalls"`
		Period   string `json:"period"`
		TimeZone string `json:"timeZone"`
	}
	toQuota := func(q *Quota) *quotaJSON {
		if q == nil {
			return nil
		}
		return &quotaJSON{MaxCalls: q.MaxCalls, Period: q.Period, TimeZone: q.TimeZone}
	}
	type concurrencyJSON struct {
		Shared  int64 `json:"shared,omitempty"`
		PerUser int64 `json:"perUser,omitempty"`
	}
	toConcurrency := func(c *Concurrency) *concurrencyJSON {
		if c == nil {
			return nil
		}
		return &concurrencyJSON{Shared: c.Shared, PerUser: c.PerUser}
	}
	type toolJSON struct {
		Name         string           `json:"name"`
		Shared       *bucketJSON      `json:"shared,omitempty"`
		PerUser      *bucketJSON      `json:"perUser,omitempty"`
		Quota        *quotaJSON       `json:"quota,omitempty"`
		PerUserQuota *quotaJSON       `json:"perUserQuota,omitempty"`
		Concurrency  *concurrencyJSON `json:"concurrency,omitempty"`
		Cost         int64            `json:"cost"`
	}
	type methodJSON struct {
		Name         string           `json:"name"`
		Shared       *bucketJSON      `json:"shared,omitempty"`
		PerUser      *bucketJSON      `json:"perUser,omitempty"`
		Quota        *quotaJSON       `json:"quota,omitempty"`
		PerUserQuota *quotaJSON       `json:"perUserQuota,omitempty"`
		Concurrency  *concurrencyJSON `json:"concurrency,omitempty"`
	}
	type resourceJSON struct {
		URI          string           `json:"uri"`
		Shared       *bucketJSON      `json:"shared,omitempty"`
		PerUser      *bucketJSON      `json:"perUser,omitempty"`
		Quota        *quotaJSON       `json:"quota,omitempty"`
		PerUserQuota *quotaJSON       `json:"perUserQuota,omitempty"`
		Concurrency  *concurrencyJSON `json:"concurrency,omitempty"`
		Cost         int64            `json:"cost"`
	}
	type redisJSON struct {
		Cluster          string `json:"cluster"`
		Authority        string `json:"authority"`
		Timeout          string `json:"timeout"`
		KeyPrefix        string `json:"keyPrefix"`
		FailureMode      string `json:"failureMode"`
		Username         string `json:"username,omitempty"`
		Password         string `json:"password,omitempty"`
		RejectLocallyFor string `json:"rejectLocallyFor"`
	}
	type identityJSON struct {
		From    string `json:"from"`
		Header  string `json:"header,omitempty"`
		Missing string `json:"missing"`
	}
	out := struct {
		Shared              *bucketJSON      `json:"shared,omitempty"`
		PerUser             *bucketJSON      `json:"perUser,omitempty"`
		Quota               *quotaJSON       `json:"quota,omitempty"`
		PerUserQuota        *quotaJSON       `json:"perUserQuota,omitempty"`
		Concurrency         *concurrencyJSON `json:"concurrency,omitempty"`
		Tools               []toolJSON       `json:"tools,omitempty"`
		Methods             []methodJSON     `json:"methods,omitempty"`
		Prompts             []toolJSON       `json:"prompts,omitempty"`
		Resources           []resourceJSON   `json:"resources,omitempty"`
		UserIdentity        *identityJSON    `json:"userIdentity,omitempty"`
		MaxTrackedUsers     int              `json:"maxTrackedUsers"`
		Paths               []string         `json:"paths,omitempty"`
		MaxRequestBodyBytes int              `json:"maxRequestBodyBytes"`
		Batch               string           `json:"batch"`
		ErrorCode           int              `json:"errorCode"`
		RejectStatus        int              `json:"rejectStatus"`
		DryRun              bool             `json:"dryRun"`
		RateLimitHeaders    bool             `json:"rateLimitHeaders"`
		Redis               *redisJSON       `json:"redis,omitempty"`
	}{
		Shared:              toBucket(cfg.Shared),
		PerUser:             toBucket(cfg.PerUser),
		Quota:               toQuota(cfg.Quota),
		PerUserQuota:        toQuota(cfg.PerUserQuota),
		Concurrency:         toConcurrency(cfg.Concurrency),
		MaxTrackedUsers:     cfg.MaxTrackedUsers,
		Paths:               cfg.Paths,
		MaxRequestBodyBytes: cfg.MaxRequestBodyBytes,
		Batch:               string(cfg.Batch),
		ErrorCode:           cfg.ErrorCode,
		RejectStatus:        cfg.RejectStatus,
		DryRun:              cfg.DryRun,
		RateLimitHeaders:    cfg.RateLimitHeaders,
	}
	for _, tool := range cfg.Tools {
		out.Tools = append(out.Tools, toolJSON{Name: tool.Name, Shared: toBucket(tool.Shared), PerUser: toBucket(tool.PerUser), Quota: toQuota(tool.Quota), PerUserQuota: toQuota(tool.PerUserQuota), Concurrency: toConcurrency(tool.Concurrency), Cost: tool.Cost})
	}
	for _, m := range cfg.Methods {
		out.Methods = append(out.Methods, methodJSON{Name: m.Name, Shared: toBucket(m.Shared), PerUser: toBucket(m.PerUser), Quota: toQuota(m.Quota), PerUserQuota: toQuota(m.PerUserQuota), Concurrency: toConcurrency(m.Concurrency)})
	}
	for _, p := range cfg.Prompts {
		out.Prompts = append(out.Prompts, toolJSON{Name: p.Name, Shared: toBucket(p.Shared), PerUser: toBucket(p.PerUser), Quota: toQuota(p.Quota), PerUserQuota: toQuota(p.PerUserQuota), Concurrency: toConcurrency(p.Concurrency), Cost: p.Cost})
	}
	for _, r := range cfg.Resources {
		out.Resources = append(out.Resources, resourceJSON{URI: r.Name, Shared: toBucket(r.Shared), PerUser: toBucket(r.PerUser), Quota: toQuota(r.Quota), PerUserQuota: toQuota(r.PerUserQuota), Concurrency: toConcurrency(r.Concurrency), Cost: r.Cost})
	}
	if r := cfg.Redis; r != nil {
		out.Redis = &redisJSON{Cluster: r.Cluster, Authority: r.Authority, Timeout: r.Timeout.String(),
			KeyPrefix: r.KeyPrefix, FailureMode: string(r.FailureMode), Username: r.Username, Password: r.Password,
			RejectLocallyFor: r.RejectLocallyFor.String()}
	}
	if cfg.UserIdentity != nil {
		out.UserIdentity = &identityJSON{From: string(cfg.UserIdentity.From), Header: cfg.UserIdentity.Header, Missing: string(cfg.UserIdentity.Missing)}
	}
	data, err := json.Marshal(out)
	if err != nil {
		panic(err) // only plain types: cannot fail
	}
	return data
}
