package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// The tests here run calendar quotas and concurrency caps kept in Redis
// by two hosts (two proxies) sharing one Redis through webdis.

// holder is a client whose "hold" calls stream their progress.
type holder struct {
	t        *testing.T
	session  *mcp.ClientSession
	progress chan float64
}

func newHolder(t *testing.T, s *stack) *holder {
	h := &holder{t: t, progress: make(chan float64, 16)}
	h.session = s.connect(t, clientOptions{mcp: &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, r *mcp.ProgressNotificationClientRequest) { h.progress <- r.Params.Progress },
	}})
	return h
}

// hold starts a held call and returns once its progress has streamed
// (the call is admitted and running).
func (h *holder) hold(ctx context.Context, token string) chan error {
	h.t.Helper()
	done := make(chan error, 1)
	go func() {
		params := &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}}
		params.SetProgressToken(token)
		_, err := h.session.CallTool(ctx, params)
		done <- err
	}()
	select {
	case <-h.progress:
	case err := <-done:
		h.t.Fatalf("held call %s ended (%v) before its progress arrived", token, err)
	}
	return done
}

// isConcurrencyRejection reports whether err is the 429 of a cap (the
// SDK client reports a 429 by its status text only).
func isConcurrencyRejection(err error) bool { return isTooManyRequests(err) }

// quotaZones are the time zones a test's calendar quota may count in.
// Their midnights are at least six hours apart, so at any moment at least
// two of them are hours away from the end of their day and month.
var quotaZones = []string{"Europe/Paris", "Asia/Tokyo", "America/New_York"}

// calendarEnd is the end of the calendar period ("day" or "month") that
// holds at, in loc: the instant a quota counting in loc starts again.
func calendarEnd(at time.Time, loc *time.Location, period string) time.Time {
	y, m, d := at.In(loc).Date()
	if period == "month" {
		return time.Date(y, m+1, 1, 0, 0, 0, 0, loc)
	}
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}

// quotaZone returns one of quotaZones whose current period does not end
// within the test's time limit, so that a test of a calendar quota on the
// real clock (Redis counts by its own) never sees the count start again,
// and the period's end in it.
func quotaZone(t testing.TB, period string) (string, time.Time) {
	t.Helper()
	now := time.Now()
	for _, name := range quotaZones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatalf("time zone %s: %v", name, err)
		}
		if end := calendarEnd(now, loc, period); end.Sub(now) > 2*testTimeout {
			return name, end
		}
	}
	t.Fatalf("every zone of %v ends its %s within %v of %v", quotaZones, period, 2*testTimeout, now)
	return "", time.Time{}
}

// TestRedisFleetQuota: a server-wide daily quota of 10 kept in Redis
// admits exactly 10 calls across two hosts, and the rejections carry the
// time to the quota's reset (midnight in its time zone) as Retry-After.
func TestRedisFleetQuota(t *testing.T) {
	const quota, calls = 10, 16
	zone, reset := quotaZone(t, "day")
	backend := startRedisBackend(t)
	plugin := withRedis(`{"quota":{"maxCalls":10,"period":"day","timeZone":"`+zone+`"}}`, `,"timeout":"2s"`)
	fleet := startFleet(t, 2, plugin, backend)
	sessions := []map[string]string{fleet[0].openSession(t, nil), fleet[1].openSession(t, nil)}
	statuses := map[int]int{}
	for i := range calls {
		s := fleet[i%2]
		// Redis decides between sent and answered, by the same machine's
		// clock; the filter rounds the wait up to whole seconds.
		sent := time.Now()
		r := s.post(t, toolsCallBody(strconv.Itoa(i+1), demo.ToolEcho), sessions[i%2])
		answered := time.Now()
		statuses[r.status]++
		if r.status == http.StatusTooManyRequests {
			lo, hi := int(reset.Sub(answered)/time.Second), int((reset.Sub(sent)+time.Second-1)/time.Second)
			if after, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || after < lo || after > hi {
				t.Errorf("call %d: Retry-After %q; want the seconds to midnight in %s, %d to %d", i+1, r.header.Get("Retry-After"), zone, lo, hi)
			}
		}
	}
	if statuses[http.StatusOK] != quota || statuses[http.StatusTooManyRequests] != calls-quota {
		t.Fatalf("statuses %v across both hosts; want %d admitted and %d rejected", statuses, quota, calls-quota)
	}
	// Each host asked Redis until Redis rejected, then repeated that
	// rejection of the same call (rejectLocallyFor), with the same
	// Retry-After, checked above.
	decided, local := fleetCounter(fleet, "redis.decisions"), fleetCounter(fleet, "redis.local_rejections")
	if decided+local != calls || decided < quota+2 || local == 0 {
		t.Errorf("redis.decisions = %d, redis.local_rejections = %d; want %d in all, Redis deciding the admissions and each host's first rejection",
			decided, local, calls)
	}
	for i, s := range fleet {
		if s.counter("tools_call.admitted") == 0 {
			t.Errorf("host %d admitted nothing", i)
		}
	}
}

