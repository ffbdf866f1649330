package redis

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/buckettest"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis/redistest"
)

// testTail runs the script's take at a time given in ARGV[1] (seconds)
// and ARGV[2] (nanoseconds), the script's own arguments following: the
// production tail reads Redis's TIME instead. Everything else is the
// production script, so the arithmetic under test is the shipped one.
const testTail = `
local argv = {}
for i = 3, #ARGV do argv[#argv + 1] = ARGV[i] end
return take(KEYS, argv, tonumber(ARGV[1]), tonumber(ARGV[2]))
`

// scriptAt runs the shipped take at a given time in a real Redis.
type scriptAt struct {
	t    *testing.T
	conn *redistest.Conn
	sha  string
}

func newScriptAt(t *testing.T, r *redistest.Redis) *scriptAt {
	t.Helper()
	conn, err := redistest.Dial(r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	sha, err := conn.Do("SCRIPT", "LOAD", takeBody+testTail)
	if err != nil {
		t.Fatalf("SCRIPT LOAD: %v", err)
	}
	return &scriptAt{t: t, conn: conn, sha: sha.(string)}
}

// take runs the plan at now (Unix ns) and returns what the script
// answered: admitted, and the debts.
func (s *scriptAt) take(k keys, plan []bucket.RemoteBucket, now int64) (bool, []bucket.Span) {
	s.t.Helper()
	args := []string{"EVALSHA", s.sha, strconv.Itoa(len(plan))}
	for _, r := range plan {
		args = append(args, k.of(r.Bucket))
	}
	args = append(args, strconv.FormatInt(now/1e9, 10), strconv.FormatInt(now%1e9, 10), strconv.Itoa(ExpiryMarginMillis))
	for _, r := range plan {
		for _, n := range planArgs(r) {
			args = append(args, strconv.FormatInt(n, 10))
		}
	}
	reply, err := s.conn.Do(args...)
	if err != nil {
		s.t.Fatalf("EVALSHA: %v", err)
	}
	values := reply.([]any)
	if len(values) != 1+3*len(plan) {
		s.t.Fatalf("reply %v for %d buckets", values, len(plan))
	}
	debts := make([]bucket.Span, len(plan))
	for i := range plan {
		debts[i] = bucket.Span{
			Whole: values[1+3*i].(int64)*1e9 + values[2+3*i].(int64),
			Frac:  values[3+3*i].(int64),
		}
	}
	return values[0].(int64) == 1, debts
}

// stored reads a bucket's value as the Go state it stands for.
func (s *scriptAt) stored(key string) (tat, frac int64, ok bool) {
	s.t.Helper()
	v, err := s.conn.Do("GET", key)
	if err != nil {
		s.t.Fatal(err)
	}
	if v == nil {
		return 0, 0, false
	}
	parts := strings.Split(v.(string), ":")
	if len(parts) != 3 {
		s.t.Fatalf("value %q", v)
	}
	sec, _ := strconv.ParseInt(parts[0], 10, 64)
	nsec, _ := strconv.ParseInt(parts[1], 10, 64)
	f, _ := strconv.ParseInt(parts[2], 10, 64)
	return sec*1e9 + nsec, f, true
}

// t0 is 2026-11-28T00:00:00Z in Unix nanoseconds: about 1.8e18, far above
// 2^53, where a double no longer holds every nanosecond.
var t0 = time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC).UnixNano()

// TestScriptSHA1 checks the written-out SHA-1 of the script.
func TestScriptSHA1(t *testing.T) {
	sum := sha1.Sum([]byte(Script))
	if got := hex.EncodeToString(sum[:]); got != ScriptSHA1 {
		t.Errorf("the script's SHA-1 is %s, but ScriptSHA1 says %s: update ScriptSHA1 in script.go", got, ScriptSHA1)
	}
}

