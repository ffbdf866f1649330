package host

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// TestWorkersCapCallsInFlightExactly: 40 clients on 4 worker VMs of the
// compiled filter call at once an upstream that holds every call until
// the test lets go; with a cap of 5, exactly 5 reach the upstream and 35
// are answered "Too many concurrent calls" without Retry-After (a call
// whose every compare-and-swap attempt lost a race is rejected as
// contended instead: then fewer than 5 may pass, never more). Once the
// held calls end, their places are free again.
func TestWorkersCapCallsInFlightExactly(t *testing.T) {
	readArtifact(t, shippedWasm, "build")
	release := make(chan struct{})
	arrived := make(chan struct{}, 100)
	var inFlight, peak atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		<-release
		inFlight.Add(-1)
		w.Header().Set("content-type", "application/json")
		fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	t.Cleanup(up.Close)
	var releaseOnce sync.Once
	letGo := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	h := startHost(t, hostConfig{wasm: shippedWasm, plugin: `{"concurrency":{"shared":5}}`,
		upstream: up.Listener.Addr().String(), workers: 4})
	send := func(id int) (int, string, error) {
		client := &http.Client{Transport: &http.Transport{}} // own connection: spread over workers
		req, _ := http.NewRequest(http.MethodPost, h.URL()+"/mcp", strings.NewReader(toolsCall(id, "slow")))
		req.Header.Set("content-type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("retry-after") != "" {
			return resp.StatusCode, "retry-after " + resp.Header.Get("retry-after"), nil
		}
		return resp.StatusCode, string(body), nil
	}
	var admitted, rejected, contended atomic.Int64
	var wg sync.WaitGroup
	answered := make(chan struct{}, 40)
	for c := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			status, body, err := send(c)
			switch {
			case err != nil:
				t.Error(err)
				answered <- struct{}{}
			case status == 200:
				admitted.Add(1)
			case status == 429 && strings.Contains(body, "Too many concurrent calls"):
				rejected.Add(1)
				answered <- struct{}{}
			case status == 429 && strings.Contains(body, "retry-after 1"):
				// Every compare-and-swap attempt lost a race: rejected as
				// contended (never admitted uncounted).
				contended.Add(1)
				answered <- struct{}{}
			default:
				t.Errorf("status %d body %s", status, body)
				answered <- struct{}{}
			}
		}()
	}
	// Every call is either held by the upstream or answered by the filter
	// before any held call ends.
	held := 0
	for n := 0; n < 40; n++ {
		select {
		case <-arrived:
			held++
		case <-answered:
		}
	}
	letGo()
	wg.Wait()
	if held != int(admitted.Load()) || peak.Load() > 5 || admitted.Load() > 5 {
		t.Fatalf("admitted %d, held %d, peak in flight %d: more than the cap of 5", admitted.Load(), held, peak.Load())
	}
	if contended.Load() == 0 && (admitted.Load() != 5 || rejected.Load() != 35) {
		t.Fatalf("admitted %d rejected %d, want exactly 5 and 35", admitted.Load(), rejected.Load())
	}
	t.Logf("admitted %d, rejected %d, contended %d", admitted.Load(), rejected.Load(), contended.Load())
	// The places are free again once the workers have seen the streams
	// end (proxy_on_done may run just after the client has its answer).
	for i := range 5 {
		for attempt := 0; ; attempt++ {
			status, body, err := send(100 + i)
			if err == nil && status == 200 {
				break
			}
			if err != nil || status != 429 || attempt == 1000 {
				t.Fatalf("call %d after the held calls ended: %d %s %v", i, status, body, err)
			}
		}
	}
}

// TestLeaseOfAStreamGoneBeforeRedisIsReleased: a client goes away while
// its call waits for Redis (the stream is reset and its context deleted),
// then Redis admits the call under a concurrency cap. The host delivers
// the answer on the plugin context, as Envoy does for a webdis callout
// (proxy-wasm-cpp-host http_call) and Higress's Envoy for a Redis call
// (its proxy-wasm-cpp-host redis_call): the filter's build hands it to the
// filter anyway (the glue's glueDeliverOrphanedCallouts for a callout, the
// filter's own table of Redis calls in the Higress build), and the
// filter's next tick sends the lease's release, so the cap's place comes
// back at once instead of when the lease expires.
func TestLeaseOfAStreamGoneBeforeRedisIsReleased(t *testing.T) {
	// pending is a Redis command the test holds: its text and its answer.
	type pending struct {
		query  string
		answer func(reply string)
	}
	for _, tc := range []struct {
		name, artifact, target, version, plugin string
		// hold makes the host hand the module's Redis commands to held.
		hold func(d *direct, held chan<- pending)
		// admitted and released are Redis's answers to the take (one cap
		// of 1 with no call in it: allowed, then the calls each cap held,
		// bucket/redis/take.lua) and to the release, in the transport's
		// form; releaseMark is in the text of a release.
		admitted, released, releaseMark string
	}{{
		name: "webdis", artifact: shippedWasm, target: "build", version: "1.33",
		plugin: `{"concurrency":{"shared":1},"redis":{"cluster":"webdis","username":"mcp","password":"secret"}}`,
		hold: func(d *direct, held chan<- pending) {
			d.env.HTTPCall = func(c proxywasm.Callout, done func(proxywasm.CalloutResponse)) {
				held <- pending{string(c.Body), func(reply string) { done(webdisAnswer(c, reply)) }}
			}
		},
		admitted: "[1,0]", released: "[1]", releaseMark: "/release/",
	}, {
		name: "higress", artifact: higressWasm, target: "build-higress", version: proxywasm.HigressVersion,
		// "webdis" is the one cluster of the direct host; here it stands
		// for Higress's Redis service.
		plugin: `{"concurrency":{"shared":1},"redis":{"cluster":"webdis"}}`,
		hold: func(d *direct, held chan<- pending) {
			d.env.RedisCall = func(c proxywasm.RedisCallout, done func([]byte, error)) {
				held <- pending{string(c.Query), func(reply string) { done([]byte(reply), nil) }}
			}
		},
		admitted: "*2\r\n:1\r\n:0\r\n", released: "*1\r\n:1\r\n", releaseMark: "$7\r\nrelease\r\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			code := readArtifact(t, tc.artifact, tc.target)
			d := newDirect(t, code, directOptions{version: tc.version, plugin: tc.plugin, webdis: instantWebdis})
			held := make(chan pending, 4)
			tc.hold(d, held)
			next := func(what string) pending {
				t.Helper()
				select {
				case c := <-held:
					return c
				case <-time.After(5 * time.Second):
					t.Fatalf("no Redis command: %s", what)
					return pending{}
				}
			}

			x := d.begin(mcpHeaders(), toolsCallOfSize(1, "echo", 200), 0, 1<<20)
			answered := make(chan response, 1)
			go func() { answered <- x.wait() }()
			take := next("the call's take")
			x.m.RequestReset()
			if r := <-answered; r.upstream {
				t.Fatalf("the reset call reached the upstream: %+v", r)
			}

			take.answer(tc.admitted)
			if err := d.root.Tick(); err != nil {
				t.Fatal(err)
			}
			release := next("the lease's release at the tick after the answer")
			if !strings.Contains(release.query, tc.releaseMark) {
				t.Fatalf("the command after the answer is %q, want the lease's release", release.query)
			}
			release.answer(tc.released)
		})
	}
}
