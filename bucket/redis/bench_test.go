package redis

import (
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// replyTransport answers every Post at once with the same webdis reply.
type replyTransport struct{ reply []byte }

func (r replyTransport) Post(_ []byte, _ time.Duration, done func(int, []byte, error)) error {
	done(200, r.reply, nil)
	return nil
}

// BenchmarkTake is one take through the Redis limiter with a transport
// that answers at once: the filter's own work per decision (encoding the
// command, reading the reply, the arithmetic), without the round trip.
func BenchmarkTake(b *testing.B) {
	for _, bc := range []struct {
		name    string
		demands []bucket.Demand
		reply   string
	}{
		{"one bucket", []bucket.Demand{demand(bucket.KindShared, 1, 1_000_000_000, time.Millisecond)}, `{"EVALSHA":[1,0,0,0]}`},
		{"four buckets", []bucket.Demand{
			demand(bucket.KindShared, 1, 100, time.Minute), demand(bucket.KindTool, 1, 10, time.Minute),
			demand(bucket.KindUser, 1, 20, time.Minute), demand(bucket.KindUserTool, 1, 2, time.Minute),
		}, `{"EVALSHA":[1,0,0,0,0,0,0,0,0,0,0,0,0]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := NewLimiter(Options{Transport: replyTransport{[]byte(bc.reply)}, Namespace: "ns", KeyPrefix: "mcprl",
				Timeout: time.Second, FailureMode: FailClosed, Clock: time.Now})
			if err != nil {
				b.Fatal(err)
			}
			l.loaded = true
			b.ReportAllocs()
			for b.Loop() {
				l.Take(time.Now(), bc.demands, bucket.DecisionFunc(func(d bucket.Decision, err error) {
					if err != nil || !d.Allowed {
						b.Fatalf("decision %+v, %v", d, err)
					}
				}))
			}
		})
	}
}