// TestRedisFleetConcurrencyCap: a server-wide cap of 2 kept in Redis
// holds at most 2 streaming calls in flight across two hosts; every other
// call, on either host, is rejected while they run; when the streams end
// their places come back (the release leaves on the plugin's tick).
func TestRedisFleetConcurrencyCap(t *testing.T) {
	backend := startRedisBackend(t)
	plugin := withRedis(`{"concurrency":{"shared":2}}`, `,"timeout":"2s"`)
	fleet := startFleet(t, 2, plugin, backend)
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	addHoldTool(fleet[0].demo.MCPServer(), release)
	holders := []*holder{newHolder(t, fleet[0]), newHolder(t, fleet[1])}
	others := []*mcp.ClientSession{fleet[0].connect(t, clientOptions{}), fleet[1].connect(t, clientOptions{})}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	held := []chan error{holders[0].hold(ctx, "a"), holders[1].hold(ctx, "b")}
	for i, session := range others {
		if err := call(session, demo.ToolEcho); !isConcurrencyRejection(err) {
			t.Fatalf("a third call through host %d while two stream: err = %v, want the 429 of the cap", i, err)
		}
	}
	if n, err := backend.redis.Do("EVAL", "local n = 0 for _, k in ipairs(redis.call('KEYS', '*inflight*')) do n = n + redis.call('ZCARD', k) end return n", "0"); err != nil || n != int64(2) {
		t.Errorf("leases in Redis: %v, %v; want 2", n, err)
	}
	releaseOnce.Do(func() { close(release) })
	for i, done := range held {
		if err := <-done; err != nil {
			t.Fatalf("held call %d: %v", i, err)
		}
	}
	// The streams ended: both places come back, on both hosts.
	for i, session := range others {
		eventually(t, testTimeout, fmt.Sprintf("a call through host %d after the streams ended", i), func() bool {
			err := call(session, demo.ToolEcho)
			if err != nil && !isConcurrencyRejection(err) {
				t.Fatalf("call through host %d: %v", i, err)
			}
			return err == nil
		})
	}
	eventually(t, testTimeout, "every lease released in Redis", func() bool {
		n, err := backend.redis.Do("EVAL", "local n = 0 for _, k in ipairs(redis.call('KEYS', '*inflight*')) do n = n + redis.call('ZCARD', k) end return n", "0")
		return err == nil && n == int64(0)
	})
	if got := fleetCounter(fleet, "redis.lease_errors"); got != 0 {
		t.Errorf("redis.lease_errors = %d, want 0", got)
	}
}

