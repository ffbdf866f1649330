package e2e

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// BenchmarkRedisDecision measures what keeping the buckets in Redis adds
// to a tools/call, one request at a time on loopback:
//
//   - "go-redis EVALSHA": the decision alone, the script called directly
//     by a Redis client (github.com/redis/go-redis/v9), the floor;
//   - "webdis EVALSHA": the same through webdis over HTTP (Go's client,
//     keep-alive), the transport the filter uses;
//   - "host shared data": a tools/call through the e2e host running the
//     compiled filter, buckets in shared data;
//   - "host redis": the same with the buckets in Redis, through webdis.
//
// "host redis" minus "host shared data" is the latency Redis mode adds.
// Each reports its median and 99th percentile (p50-us, p99-us).
func BenchmarkRedisDecision(b *testing.B) {
	// A bucket that never runs dry: 1e9 tokens per millisecond.
	const limits = `{"shared":{"maxTokens":1000000000,"refillPeriod":"1ms"}}`
	backend := startRedisBackend(b)

	b.Run("go-redis EVALSHA", func(b *testing.B) {
		client := goredis.NewClient(&goredis.Options{Addr: backend.redis.Addr()})
		defer client.Close()
		ctx := context.Background()
		sha, err := client.ScriptLoad(ctx, redis.Script).Result()
		if err != nil || sha != redis.ScriptSHA1 {
			b.Fatalf("SCRIPT LOAD: %s, %v; want %s", sha, err, redis.ScriptSHA1)
		}
		plan, err := bucket.PlanRemote([]bucket.Demand{{Bucket: bucket.Bucket{Kind: bucket.KindShared,
			Limit: bucket.Limit{MaxTokens: 1_000_000_000, RefillPeriod: time.Millisecond}}, Tokens: 1}})
		if err != nil {
			b.Fatal(err)
		}
		keys, args := redis.ScriptArgs("mcprl", rootID, plan)
		argv := make([]any, len(args))
		for i, a := range args {
			argv[i] = a
		}
		measure(b, func() {
			reply, err := client.EvalSha(ctx, sha, keys, argv...).Int64Slice()
			if err != nil || len(reply) != 4 || reply[0] != 1 {
				b.Fatalf("EVALSHA: %v, %v", reply, err)
			}
		})
	})

	b.Run("webdis EVALSHA", func(b *testing.B) {
		plan, err := bucket.PlanRemote([]bucket.Demand{{Bucket: bucket.Bucket{Kind: bucket.KindShared,
			Limit: bucket.Limit{MaxTokens: 1_000_000_000, RefillPeriod: time.Millisecond}}, Tokens: 1}})
		if err != nil {
			b.Fatal(err)
		}
		keys, args := redis.ScriptArgs("mcprl", rootID, plan)
		parts := []string{"EVALSHA", redis.ScriptSHA1, strconv.Itoa(len(keys))}
		for _, a := range append(keys, args...) {
			parts = append(parts, url.PathEscape(a))
		}
		body := strings.Join(parts, "/")
		if _, err := backend.redis.Do("SCRIPT", "LOAD", redis.Script); err != nil {
			b.Fatal(err)
		}
		measure(b, func() {
			status, reply, err := backend.webdis.Post(body)
			if err != nil || status != http.StatusOK || !strings.HasPrefix(string(reply), `{"EVALSHA":[1,`) {
				b.Fatalf("webdis: %d %s %v", status, reply, err)
			}
		})
	})

	host := func(b *testing.B, s *stack) {
		session := s.openSession(b, nil)
		body := toolsCallBody("1", demo.ToolEcho)
		measure(b, func() {
			if r := s.post(b, body, session); r.status != http.StatusOK {
				b.Fatalf("status %d: %s", r.status, r.body)
			}
		})
	}
	b.Run("host shared data", func(b *testing.B) {
		host(b, startStack(b, stackOptions{plugin: limits}))
	})
	b.Run("host redis", func(b *testing.B) {
		s := startFleet(b, 1, withRedis(limits, `,"timeout":"1s"`), backend)[0]
		host(b, s)
		if got := s.counter("redis.fallbacks"); got != 0 {
			b.Errorf("redis.fallbacks = %d: Redis did not decide every call", got)
		}
	})
}

// measure runs op b.N times and reports the median and the 99th
// percentile of its durations.
func measure(b *testing.B, op func()) {
	b.Helper()
	var durations []time.Duration
	for b.Loop() {
		start := time.Now()
		op()
		durations = append(durations, time.Since(start))
	}
	slices.Sort(durations)
	at := func(q float64) float64 {
		return float64(durations[int(q*float64(len(durations)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.5), "p50-us")
	b.ReportMetric(at(0.99), "p99-us")
}
