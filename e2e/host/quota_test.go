package host

import (
	"strconv"
	"sync"
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
