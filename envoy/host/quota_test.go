package host

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// settableClock is the wall clock the host hands the module
// (clock_time_get and proxy_get_current_time_nanoseconds).
type settableClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *settableClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *settableClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// TestQuotaResetsAtMidnightInItsZone runs the compiled module with the
// host's clock set around the spring daylight-saving change in New York:
// the daily quota resets at local midnight, Retry-After is the time to
// that midnight, and the day of the change lasts 23 hours. The module
// reads the zone from its embedded time zone database.
func TestQuotaResetsAtMidnightInItsZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	code := readArtifact(t, shippedWasm, "build")
	d := newDirect(t, code, directOptions{version: "1.33",
		plugin: `{"quota":{"maxCalls":2,"period":"day","timeZone":"America/New_York"},` +
			`"tools":[{"name":"report","quota":{"maxCalls":3,"period":"week","timeZone":"America/New_York"}}]}`})
	clock := &settableClock{}
	d.env.Now = clock.Now
	call := func(what, tool string, wantStatus int, wantRetryAfter string) {
		t.Helper()
		r := d.do(mcpHeaders(), []byte(toolsCall(1, tool)), 0, 1<<20)
		got, _ := r.headers.Get("retry-after")
		if r.status != wantStatus || got != wantRetryAfter {
			t.Fatalf("%s: status %d retry-after %q body %s, want %d and %q", what, r.status, got, r.body, wantStatus, wantRetryAfter)
		}
	}
	// Saturday 7 March 2026, 23:00 EST: one hour to midnight.
	clock.set(time.Date(2026, 3, 7, 23, 0, 0, 0, ny))
	call("first call", "report", 200, "")
	call("second call", "echo", 200, "")
	call("third call of the day", "echo", 429, "3600")
	clock.set(time.Date(2026, 3, 7, 23, 59, 59, 500_000_000, ny))
	call("half a second before midnight", "echo", 429, "1")
	// Sunday 8 March: the clocks jump from 02:00 to 03:00.
	clock.set(time.Date(2026, 3, 8, 0, 0, 0, 0, ny))
	call("first call of the short day", "report", 200, "")
	call("second call of the short day", "report", 200, "")
	call("third call of the short day", "echo", 429, strconv.Itoa(23*3600))
	// Monday: a new day and a new week.
	clock.set(time.Date(2026, 3, 9, 0, 0, 0, 0, ny))
	call("report on Monday", "report", 200, "")
	call("echo on Monday", "echo", 200, "")
	call("third call on Monday", "report", 429, strconv.Itoa(24*3600))
}

// TestWorkersCountAQuotaExactly: 64 concurrent clients on 4 worker VMs of
// the compiled filter race on a monthly quota of 20 calls: exactly 20 are
// admitted, and the rest are told to wait (until the first of next month,
// or a second for a take that stayed contended).
func TestWorkersCountAQuotaExactly(t *testing.T) {
	readArtifact(t, shippedWasm, "build")
	up, hits := upstreamServer(t)
	h := startHost(t, hostConfig{wasm: shippedWasm, plugin: `{"quota":{"maxCalls":20,"period":"month","timeZone":"Pacific/Auckland"}}`,
		upstream: up.Listener.Addr().String(), workers: 4})
	var admitted, rejected atomic.Int64
	var wg sync.WaitGroup
	for c := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}} // own connection: spread over workers
			req, _ := http.NewRequest(http.MethodPost, h.URL()+"/mcp", strings.NewReader(toolsCall(c, "echo")))
			req.Header.Set("content-type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch wait, _ := strconv.Atoi(resp.Header.Get("retry-after")); {
			case resp.StatusCode == 200:
				admitted.Add(1)
			case resp.StatusCode == 429 && wait > 0 && wait <= 31*24*3600:
				rejected.Add(1)
			default:
				t.Errorf("status %d retry-after %q", resp.StatusCode, resp.Header.Get("retry-after"))
			}
		}()
	}
	wg.Wait()
	// A take whose every compare-and-swap attempt lost a race is rejected
	// as contended (retry-after 1) without counting: calls one by one use
	// what such rejections left.
	for i := 0; ; i++ {
		resp, _ := post(t, h.URL()+"/mcp", map[string]string{"content-type": "application/json"}, toolsCall(1000+i, "echo"))
		if resp.StatusCode != 200 {
			break
		}
		admitted.Add(1)
	}
	if admitted.Load() != 20 || hits.Load() != 20 {
		t.Fatalf("admitted %d (%d rejected in the race), upstream %d; want exactly the quota of 20", admitted.Load(), rejected.Load(), hits.Load())
	}
}