// TestRedisQuotaAndCapFallBackLocally: with Redis killed and failureMode
// "local", each host enforces the quota and the cap in its own shared
// data: a quota of 2 admits 2 per host, a cap of 1 admits one streaming
// call per host, and the local lease is released locally when its
// stream ends.
func TestRedisQuotaAndCapFallBackLocally(t *testing.T) {
	zone, _ := quotaZone(t, "day")
	backend := startRedisBackend(t)
	plugin := withRedis(`{"tools":[{"name":"`+demo.ToolEcho+`","quota":{"maxCalls":2,"period":"day","timeZone":"`+zone+`"}},{"name":"hold","concurrency":{"shared":1}}]}`,
		`,"timeout":"200ms","failureMode":"local"`)
	fleet := startFleet(t, 2, plugin, backend)
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	addHoldTool(fleet[0].demo.MCPServer(), release)
	backend.redis.Stop()

	for i, s := range fleet {
		session := s.openSession(t, nil)
		var statuses []int
		for j := range 3 {
			statuses = append(statuses, s.post(t, toolsCallBody(strconv.Itoa(j+1), demo.ToolEcho), session).status)
		}
		if fmt.Sprint(statuses) != "[200 200 429]" {
			t.Errorf("host %d with Redis down: statuses %v, want [200 200 429] (its own quota of 2)", i, statuses)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	holders := []*holder{newHolder(t, fleet[0]), newHolder(t, fleet[1])}
	// One held call per host: each host's own cap of 1.
	held := []chan error{holders[0].hold(ctx, "a"), holders[1].hold(ctx, "b")}
	for i, h := range holders {
		_, err := h.session.CallTool(ctx, &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
		if !isConcurrencyRejection(err) {
			t.Fatalf("a second held call through host %d: err = %v, want the 429 of its local cap", i, err)
		}
	}
	releaseOnce.Do(func() { close(release) })
	for i, done := range held {
		if err := <-done; err != nil {
			t.Fatalf("held call %d: %v", i, err)
		}
	}
	// Released locally: a new held call passes on each host.
	for i, h := range holders {
		eventually(t, testTimeout, fmt.Sprintf("host %d's local cap free again", i), func() bool {
			_, err := h.session.CallTool(ctx, &mcp.CallToolParams{Name: "hold", Arguments: map[string]any{}})
			if err != nil && !isConcurrencyRejection(err) {
				t.Fatalf("host %d: %v", i, err)
			}
			return err == nil
		})
	}
	if got := fleetCounter(fleet, "redis.decisions"); got != 0 {
		t.Errorf("redis.decisions = %d with Redis down, want 0", got)
	}
}

// TestRedisQuotaAndCapOpenAndClosed: with Redis killed, failureMode
// "open" admits calls under a quota and a cap, and "closed" answers 503.
func TestRedisQuotaAndCapOpenAndClosed(t *testing.T) {
	for _, tt := range []struct {
		mode   string
		status int
	}{{"open", http.StatusOK}, {"closed", http.StatusServiceUnavailable}} {
		t.Run(tt.mode, func(t *testing.T) {
			backend := startRedisBackend(t)
			plugin := withRedis(`{"quota":{"maxCalls":1,"period":"week"},"concurrency":{"shared":1}}`,
				`,"timeout":"200ms","failureMode":"`+tt.mode+`"`)
			s := startFleet(t, 1, plugin, backend)[0]
			session := s.openSession(t, nil)
			if r := s.post(t, toolsCallBody("1", demo.ToolEcho), session); r.status != http.StatusOK {
				t.Fatalf("before the outage: status %d", r.status)
			}
			backend.redis.Stop()
			for i := range 3 {
				if r := s.post(t, toolsCallBody(strconv.Itoa(i+2), demo.ToolEcho), session); r.status != tt.status {
					t.Errorf("call %d with Redis down: status %d, want %d", i+2, r.status, tt.status)
				}
			}
			if got := s.counter("redis.fallbacks"); got != 3 {
				t.Errorf("redis.fallbacks = %d, want 3", got)
			}
		})
	}
}
