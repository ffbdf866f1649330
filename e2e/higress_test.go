package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis/redistest"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// The Higress tests run build/mcp-ratelimit-higress.wasm (`make
// build-higress`) in the e2e host's "higress" profile, which provides
// Higress's proxy_redis_init / proxy_redis_call and delivers replies with
// proxy_on_redis_call_response, against a real redis-server: no webdis.

const (
	higressWasmRelPath   = "../build/mcp-ratelimit-higress.wasm"
	higressBootstrapPath = "testdata/bootstrap-higress.yaml"
	higressRedisCluster  = "redis"
	redisPassword        = "redis-secret"
)

func higressWasm(t testing.TB) string {
	t.Helper()
	path, err := filepath.Abs(higressWasmRelPath)
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		t.Fatalf("the Higress filter %s is missing (%v): run `make build-higress` first", higressWasmRelPath, err)
	}
	return path
}

// startHigress starts a host in the Higress profile with the Higress build
// of the filter, in front of upstream, calling the Redis at redisAddr.
func startHigress(t testing.TB, plugin, upstream, redisAddr string) *stack {
	t.Helper()
	logs := &lockedBuffer{}
	h, err := host.New(host.Options{
		ConfigPath:       higressBootstrapPath,
		ListenAddress:    "127.0.0.1:0",
		AdminAddress:     "127.0.0.1:0",
		ClusterAddresses: map[string]string{clusterName: upstream, higressRedisCluster: redisAddr},
		WasmPath:         higressWasm(t),
		PluginConfig:     []byte(plugin),
		EnvoyVersion:     proxywasm.HigressVersion,
		Log:              logs,
	})
	if err != nil {
		t.Fatalf("host.New: %v", err)
	}
	if err := h.Start(); err != nil {
		_ = h.Close()
		t.Fatalf("host.Start: %v\nhost log:\n%s", err, logs)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 128, ResponseHeaderTimeout: testTimeout}
	s := &stack{host: h, endpoint: h.URL() + demo.DefaultPath, adminURL: "http://" + h.AdminAddr(),
		transport: transport, client: &http.Client{Transport: transport, Timeout: testTimeout}, logs: logs}
	t.Cleanup(func() {
		if traps := h.Traps(); traps != 0 {
			t.Errorf("the module trapped %d times", traps)
		}
		transport.CloseIdleConnections()
		if err := h.Close(); err != nil {
			t.Errorf("host.Close: %v", err)
		}
		if t.Failed() {
			t.Logf("host log:\n%s", logs)
		}
	})
	return s
}

// TestHigressStockEnvoyRefusesTheModule: the Higress build imports calls
// stock Envoy lacks, so a stock profile refuses to load it, naming them.
func TestHigressStockEnvoyRefusesTheModule(t *testing.T) {
	_, err := host.New(host.Options{
		ConfigPath: higressBootstrapPath, ListenAddress: "127.0.0.1:0", AdminAddress: "127.0.0.1:0",
		WasmPath: higressWasm(t), PluginConfig: []byte(`{"shared":{"maxTokens":1,"refillPeriod":"1m"}}`),
		Log: &lockedBuffer{},
	})
	if err == nil || !strings.Contains(err.Error(), "env.proxy_redis_call") || !strings.Contains(err.Error(), "env.proxy_redis_init") {
		t.Fatalf("host.New = %v; want a missing-import error naming proxy_redis_call and proxy_redis_init", err)
	}
}

