package filter_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
)

// Tests that need to reach inside the filter (a fake limiter, a fake clock,
// a store shared between plugins) run natively only.

// fakeLimiter answers every Take with a fixed decision, at once or when the
// test calls the saved callback.
type fakeLimiter struct {
	decision bucket.Decision
	err      error
	async    bool

	takes   []fakeTake
	pending []bucket.Decider
}

type fakeTake struct {
	now     time.Time
	demands []bucket.Demand
}

func (f *fakeLimiter) Take(now time.Time, demands []bucket.Demand, done bucket.Decider) {
	f.takes = append(f.takes, fakeTake{now: now, demands: append([]bucket.Demand(nil), demands...)})
	if f.async {
		f.pending = append(f.pending, done)
		return
	}
	done.Decided(f.decision, f.err)
}

// leaseKeepingLimiter is a fakeLimiter that records the leases released.
type leaseKeepingLimiter struct {
	fakeLimiter
	released []bucket.Lease
}

func (k *leaseKeepingLimiter) Release(lease bucket.Lease)    { k.released = append(k.released, lease) }
func (k *leaseKeepingLimiter) Renew(time.Time, bucket.Lease) {}

// fakeLease is a lease holding a place.
type fakeLease struct{}

func (fakeLease) Empty() bool { return false }

// startWithLimiter starts the native filter with limiter as every plugin's
// limiter.
func startWithLimiter(t *testing.T, configuration string, limiter bucket.Limiter, properties ...property) *env {
	t.Helper()
	vm := filter.NewVMContextWith(filter.TestDeps{
		NewLimiter: func(bucket.Store, string, *config.Config) (bucket.Limiter, error) { return limiter, nil },
	})
	return startFilter(t, vm, configuration, properties...)
}