// TestScriptMatchesGCRA runs the shipped script in a real Redis and
// bucket.Limit.Take on the same sequences of takes (a table of edge cases,
// then random limits, times and token counts), and compares every
// outcome, every wait, and every stored state, to the nanosecond and the
// fraction.
func TestScriptMatchesGCRA(t *testing.T) {
	r := redistest.StartRedis(t)
	s := newScriptAt(t, r)
	k := newKeys("test", "gcra")
	const sec = int64(time.Second)

	type seq struct {
		limit  bucket.Limit
		steps  [][2]int64 // {ns after the previous take, tokens}
		reason string
	}
	table := []seq{
		{bucket.Limit{MaxTokens: 7, RefillPeriod: time.Minute}, [][2]int64{{0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {0, 1}, {1, 1}, {8571428570, 1}, {1, 1}, {0, 1}}, "60s/7 is not whole nanoseconds: the 7th token and the refill to the nanosecond"},
		{bucket.Limit{MaxTokens: 1, RefillPeriod: time.Millisecond}, [][2]int64{{0, 1}, {0, 1}, {999999, 1}, {1, 1}, {1, 1}}, "the shortest period"},
		{bucket.Limit{MaxTokens: 1_000_000_000, RefillPeriod: 365 * 24 * time.Hour}, [][2]int64{{0, 1}, {0, 999_999_999}, {0, 1}, {1, 1}, {31536, 1}, {31536, 1}}, "the largest bucket: fractions near 1e9"},
		{bucket.Limit{MaxTokens: 3, RefillPeriod: time.Second}, [][2]int64{{0, 4}, {0, 3}, {0, 1}, {sec, 3}, {0, 2}}, "over capacity, then a whole bucket"},
		{bucket.Limit{MaxTokens: 999_999_937, RefillPeriod: 8760*time.Hour - 1}, [][2]int64{{0, 999_999_936}, {0, 2}, {1, 1}, {123456789, 5}}, "a prime capacity and an odd period"},
		{bucket.Limit{MaxTokens: 5, RefillPeriod: 3 * time.Nanosecond * 1_000_003}, [][2]int64{{0, 5}, {1, 1}, {600_000, 1}, {600_001, 1}, {0, 1}}, "nanosecond carries"},
		{bucket.Limit{MaxTokens: 3, RefillPeriod: time.Second}, [][2]int64{{0, 3}, {333333333, 1}, {1, 1}}, "rejected by a third of a nanosecond, then admitted one nanosecond later"},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		var l bucket.Limit
		switch rng.IntN(4) {
		case 0:
			l.MaxTokens = 1 + rng.Int64N(10)
		case 1:
			l.MaxTokens = 1 + rng.Int64N(1000)
		case 2:
			l.MaxTokens = 1_000_000_000 - rng.Int64N(1000)
		default:
			l.MaxTokens = 1 + rng.Int64N(1_000_000_000)
		}
		switch rng.IntN(3) {
		case 0:
			l.RefillPeriod = time.Millisecond + time.Duration(rng.Int64N(int64(time.Second)))
		case 1:
			l.RefillPeriod = time.Duration(1 + rng.Int64N(int64(time.Hour)))
		default:
			l.RefillPeriod = time.Millisecond + time.Duration(rng.Int64N(int64(365*24*time.Hour)))
		}
		var steps [][2]int64
		for range 2 + rng.IntN(12) {
			var gap int64
			switch rng.IntN(4) {
			case 0:
			case 1:
				gap = rng.Int64N(int64(l.RefillPeriod)/l.MaxTokens + 2)
			case 2:
				gap = rng.Int64N(int64(l.RefillPeriod) + 1)
			default:
				gap = rng.Int64N(1000)
			}
			tokens := 1 + rng.Int64N(min(l.MaxTokens, 3))
			switch rng.IntN(6) {
			case 0:
				tokens = 1 + rng.Int64N(l.MaxTokens)
			case 1:
				tokens = l.MaxTokens + 1
			}
			steps = append(steps, [2]int64{gap, tokens})
		}
		table = append(table, seq{l, steps, "random"})
	}

	for i, sq := range table {
		b := bucket.Bucket{Kind: bucket.KindTool, Tool: fmt.Sprint("seq", i), Limit: sq.limit}
		var state bucket.State
		now := t0 + rng.Int64N(sec)
		for j, st := range sq.steps {
			now += st[0]
			plan, err := bucket.PlanRemote([]bucket.Demand{{Bucket: b, Tokens: st[1]}})
			if err != nil {
				t.Fatal(err)
			}
			allowed, debts := s.take(k, plan, now)
			got, err := bucket.DecideRemote(plan, debts)
			if err != nil {
				t.Fatal(err)
			}
			want, err := sq.limit.Take(state, now, st[1])
			if err != nil {
				t.Fatal(err)
			}
			where := fmt.Sprintf("sequence %d (%s, %+v) step %d (+%dns, %d tokens)", i, sq.reason, sq.limit, j, st[0], st[1])
			if allowed != want.Allowed || got.Allowed != want.Allowed || got.OverCapacity != want.OverCapacity ||
				got.RetryAfter != want.Wait || got.Tightest.Remaining != want.Remaining ||
				got.Tightest.ResetAfter != want.ResetAfter {
				t.Fatalf("%s: script admitted=%t, decision %+v; Go %+v", where, allowed, got, want)
			}
			if want.Allowed {
				state = want.Next
			}
			tat, frac, ok := s.stored(k.of(b))
			if want.Allowed && (!ok || tat != state.TAT || frac != state.Frac) {
				t.Fatalf("%s: stored %d+%d/%d (present %t), Go state %d+%d", where, tat, frac, sq.limit.MaxTokens, ok, state.TAT, state.Frac)
			}
		}
	}
}

// TestScriptDecisionsMatchSharedLimiter takes random multi-bucket demands
// (shared, tool, user, user-tool; several users and tools) at random times
// through the script and through bucket.StoreLimiter over an in-memory
// store with Envoy shared data's semantics: every Decision is the same.
func TestScriptDecisionsMatchSharedLimiter(t *testing.T) {
	r := redistest.StartRedis(t)
	s := newScriptAt(t, r)
	k := newKeys("test", "shared-equal")
	shared, err := bucket.NewStoreLimiter(buckettest.NewMemoryStore(), bucket.Options{Namespace: "x", MaxTrackedUsers: 1000})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	limits := []bucket.Limit{
		{MaxTokens: 10, RefillPeriod: time.Second},
		{MaxTokens: 7, RefillPeriod: time.Minute},
		{MaxTokens: 3, RefillPeriod: 10 * time.Second},
		{MaxTokens: 2, RefillPeriod: 700 * time.Millisecond},
	}
	users := []string{"alice", "bob", "carol"}
	tools := []string{"search", "fetch"}
	now := t0
	for i := range 3000 {
		now += rng.Int64N(int64(150 * time.Millisecond))
		user, tool := users[rng.IntN(len(users))], tools[rng.IntN(len(tools))]
		n := 1 + rng.Int64N(2)
		demands := []bucket.Demand{
			{Bucket: bucket.Bucket{Kind: bucket.KindShared, Limit: limits[0]}, Tokens: n},
			{Bucket: bucket.Bucket{Kind: bucket.KindUser, User: user, Limit: limits[1]}, Tokens: n},
			{Bucket: bucket.Bucket{Kind: bucket.KindTool, Tool: tool, Limit: limits[2]}, Tokens: n},
			{Bucket: bucket.Bucket{Kind: bucket.KindUserTool, Tool: tool, User: user, Limit: limits[3]}, Tokens: n},
		}
		demands = demands[:1+rng.IntN(len(demands))]
		var want bucket.Decision
		shared.Take(time.Unix(0, now), demands, bucket.DecisionFunc(func(d bucket.Decision, err error) {
			if err != nil {
				t.Fatal(err)
			}
			want = d
		}))
		plan, err := bucket.PlanRemote(demands)
		if err != nil {
			t.Fatal(err)
		}
		allowed, debts := s.take(k, plan, now)
		got, err := bucket.DecideRemote(plan, debts)
		if err != nil {
			t.Fatal(err)
		}
		if allowed != got.Allowed || fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
			t.Fatalf("take %d %+v: script admitted=%t decision\n %+v\nshared data\n %+v", i, demands, allowed, got, want)
		}
	}
}
