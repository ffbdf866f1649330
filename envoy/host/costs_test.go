package host

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestWorkersTakeToolCostsAllOrNothing: 48 concurrent clients on 4
// worker VMs of the compiled filter race "heavy" calls (cost 3, from the
// server-wide bucket of 20 and the tool's own bucket of 9) and "light"
// calls (cost 1, the server-wide bucket only). Whatever the interleaving,
// at most 3 heavy calls pass, and once light calls have drained the
// server-wide bucket, the tokens admitted add up to exactly 20: no take
// was counted twice or half.
func TestWorkersTakeToolCostsAllOrNothing(t *testing.T) {
	readArtifact(t, shippedWasm, "build")
	up, hits := upstreamServer(t)
	h := startHost(t, hostConfig{wasm: shippedWasm,
		plugin:   `{"shared":{"maxTokens":20,"refillPeriod":"24h"},"tools":[{"name":"heavy","cost":3,"shared":{"maxTokens":9,"refillPeriod":"24h"}}]}`,
		upstream: up.Listener.Addr().String(), workers: 4})
	var heavy, light atomic.Int64
	send := func(client *http.Client, id int, tool string) (int, error) {
		req, _ := http.NewRequest(http.MethodPost, h.URL()+"/mcp", strings.NewReader(toolsCall(id, tool)))
		req.Header.Set("content-type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{}} // own connection: spread over workers
			<-start
			for i := range 2 {
				tool := "heavy"
				if (c+i)%3 == 0 {
					tool = "light"
				}
				status, err := send(client, c*10+i, tool)
				switch {
				case err != nil:
					t.Error(err)
					return
				case status == 200 && tool == "heavy":
					heavy.Add(1)
				case status == 200:
					light.Add(1)
				case status != 429:
					t.Errorf("status %d", status)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	// Drain what is left of the server-wide bucket with light calls.
	for i := 0; ; i++ {
		status, err := send(http.DefaultClient, 1000+i, "light")
		if err != nil {
			t.Fatal(err)
		}
		if status == 429 {
			break
		}
		if status != 200 || i > 20 {
			t.Fatalf("drain call %d: status %d", i, status)
		}
		light.Add(1)
	}
	if heavy.Load() > 3 {
		t.Errorf("%d heavy calls admitted, the tool's bucket of 9 holds 3", heavy.Load())
	}
	if tokens := 3*heavy.Load() + light.Load(); tokens != 20 {
		t.Errorf("admitted %d heavy and %d light calls: %d tokens, want exactly 20", heavy.Load(), light.Load(), tokens)
	}
	if hits.Load() != heavy.Load()+light.Load() {
		t.Errorf("upstream saw %d calls, admitted %d", hits.Load(), heavy.Load()+light.Load())
	}
}
