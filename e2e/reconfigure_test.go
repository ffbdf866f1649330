package e2e

import (
	"strings"
	"testing"
)

// TestReconfigureKeepsUnchangedBuckets applies new plugin configurations
// to a running host, as an xDS update does in Envoy: a bucket whose
// parameters did not change keeps its state, a changed bucket starts full,
// and a configuration the plugin refuses leaves the previous one in force.
// The filter's counters carry on across configurations, as Envoy keeps a
// stat whose name is unchanged.
func TestReconfigureKeepsUnchangedBuckets(t *testing.T) {
	const (
		configA = `{"shared":{"maxTokens":3,"refillPeriod":"1h"},"tools":[{"name":"search","shared":{"maxTokens":2,"refillPeriod":"1h"}}]}`
		// Same shared bucket; the search bucket changes; echo gets a bucket.
		configB = `{"shared":{"maxTokens":3,"refillPeriod":"1h"},"tools":[{"name":"search","shared":{"maxTokens":4,"refillPeriod":"1h"}},` +
			`{"name":"echo","shared":{"maxTokens":1,"refillPeriod":"1h"}}]}`
		refused = `{"shared":{"maxTokens":0,"refillPeriod":"1h"}}`
		// The shared bucket changes: it starts full.
		configC = `{"shared":{"maxTokens":2,"refillPeriod":"1h"}}`
	)
	s := startStack(t, stackOptions{plugin: configA})
	cs := s.connect(t, clientOptions{})
	runSteps(t, s, []step{
		{tool: "search", pass: true}, {tool: "search", pass: true}, // shared 1 left, search empty
		{tool: "search", pass: false},
	})

	if err := s.host.Reconfigure([]byte(configB)); err != nil {
		t.Fatalf("Reconfigure(B): %v", err)
	}
	runSteps(t, s, []step{
		{tool: "search", pass: true}, // a fresh search bucket; the shared bucket's last token
		{tool: "echo", pass: false},  // echo's bucket is fresh, but the shared one kept its state: empty
		{tool: "search", pass: false},
	})

	err := s.host.Reconfigure([]byte(refused))
	if err == nil {
		t.Fatal("Reconfigure accepted maxTokens 0")
	}
	// The plugin's log line names the field and the value.
	if logs := s.logs.String(); !strings.Contains(logs, "shared.maxTokens") {
		t.Errorf("no log line names shared.maxTokens (Reconfigure error: %v); host log:\n%s", err, logs)
	}
	runSteps(t, s, []step{{tool: "echo", pass: false}}) // configuration B is still in force

	if err := s.host.Reconfigure([]byte(configC)); err != nil {
		t.Fatalf("Reconfigure(C): %v", err)
	}
	runSteps(t, s, []step{{tool: "echo", pass: true}, {tool: "search", pass: true}, {tool: "echo", pass: false}})

	listTools(t, cs) // the client's session survived every reconfiguration
	if got := s.demo.TotalCalls(); got != 5 {
		t.Errorf("the server ran %d calls, want 5", got)
	}
	s.expectCounters(t, map[string]uint64{"tools_call.admitted": 5, "tools_call.rejected": 5})
}
