package e2e

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// TestConcurrentClientsOneBucket races 64 SDK clients, spread by the host
// over several worker VMs that share one bucket through shared data, and
// checks that exactly the bucket's capacity is admitted, run after run.
// The refill period is long enough that no token is refilled during a run.
func TestConcurrentClientsOneBucket(t *testing.T) {
	const (
		clients        = 64
		callsPerClient = 3
		capacity       = 50
	)
	runs := []int{2, 4, 2, 3, 4} // worker VMs per run
	for i, workers := range runs {
		t.Run(fmt.Sprintf("run %d with %d workers", i+1, workers), func(t *testing.T) {
			s := startStack(t, stackOptions{
				plugin:  fmt.Sprintf(`{"shared":{"maxTokens":%d,"refillPeriod":"24h"}}`, capacity),
				workers: workers,
			})
			sessions := make([]*mcp.ClientSession, clients)
			for c := range sessions {
				sessions[c] = s.connect(t, clientOptions{})
			}
			var admitted, rejected atomic.Int64
			var unexpected sync.Map // client -> error other than a 429
			start := make(chan struct{})
			var wg sync.WaitGroup
			for c, cs := range sessions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for range callsPerClient {
						switch err := call(cs, demo.ToolEcho); {
						case err == nil:
							admitted.Add(1)
						case isTooManyRequests(err):
							rejected.Add(1)
						default:
							unexpected.Store(c, err)
						}
					}
				}()
			}
			close(start)
			wg.Wait()
			unexpected.Range(func(c, err any) bool {
				t.Errorf("client %v: %v", c, err)
				return true
			})
			if got := admitted.Load(); got != capacity {
				t.Errorf("admitted %d calls, want exactly the capacity %d", got, capacity)
			}
			if got := rejected.Load(); got != clients*callsPerClient-capacity {
				t.Errorf("rejected %d calls, want %d", got, clients*callsPerClient-capacity)
			}
			if got := s.demo.TotalCalls(); got != capacity {
				t.Errorf("the server ran %d calls, want %d", got, capacity)
			}
			s.expectCounters(t, map[string]uint64{
				"tools_call.admitted": capacity,
				"tools_call.rejected": clients*callsPerClient - capacity,
			})
		})
	}
}