// TestRejectionHeadersFollowEachRejection checks the headers of
// rejections whose Retry-After changes and whose body comes and goes: the
// filter reuses the serialised headers of the last rejection only while
// both stay the same.
func TestRejectionHeadersFollowEachRejection(t *testing.T) {
	limiter := &fakeLimiter{decision: bucket.Decision{RetryAfter: 2500 * time.Millisecond, Rejected: bucket.KindsOf(bucket.KindShared)}}
	e := startWithLimiter(t, `{"shared":{"maxTokens":5,"refillPeriod":"1m"},"batch":"limit"}`, limiter)
	notifications := `[` + toolsCall("", "echo") + `]`
	tests := []struct {
		body        string
		retryAfter  time.Duration
		wantWait    string
		wantContent bool
	}{
		{toolsCall("1", "echo"), 2500 * time.Millisecond, "3", true},
		{toolsCall("2", "echo"), 2500 * time.Millisecond, "3", true},
		{toolsCall("3", "echo"), 10 * time.Second, "10", true},
		{notifications, 10 * time.Second, "10", false},
		{toolsCall("4", "echo"), 10 * time.Second, "10", true},
		{notifications, 2500 * time.Millisecond, "3", false},
	}
	for i, tt := range tests {
		limiter.decision.RetryAfter = tt.retryAfter
		o := e.send(request{body: tt.body})
		expectReply(t, o, fmt.Sprintf("rejection %d", i), 429)
		if got, _ := header(o.reply.Headers, "retry-after"); got != tt.wantWait {
			t.Errorf("rejection %d: retry-after = %q, want %q", i, got, tt.wantWait)
		}
		got, ok := header(o.reply.Headers, "content-type")
		if ok != tt.wantContent || ok && got != "application/json" {
			t.Errorf("rejection %d: content-type %q (present %t), want present %t", i, got, ok, tt.wantContent)
		}
		if len(o.reply.Headers) != 1+btoi(tt.wantContent) {
			t.Errorf("rejection %d: headers %v", i, o.reply.Headers)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestAsyncLimiter(t *testing.T) {
	const config = `{"shared":{"maxTokens":5,"refillPeriod":"1m"},"rateLimitHeaders":true}`
	tightest := bucket.Status{
		Bucket:     bucket.Bucket{Kind: bucket.KindShared, Limit: bucket.Limit{MaxTokens: 5, RefillPeriod: time.Minute}},
		Remaining:  4,
		ResetAfter: 12 * time.Second,
	}
	t.Run("admitted later", func(t *testing.T) {
		limiter := &fakeLimiter{async: true}
		e := startWithLimiter(t, config, limiter)
		o := e.send(request{body: toolsCall("1", "echo"), splits: []int{9}})
		if o.reply != nil || o.lastAction() != types.ActionPause {
			t.Fatalf("while the limiter works: actions %v, reply %s; want held", o.actions, describeReply(o.reply))
		}
		if len(limiter.pending) != 1 {
			t.Fatalf("Take calls = %d, want 1", len(limiter.pending))
		}
		limiter.pending[0].Decided(bucket.Decision{Allowed: true, Tightest: tightest}, nil)
		if got := e.host.GetCurrentHttpStreamAction(o.contextID); got != types.ActionContinue {
			t.Fatalf("stream action after admission = %v, want Continue (resumed)", got)
		}
		if e.host.GetSentLocalResponse(o.contextID) != nil {
			t.Fatalf("admitted request got a local reply")
		}
		headers := e.respond(o)
		if got, _ := header(headers, "ratelimit"); got != `"shared";r=4;t=12` {
			t.Errorf("RateLimit = %q", got)
		}
		if got := e.counter(metricName("tools_call.admitted")); got != 1 {
			t.Errorf("admitted = %d, want 1", got)
		}
	})
	t.Run("rejected later", func(t *testing.T) {
		limiter := &fakeLimiter{async: true}
		e := startWithLimiter(t, config, limiter)
		o := e.send(request{body: toolsCall(`"a"`, "echo")})
		limiter.pending[0].Decided(bucket.Decision{RetryAfter: 2500 * time.Millisecond, Rejected: bucket.KindsOf(bucket.KindShared),
			Tightest: tightest}, nil)
		reply := e.host.GetSentLocalResponse(o.contextID)
		if reply == nil || reply.StatusCode != 429 {
			t.Fatalf("reply = %s, want 429", describeReply(reply))
		}
		if want := rateLimitedBody(`"a"`, -32029, 3); string(reply.Data) != want {
			t.Errorf("body = %s, want %s", reply.Data, want)
		}
		if got, _ := header(reply.Headers, "retry-after"); got != "3" {
			t.Errorf("retry-after = %q, want 3", got)
		}
		// A second answer is ignored.
		limiter.pending[0].Decided(bucket.Decision{Allowed: true}, nil)
		if got := e.counter(metricName("tools_call.admitted")); got != 0 {
			t.Errorf("a second answer admitted the call")
		}
	})
	t.Run("stream ends before the answer", func(t *testing.T) {
		limiter := &fakeLimiter{async: true}
		e := startWithLimiter(t, config, limiter)
		o := e.send(request{body: toolsCall("1", "echo")})
		e.host.CompleteHttpContext(o.contextID)
		limiter.pending[0].Decided(bucket.Decision{RetryAfter: time.Second}, nil)
		if e.host.GetSentLocalResponse(o.contextID) != nil {
			t.Errorf("a reply was sent on a finished stream")
		}
	})
	t.Run("stream ends before an admission with a lease", func(t *testing.T) {
		// The place the admission took in a concurrency cap is given
		// back at once, not when the lease expires.
		keeper := &leaseKeepingLimiter{fakeLimiter: fakeLimiter{async: true}}
		e := startWithLimiter(t, config, keeper)
		o := e.send(request{body: toolsCall("1", "echo")})
		e.host.CompleteHttpContext(o.contextID)
		lease := fakeLease{}
		keeper.pending[0].Decided(bucket.Decision{Allowed: true, Lease: lease}, nil)
		if len(keeper.released) != 1 || keeper.released[0] != lease {
			t.Errorf("released %v, want the decision's lease once", keeper.released)
		}
		if got := e.counter(metricName("tools_call.admitted")); got != 0 {
			t.Errorf("admitted = %d on a finished stream, want 0", got)
		}
	})
	t.Run("a stream still being decided keeps its context", func(t *testing.T) {
		// A finished stream's context is reused by the next stream,
		// unless a decision may still reach it: the late answer to the
		// first stream must not resume or answer the second.
		limiter := &fakeLimiter{async: true}
		e := startWithLimiter(t, config, limiter)
		first := e.send(request{body: toolsCall("1", "echo")})
		e.host.CompleteHttpContext(first.contextID)
		second := e.send(request{body: toolsCall("2", "echo")})
		if len(limiter.pending) != 2 {
			t.Fatalf("Take calls = %d, want 2", len(limiter.pending))
		}
		limiter.pending[0].Decided(bucket.Decision{RetryAfter: time.Second, Rejected: bucket.KindsOf(bucket.KindShared)}, nil)
		if got := e.host.GetCurrentHttpStreamAction(second.contextID); got != types.ActionPause {
			t.Fatalf("second stream's action after the first's late answer = %v, want still held", got)
		}
		if reply := e.host.GetSentLocalResponse(second.contextID); reply != nil {
			t.Fatalf("the first stream's late answer replied on the second: %s", describeReply(reply))
		}
		limiter.pending[1].Decided(bucket.Decision{Allowed: true, Tightest: tightest}, nil)
		if got := e.host.GetCurrentHttpStreamAction(second.contextID); got != types.ActionContinue {
			t.Fatalf("second stream's action after its own answer = %v, want Continue", got)
		}
	})
	t.Run("empty body decided at the headers, later", func(t *testing.T) {
		limiter := &fakeLimiter{async: true}
		e := startWithLimiter(t, config, limiter)
		o := e.send(request{})
		expectReply(t, o, "empty body", 400, `"code":-32700`)
		if len(limiter.takes) != 0 {
			t.Errorf("the limiter was asked about an invalid body")
		}
	})
}

func TestLimiterOutcomes(t *testing.T) {
	const config = `{"shared":{"maxTokens":5,"refillPeriod":"1m"}}`
	cases := []struct {
		name       string
		limiter    fakeLimiter
		wantStatus uint32 // 0: forwarded
		counters   map[string]uint64
		warnings   int
	}{
		{
			name:     "store error fails open",
			limiter:  fakeLimiter{err: errors.New("shared data: internal failure")},
			counters: map[string]uint64{"store.errors": 1, "tools_call.admitted": 1},
			warnings: 1,
		},
		{
			name:     "user table overflow is counted",
			limiter:  fakeLimiter{decision: bucket.Decision{Allowed: true, Overflowed: true}},
			counters: map[string]uint64{"users.table_overflow": 1, "tools_call.admitted": 1},
		},
		{
			name:       "contended store rejects",
			limiter:    fakeLimiter{decision: bucket.Decision{Contended: true, RetryAfter: time.Second}},
			wantStatus: 429,
			counters:   map[string]uint64{"tools_call.rejected_contended": 1, "tools_call.rejected": 1, "tools_call.rejected_shared": 0},
		},
		{
			name: "rejections are counted by kind",
			limiter: fakeLimiter{decision: bucket.Decision{RetryAfter: time.Second,
				Rejected: bucket.KindsOf(bucket.KindUser, bucket.KindUserTool)}},
			wantStatus: 429,
			counters: map[string]uint64{"tools_call.rejected_user": 1, "tools_call.rejected_user_tool": 1,
				"tools_call.rejected_shared": 0, "tools_call.rejected": 1},
		},
		{
			name:       "a zero wait still says 1 second",
			limiter:    fakeLimiter{decision: bucket.Decision{OverCapacity: true}},
			wantStatus: 429,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limiter := c.limiter
			e := startWithLimiter(t, config, &limiter)
			o := e.send(request{body: toolsCall("1", "echo")})
			if c.wantStatus == 0 {
				expectForwarded(t, o, c.name)
			} else {
				expectReply(t, o, c.name, c.wantStatus)
				if got, _ := header(o.reply.Headers, "retry-after"); got != "1" {
					t.Errorf("retry-after = %q, want 1", got)
				}
			}
			for name, want := range c.counters {
				if got := e.counter(metricName(name)); got != want {
					t.Errorf("%s = %d, want %d", name, got, want)
				}
			}
			if got := len(e.host.GetWarnLogs()); got != c.warnings {
				t.Errorf("warnings = %q, want %d", e.host.GetWarnLogs(), c.warnings)
			}
		})
	}
}

func TestDemands(t *testing.T) {
	const config = `{"shared":{"maxTokens":100,"refillPeriod":"1m"},"perUser":{"maxTokens":10,"refillPeriod":"1m"},` +
		`"tools":[{"name":"search","shared":{"maxTokens":20,"refillPeriod":"2m"},"perUser":{"maxTokens":2,"refillPeriod":"3m"}},` +
		`{"name":"fetch","perUser":{"maxTokens":4,"refillPeriod":"1m"},"cost":2}],` +
		`"userIdentity":{"from":"header","header":"x-user-id"},"batch":"limit"}`
	shared := bucket.Bucket{Kind: bucket.KindShared, Limit: bucket.Limit{MaxTokens: 100, RefillPeriod: time.Minute}}
	user := bucket.Bucket{Kind: bucket.KindUser, User: "alice", Limit: bucket.Limit{MaxTokens: 10, RefillPeriod: time.Minute}}
	searchTool := bucket.Bucket{Kind: bucket.KindTool, Tool: "search", Limit: bucket.Limit{MaxTokens: 20, RefillPeriod: 2 * time.Minute}}
	searchUser := bucket.Bucket{Kind: bucket.KindUserTool, Tool: "search", User: "alice",
		Limit: bucket.Limit{MaxTokens: 2, RefillPeriod: 3 * time.Minute}}
	fetchUser := bucket.Bucket{Kind: bucket.KindUserTool, Tool: "fetch", User: "alice",
		Limit: bucket.Limit{MaxTokens: 4, RefillPeriod: time.Minute}}
	alice := [][2]string{{"x-user-id", "alice"}}
	cases := []struct {
		name    string
		headers [][2]string
		body    string
		want    []bucket.Demand
	}{
		{name: "all four buckets", headers: alice, body: toolsCall("1", "search"),
			want: []bucket.Demand{{Bucket: shared, Tokens: 1}, {Bucket: user, Tokens: 1}, {Bucket: searchTool, Tokens: 1}, {Bucket: searchUser, Tokens: 1}}},
		{name: "no identity", body: toolsCall("1", "search"),
			want: []bucket.Demand{{Bucket: shared, Tokens: 1}, {Bucket: searchTool, Tokens: 1}}},
		{name: "tool with a per-user bucket only and a cost", headers: alice, body: toolsCall("1", "fetch"),
			want: []bucket.Demand{{Bucket: shared, Tokens: 2}, {Bucket: user, Tokens: 2}, {Bucket: fetchUser, Tokens: 2}}},
		{name: "unlisted tool", headers: alice, body: toolsCall("1", "other"),
			want: []bucket.Demand{{Bucket: shared, Tokens: 1}, {Bucket: user, Tokens: 1}}},
		{name: "batch sums per bucket", headers: alice,
			body: "[" + toolsCall("1", "search") + "," + toolsCall("2", "fetch") + "," + toolsCall("3", "search") + "]",
			want: []bucket.Demand{{Bucket: shared, Tokens: 4}, {Bucket: user, Tokens: 4}, {Bucket: searchTool, Tokens: 2},
				{Bucket: searchUser, Tokens: 2}, {Bucket: fetchUser, Tokens: 2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			limiter := &fakeLimiter{decision: bucket.Decision{Allowed: true}}
			e := startWithLimiter(t, config, limiter)
			expectForwarded(t, e.send(request{body: c.body, headers: c.headers}), c.name)
			if len(limiter.takes) != 1 {
				t.Fatalf("Take calls = %d, want 1", len(limiter.takes))
			}
			if got := limiter.takes[0].demands; !reflect.DeepEqual(got, c.want) {
				t.Errorf("demands\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestLimiterFactoryGetsTheNamespace(t *testing.T) {
	var gotNamespace string
	var gotConfig *config.Config
	vm := filter.NewVMContextWith(filter.TestDeps{
		NewLimiter: func(_ bucket.Store, namespace string, cfg *config.Config) (bucket.Limiter, error) {
			gotNamespace, gotConfig = namespace, cfg
			return &fakeLimiter{}, nil
		},
	})
	startFilter(t, vm, `{"shared":{"maxTokens":3,"refillPeriod":"1m"},"maxTrackedUsers":7}`,
		property{path: []string{"plugin_root_id"}, value: "team.limits"})
	if gotNamespace != "team.limits" {
		t.Errorf("namespace = %q, want the root id", gotNamespace)
	}
	if gotConfig == nil || gotConfig.MaxTrackedUsers != 7 {
		t.Errorf("config = %+v", gotConfig)
	}

	failing := filter.NewVMContextWith(filter.TestDeps{
		NewLimiter: func(bucket.Store, string, *config.Config) (bucket.Limiter, error) {
			return nil, errors.New("no room")
		},
	})
	e, started := tryStartFilter(t, failing, `{"shared":{"maxTokens":3,"refillPeriod":"1m"}}`)
	if started {
		t.Fatal("plugin started although its limiter could not be built")
	}
	if logs := e.host.GetCriticalLogs(); len(logs) != 1 || !strings.Contains(logs[0], "no room") {
		t.Errorf("critical logs = %q, want one line with the cause", logs)
	}
}

// fakeClock is a settable clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestRetryAfterIsTheRealWait(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e := startFilter(t, filter.NewVMContextWith(filter.TestDeps{Now: clock.Now}),
		`{"shared":{"maxTokens":2,"refillPeriod":"20s"}}`)
	expectForwarded(t, e.send(request{body: toolsCall("1", "echo")}), "first")
	expectForwarded(t, e.send(request{body: toolsCall("2", "echo")}), "second")
	clock.now = clock.now.Add(3 * time.Second)
	o := e.send(request{body: toolsCall("3", "echo")})
	expectReply(t, o, "third", 429, rateLimitedBody("3", -32029, 7))
	clock.now = clock.now.Add(6900 * time.Millisecond)
	expectReply(t, e.send(request{body: toolsCall("4", "echo")}), "before the wait is over", 429,
		`"retryAfterSeconds":1}`)
	clock.now = clock.now.Add(100 * time.Millisecond)
	expectForwarded(t, e.send(request{body: toolsCall("5", "echo")}), "after the advertised wait")
}

// memoryStore is a bucket.Store in memory with the CAS rules of Envoy
// shared data, shared by several plugins in a test.
type memoryStore struct {
	mu     sync.Mutex
	values map[string][]byte
	cas    map[string]uint32
	next   uint32
}

func newMemoryStore() *memoryStore {
	return &memoryStore{values: map[string][]byte{}, cas: map[string]uint32{}}
}

func (s *memoryStore) Get(key string) ([]byte, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	value, ok := s.values[key]
	if !ok {
		return nil, 0, bucket.ErrNotFound
	}
	return append([]byte(nil), value...), s.cas[key], nil
}

func (s *memoryStore) Set(key string, value []byte, cas uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.values[key]; ok && cas != 0 && cas != s.cas[key] {
		return bucket.ErrCASMismatch
	}
	s.next++
	s.values[key], s.cas[key] = append([]byte(nil), value...), s.next
	return nil
}

func TestStateIsNamespacedAndSurvivesReconfiguration(t *testing.T) {
	store := newMemoryStore()
	vm := filter.NewVMContextWith(filter.TestDeps{Store: store})
	const before = `{"shared":{"maxTokens":1,"refillPeriod":"1h"}}`
	const after = `{"shared":{"maxTokens":1,"refillPeriod":"1h"},"tools":[{"name":"search","shared":{"maxTokens":5,"refillPeriod":"1h"}}]}`
	const changed = `{"shared":{"maxTokens":2,"refillPeriod":"1h"}}`
	root := func(id string) property { return property{path: []string{"plugin_root_id"}, value: id} }

	a := startFilter(t, vm, before, root("plugin-a"))
	expectForwarded(t, a.send(request{body: toolsCall("1", "echo")}), "plugin a, first call")
	expectReply(t, a.send(request{body: toolsCall("2", "echo")}), "plugin a, second call", 429)

	b := startFilter(t, vm, before, root("plugin-b"))
	expectForwarded(t, b.send(request{body: toolsCall("1", "echo")}), "plugin b has its own buckets")

	reconfigured := startFilter(t, vm, after, root("plugin-a"))
	expectReply(t, reconfigured.send(request{body: toolsCall("3", "echo")}), "unchanged bucket after reconfiguration", 429)

	resized := startFilter(t, vm, changed, root("plugin-a"))
	expectForwarded(t, resized.send(request{body: toolsCall("4", "echo")}), "a bucket with new parameters starts full")
}

func TestSharedDataStore(t *testing.T) {
	startFilter(t, filter.NewVMContext(), oneShared) // registers the emulated host
	store := filter.HostKVStore
	if _, _, err := store.Get("missing"); !errors.Is(err, bucket.ErrNotFound) {
		t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
	}
	if err := store.Set("k", []byte("v1"), 0); err != nil {
		t.Fatalf("Set: %v", err)
	}
	value, cas, err := store.Get("k")
	if err != nil || string(value) != "v1" {
		t.Fatalf("Get = %q, %v", value, err)
	}
	value[0] = 'X'
	if again, _, _ := store.Get("k"); string(again) != "v1" {
		t.Fatalf("writing into a returned value changed the store: %q", again)
	}
	if err := store.Set("k", []byte("v2"), cas+7); !errors.Is(err, bucket.ErrCASMismatch) {
		t.Fatalf("Set with a stale cas error = %v, want ErrCASMismatch", err)
	}
	if err := store.Set("k", []byte("v2"), cas); err != nil {
		t.Fatalf("Set with the current cas: %v", err)
	}
	if value, _, _ := store.Get("k"); string(value) != "v2" {
		t.Fatalf("Get after Set = %q, want v2", value)
	}
	// cas 0 writes whatever the key holds (the emulator needs help there).
	if err := store.Set("k", []byte("v3"), 0); err != nil {
		t.Fatalf("Set with cas 0 over an existing key: %v", err)
	}
	if value, _, _ := store.Get("k"); string(value) != "v3" {
		t.Fatalf("Get after an unconditional Set = %q, want v3", value)
	}
}

// TestFinishedStreamLeavesNothingBehind: the memory of a finished
// stream's inspection is reused by the next, cleared. A request after one
// that ended early (its RateLimit fields never sent) or with Mcp-* headers
// and an identity is judged on its own.
func TestFinishedStreamLeavesNothingBehind(t *testing.T) {
	const config = `{"perUser":{"maxTokens":1,"refillPeriod":"1h"},"userIdentity":{"from":"header","header":"x-user-id"},` +
		`"rateLimitHeaders":true}`
	e := startFilter(t, filter.NewVMContext(), config)
	first := e.send(request{headers: [][2]string{{"mcp-method", "tools/call"}, {"mcp-name", "search"}, {"x-user-id", "alice"}},
		body: toolsCall("1", "search")})
	expectForwarded(t, first, "alice's call")
	e.host.CompleteHttpContext(first.contextID) // before the response
	// Without an identity no bucket applies: the call is admitted
	// without RateLimit fields.
	anonymous := e.send(request{body: toolsCall("2", "search")})
	expectForwarded(t, anonymous, "a call without identity")
	if got, ok := header(e.respond(anonymous), "ratelimit"); ok {
		t.Errorf("the response to a call without identity has RateLimit %q, left by the stream before", got)
	}
	// Were the first stream's Mcp-Name or identity kept, this call would
	// be refused as a header mismatch, or limited as alice's (her bucket
	// is empty).
	second := e.send(request{headers: [][2]string{{"x-user-id", "bob"}}, body: toolsCall("3", "fetch")})
	expectForwarded(t, second, "bob's call")
	if got, _ := header(e.respond(second), "ratelimit"); !strings.Contains(got, "r=0") {
		t.Errorf("bob's RateLimit = %q, want his own bucket (r=0)", got)
	}
	third := e.send(request{headers: [][2]string{{"x-user-id", "alice"}}, body: toolsCall("4", "fetch")})
	expectReply(t, third, "alice's second call", 429)
}