// TestHigressTwoHostsOneRedis: two hosts running the Higress build share
// one password-protected Redis through native RESP calls: across both,
// exactly the capacity is admitted; with Redis gone the local buckets
// decide, and Redis decides again once it is back.
func TestHigressTwoHostsOneRedis(t *testing.T) {
	const capacity, requests = 20, 48
	r := redistest.StartRedis(t, "--requirepass", redisPassword)
	d := demo.New(demo.Options{})
	upstream := httptest.NewServer(d.Handler())
	t.Cleanup(func() { _ = d.Close(); upstream.Close() })
	plugin := fmt.Sprintf(`{"shared":{"maxTokens":%d,"refillPeriod":"8760h"},`+
		`"redis":{"cluster":%q,"timeout":"1s","username":"default","password":%q}}`, capacity, higressRedisCluster, redisPassword)
	fleet := []*stack{
		startHigress(t, plugin, upstream.Listener.Addr().String(), r.Addr()),
		startHigress(t, plugin, upstream.Listener.Addr().String(), r.Addr()),
	}
	sessions := []map[string]string{fleet[0].openSession(t, nil), fleet[1].openSession(t, nil)}
	var admitted, rejected atomic.Int64
	var wg sync.WaitGroup
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := fleet[i%2]
			switch resp := s.post(t, toolsCallBody(fmt.Sprint(i), demo.ToolEcho), sessions[i%2]); resp.status {
			case http.StatusOK:
				admitted.Add(1)
			case http.StatusTooManyRequests:
				rejected.Add(1)
			default:
				t.Errorf("status %d: %s", resp.status, resp.body)
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != capacity || rejected.Load() != requests-capacity {
		t.Fatalf("admitted %d, rejected %d; want exactly %d and %d", admitted.Load(), rejected.Load(), capacity, requests-capacity)
	}
	decided, local := fleetCounter(fleet, "redis.decisions"), fleetCounter(fleet, "redis.local_rejections")
	if decided+local != requests || decided < capacity {
		t.Errorf("redis.decisions = %d, redis.local_rejections = %d; want %d in all, Redis deciding the admissions", decided, local, requests)
	}

	// Redis gone: this host's own bucket (full, 20) decides, once the
	// host no longer repeats Redis's last rejection of the same call
	// (rejectLocallyFor, 1s).
	time.Sleep(time.Second)
	r.Stop()
	s := fleet[0]
	if resp := s.post(t, toolsCallBody("100", demo.ToolEcho), sessions[0]); resp.status != http.StatusOK {
		t.Errorf("Redis down, failureMode local: status %d, want 200 from the local bucket", resp.status)
	}
	if s.counter("redis.fallbacks") != 1 || s.counter("redis.errors.unreachable")+s.counter("redis.errors.timeout") != 1 {
		t.Errorf("fallbacks %d, errors %v; want one fallback after one failed call", s.counter("redis.fallbacks"), redisErrors(s))
	}
	r.Start()
	before := s.counter("redis.decisions")
	eventually(t, testTimeout, "Redis deciding again", func() bool {
		resp := s.post(t, toolsCallBody("200", demo.ToolEcho), sessions[0])
		// A new, empty Redis: its bucket is full again.
		return s.counter("redis.decisions") > before && resp.status == http.StatusOK
	})
}

// TestHigressQuotaAndCap: the Higress build keeps a quota and a
// concurrency cap in Redis through the same script: two hosts admit
// exactly the quota in all, hold one streaming call between them under a
// cap of 1, and the place comes back when the stream ends.
func TestHigressQuotaAndCap(t *testing.T) {
	const quota = 6
	zone, _ := quotaZone(t, "month")
	r := redistest.StartRedis(t, "--requirepass", redisPassword)
	d := demo.New(demo.Options{})
	upstream := httptest.NewServer(d.Handler())
	t.Cleanup(func() { _ = d.Close(); upstream.Close() })
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	addHoldTool(d.MCPServer(), release)
	plugin := fmt.Sprintf(`{"tools":[{"name":%q,"quota":{"maxCalls":%d,"period":"month","timeZone":%q}},{"name":"hold","concurrency":{"shared":1}}],`+
		`"redis":{"cluster":%q,"timeout":"1s","username":"default","password":%q}}`, demo.ToolEcho, quota, zone, higressRedisCluster, redisPassword)
	fleet := []*stack{
		startHigress(t, plugin, upstream.Listener.Addr().String(), r.Addr()),
		startHigress(t, plugin, upstream.Listener.Addr().String(), r.Addr()),
	}
	sessions := []map[string]string{fleet[0].openSession(t, nil), fleet[1].openSession(t, nil)}
	statuses := map[int]int{}
	for i := range 2 * quota {
		statuses[fleet[i%2].post(t, toolsCallBody(fmt.Sprint(i+1), demo.ToolEcho), sessions[i%2]).status]++
	}
	if statuses[http.StatusOK] != quota || statuses[http.StatusTooManyRequests] != quota {
		t.Fatalf("statuses %v; want %d admitted and %d rejected across both hosts", statuses, quota, quota)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	holders := []*holder{newHolder(t, fleet[0]), newHolder(t, fleet[1])}
	done := holders[0].hold(ctx, "a")
	if _, err := holders[1].session.CallTool(ctx, &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}}); !isConcurrencyRejection(err) {
		t.Fatalf("a held call through the other host: err = %v, want the 429 of the cap", err)
	}
	releaseOnce.Do(func() { close(release) })
	if err := <-done; err != nil {
		t.Fatalf("held call: %v", err)
	}
	eventually(t, testTimeout, "the cap's place back after the stream ended", func() bool {
		_, err := holders[1].session.CallTool(ctx, &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
		if err != nil && !isConcurrencyRejection(err) {
			t.Fatalf("held call through the other host: %v", err)
		}
		return err == nil
	})
	if got := fleetCounter(fleet, "redis.lease_errors"); got != 0 {
		t.Errorf("redis.lease_errors = %d, want 0", got)
	}
}
