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
// the answer on the plugin context, as Envoy does; the filter's build
// hands it to the filter anyway (the glue's glueDeliverOrphanedCallouts),
// and the filter's next tick sends the lease's release, so the cap's place
// comes back at once instead of when the lease expires.
func TestLeaseOfAStreamGoneBeforeRedisIsReleased(t *testing.T) {
	code := readArtifact(t, shippedWasm, "build")
	d := newDirect(t, code, directOptions{version: "1.33",
		plugin: `{"concurrency":{"shared":1},"redis":{"cluster":"webdis","username":"mcp","password":"secret"}}`,
		webdis: instantWebdis})
	held := make(chan heldCall, 4)
	d.env.HTTPCall = func(c proxywasm.Callout, done func(proxywasm.CalloutResponse)) {
		held <- heldCall{c, done}
	}
	next := func(what string) heldCall {
		t.Helper()
		select {
		case c := <-held:
			return c
		case <-time.After(5 * time.Second):
			t.Fatalf("no callout: %s", what)
			return heldCall{}
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

	// One cap of 1 with no call in it: admitted (bucket/redis/take.lua:
	// allowed, then the calls each cap held).
	take.done(webdisAnswer(take.callout, "[1,0]"))
	if err := d.root.Tick(); err != nil {
		t.Fatal(err)
	}
	release := next("the lease's release at the tick after the answer")
	if body := string(release.callout.Body); !strings.Contains(body, "/release/") {
		t.Fatalf("the callout after the answer is %q, want the lease's release", body)
	}
	release.done(webdisAnswer(release.callout, "[1]"))
}
