package filter_test

import (
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/tzdb"
)

// TestQuotasAcrossTheAutumnChange drives the filter's clock (TestDeps.Now)
// over the end of summer time in Berlin: per-user, per-tool and
// per-method quotas reset at local midnight, and the 25-hour day is
// counted as one day.
func TestQuotasAcrossTheAutumnChange(t *testing.T) {
	berlin, err := tzdb.Load("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 10, 24, 23, 30, 0, 0, berlin)}
	const cfg = `{"perUserQuota":{"maxCalls":1,"period":"day","timeZone":"Europe/Berlin"},` +
		`"tools":[{"name":"report","perUserQuota":{"maxCalls":1,"period":"week","timeZone":"Europe/Berlin"}}],` +
		`"methods":[{"name":"resources/read","quota":{"maxCalls":1,"period":"month","timeZone":"Europe/Berlin"}}],` +
		`"userIdentity":{"from":"header","header":"x-user-id"}}`
	e := startFilter(t, filter.NewVMContextWith(filter.TestDeps{Now: clock.Now}), cfg)
	alice := [][2]string{{"x-user-id", "alice"}}
	bob := [][2]string{{"x-user-id", "bob"}}
	// Saturday 24 October, 23:30.
	expectForwarded(t, e.send(request{body: toolsCall("1", "report"), headers: alice}), "alice's report")
	expectReply(t, e.send(request{body: toolsCall("2", "echo"), headers: alice}), "alice's second call of the day", 429,
		rateLimitedBody("2", -32029, 30*60))
	expectForwarded(t, e.send(request{body: toolsCall("3", "echo"), headers: bob}), "bob's call")
	expectForwarded(t, e.send(request{body: resourcesRead("4", "demo://a"), headers: bob}), "October's read")
	// Sunday 25 October, the 25-hour day: the daily quota is new, the
	// weekly one (Monday to Sunday) is not.
	clock.now = time.Date(2026, 10, 25, 0, 0, 0, 0, berlin)
	expectReply(t, e.send(request{body: toolsCall("5", "report"), headers: alice}), "alice's second report of the week", 429,
		rateLimitedBody("5", -32029, 25*3600))
	expectForwarded(t, e.send(request{body: toolsCall("6", "echo"), headers: alice}), "alice's call on Sunday")
	expectReply(t, e.send(request{body: toolsCall("7", "echo"), headers: alice}), "alice's second call on Sunday", 429,
		rateLimitedBody("7", -32029, 25*3600))
	// Monday 26 October: a new day and a new week.
	clock.now = time.Date(2026, 10, 26, 0, 0, 0, 0, berlin)
	expectForwarded(t, e.send(request{body: toolsCall("8", "report"), headers: alice}), "alice's report on Monday")
	// The monthly read quota resets on 1 November (7 days away).
	expectReply(t, e.send(request{body: resourcesRead("9", "demo://a"), headers: alice}), "second read of October", 429,
		rateLimitedBody("9", -32029, 6*24*3600))
	clock.now = time.Date(2026, 11, 1, 0, 0, 0, 0, berlin)
	expectForwarded(t, e.send(request{body: resourcesRead("10", "demo://a"), headers: alice}), "November's read")
}

// TestQuotaCountSurvivesReconfiguration: a quota's count is kept under a
// key named after its own parameters, so reconfiguring other fields keeps
// it and changing the quota starts afresh.
func TestQuotaCountSurvivesReconfiguration(t *testing.T) {
	store := newMemoryStore()
	vm := filter.NewVMContextWith(filter.TestDeps{Store: store})
	const quota = `"quota":{"maxCalls":1,"period":"month","timeZone":"Asia/Tokyo"}`
	expectForwarded(t, startFilter(t, vm, `{`+quota+`}`).send(request{body: toolsCall("1", "echo")}), "first call")
	for cfg, status := range map[string]uint32{
		`{` + quota + `,"shared":{"maxTokens":5,"refillPeriod":"1m"},"rejectStatus":200}`: 200,
		`{` + quota + `,"tools":[{"name":"search","cost":2}],"concurrency":{"shared":3}}`: 429,
	} {
		e := startFilter(t, vm, cfg)
		expectReply(t, e.send(request{body: toolsCall("2", "echo")}), "after reconfiguring "+cfg, status, "Rate limit exceeded")
	}
	for _, cfg := range []string{
		`{"quota":{"maxCalls":2,"period":"month","timeZone":"Asia/Tokyo"}}`,
		`{"quota":{"maxCalls":1,"period":"week","timeZone":"Asia/Tokyo"}}`,
		`{"quota":{"maxCalls":1,"period":"month","timeZone":"Asia/Seoul"}}`,
	} {
		expectForwarded(t, startFilter(t, vm, cfg).send(request{body: toolsCall("3", "echo")}), "a changed quota starts afresh: "+cfg)
	}
}
