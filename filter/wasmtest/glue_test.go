package wasmtest

import (
	"slices"
	"strings"
	"testing"
)

// Context IDs the glue tests use, as a host would allocate them.
const (
	rootID = 1
	httpID = 2
	tcpID  = 1000 // the probe makes TCP contexts from 1000 up
)

// startProbe starts the patched probe under a recording host and creates
// its root context, as Envoy does: _initialize, proxy_on_vm_start,
// proxy_on_context_create(root, 0), proxy_on_configure.
func startProbe(t *testing.T, h *recordHost) {
	t.Helper()
	h.pluginConfig = "plugin-config"
	h.start(probeModule(t, false))
	if got := h.mustCall("proxy_on_vm_start", 0, uint64(len(answerVMConfig))); got != 1 {
		t.Fatalf("proxy_on_vm_start = %d, want 1", got)
	}
	h.mustCall("proxy_on_context_create", rootID, 0)
	if got := h.mustCall("proxy_on_configure", rootID, uint64(len(h.pluginConfig))); got != 1 {
		t.Fatalf("proxy_on_configure = %d, want 1", got)
	}
}

// TestGlueHostCalls runs the probe's tour, which calls every host function
// of the SDK once, and checks each call's arguments as the host decoded
// them from the module's memory, and what the plugin got back from each
// (which exercises the out-parameter handling of the glue).
func TestGlueHostCalls(t *testing.T) {
	h := newRecordHost(t)
	startProbe(t, h)
	calls, logs := h.takeCalls()
	wantStartCalls := []string{
		`proxy_get_buffer_bytes buffer=6 start=0 max=2147483647`,
		`proxy_get_buffer_bytes buffer=7 start=0 max=2147483647`,
	}
	wantStartLogs := []string{
		`probe cb vm_start 9 "vm-config" ok`,
		`probe cb new_plugin_context 1`,
		`probe cb plugin_start 1 13 "plugin-config" ok`,
	}
	compareLines(t, "start: host calls", calls, wantStartCalls)
	compareLines(t, "start: probe logs", logs, wantStartLogs)

	h.mustCall("proxy_on_context_create", httpID, rootID)
	h.command = "tour"
	if got := h.mustCall("proxy_on_request_headers", httpID, 3, 0); got != 0 {
		t.Errorf("proxy_on_request_headers = %d, want 0 (Continue)", got)
	}
	calls, logs = h.takeCalls()
	compareLines(t, "tour: host calls", calls, []string{
		`proxy_get_header_map_value map=0 key="x-probe-command"`,
		`proxy_get_property path="plugin_root_id"`,
		`proxy_set_property path="filter_state\x00probe" value="set-value"`,
		`proxy_get_shared_data key="probe-key"`,
		`proxy_set_shared_data key="probe-key" value="probe-value" cas=77`,
		`proxy_register_shared_queue name="probe-queue"`,
		`proxy_resolve_shared_queue vm="probe-vm" name="probe-queue"`,
		`proxy_enqueue_shared_queue id=11 value="queued"`,
		`proxy_dequeue_shared_queue id=11`,
		`proxy_get_header_map_pairs map=0`,
		`proxy_set_header_map_pairs map=0 pairs=a=1,bb=22`,
		`proxy_add_header_map_value map=0 key="x-added" value="add"`,
		`proxy_replace_header_map_value map=0 key="x-replaced" value="rep"`,
		`proxy_remove_header_map_value map=0 key="x-removed"`,
		`proxy_get_buffer_bytes buffer=0 start=3 max=5`,
		`proxy_set_buffer_bytes buffer=0 start=0 size=2147483647 data="new body"`,
		`proxy_continue_stream stream=0`,
		`proxy_close_stream stream=2`,
		`proxy_send_local_response status=429 details="" body="limited" headers=retry-after=7 grpc=-1`,
		`proxy_http_call upstream="probe-cluster" headers=:method=GET,:path=/probe body="callout body" trailers=t=v timeout=1500`,
		`proxy_call_foreign_function name="probe_fn" param="param"`,
		`proxy_set_tick_period_milliseconds period=250`,
		`proxy_set_effective_context context=2`,
		`proxy_done`,
		`proxy_define_metric type=0 name="probe_counter"`,
		`proxy_increment_metric id=100 offset=5`,
		`proxy_get_metric id=100`,
		`proxy_define_metric type=1 name="probe_gauge"`,
		`proxy_increment_metric id=101 offset=-3`,
		`proxy_define_metric type=2 name="probe_histogram"`,
		`proxy_record_metric id=102 value=1234`,
	})
	compareLines(t, "tour: probe logs", logs, []string{
		`probe cb new_http_context 1 2`,
		`probe cb request_headers 2 3 false`,
		`probe level trace`,
		`probe level debug`,
		`probe level warn`,
		`probe level error`,
		`probe level critical`,
		`probe ret get_property "root-id-value" ok`,
		`probe ret set_property ok`,
		`probe ret get_shared_data "shared-value" 42 ok`,
		`probe ret set_shared_data ok`,
		`probe ret register_shared_queue 11 ok`,
		`probe ret resolve_shared_queue 12 ok`,
		`probe ret enqueue_shared_queue ok`,
		`probe ret dequeue_shared_queue "dequeued" ok`,
		`probe ret get_header_map_pairs :path=/p,k=v ok`,
		`probe ret set_header_map_pairs ok`,
		`probe ret add_header_map_value ok`,
		`probe ret replace_header_map_value ok`,
		`probe ret remove_header_map_value ok`,
		`probe ret get_buffer_bytes "34567" ok`,
		`probe ret set_buffer_bytes ok`,
		`probe ret continue_stream ok`,
		`probe ret close_stream ok`,
		`probe ret send_local_response ok`,
		`probe ret http_call 9 ok`,
		`probe ret call_foreign_function "foreign result" ok`,
		`probe ret set_tick_period_milliseconds ok`,
		`probe ret set_effective_context ok`,
		`probe ret done`,
		`probe ret get_metric counter 5`,
		`probe ret define_metric 100 101 102`,
		`probe did tour`,
	})

	// The log levels arrive as the ABI's numbers (trace 0 ... critical 5).
	for level, name := range []string{"trace", "debug", "info", "warn", "error", "critical"} {
		if name == "info" {
			continue // logged by every probe line
		}
		want := string(rune('0'+level)) + " probe level " + name
		if !slices.Contains(h.allLogs, want) {
			t.Errorf("no proxy_log %q among %q", want, h.allLogs)
		}
	}

	// The callout's response, through proxy_on_http_call_response; the SDK
	// sets the effective context to the caller's before the callback.
	h.mustCall("proxy_on_http_call_response", rootID, answerCalloutID, 1, uint64(len(answerCalloutBody)), 1)
	calls, logs = h.takeCalls()
	compareLines(t, "callout: host calls", calls, []string{
		`proxy_set_effective_context context=2`,
		`proxy_get_header_map_pairs map=6`,
		`proxy_get_buffer_bytes buffer=4 start=0 max=16`,
		`proxy_get_header_map_pairs map=7`,
	})
	compareLines(t, "callout: probe logs", logs, []string{
		`probe cb http_call_response 2 1 16 1`,
		`probe ret callout_headers :status=200 ok`,
		`probe ret callout_body "callout response" ok`,
		`probe ret callout_trailers tk=tv ok`,
	})
}

// TestGlueOrphanedCallout answers a callout after the HTTP context that
// sent it was deleted, as Envoy does (it keeps callouts on the plugin
// context). The SDK drops that answer; with the glue's
// glueDeliverOrphanedCallouts set, as the filter sets it, the callback
// runs with the plugin context effective and reads the response.
func TestGlueOrphanedCallout(t *testing.T) {
	for _, tt := range []struct {
		name    string
		deliver bool
		calls   []string
		logs    []string
	}{
		{name: "dropped by the SDK"},
		{name: "delivered", deliver: true,
			calls: []string{
				`proxy_set_effective_context context=1`,
				`proxy_get_header_map_pairs map=6`,
				`proxy_get_buffer_bytes buffer=4 start=0 max=16`,
				`proxy_get_header_map_pairs map=7`,
			},
			logs: []string{
				`probe cb http_call_response 2 1 16 1`,
				`probe ret callout_headers :status=200 ok`,
				`probe ret callout_body "callout response" ok`,
				`probe ret callout_trailers tk=tv ok`,
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newRecordHost(t)
			startProbe(t, h)
			if tt.deliver {
				const setterID = 3
				h.mustCall("proxy_on_context_create", setterID, rootID)
				h.command = "deliver-orphans"
				h.mustCall("proxy_on_request_headers", setterID, 1, 1)
			}
			h.mustCall("proxy_on_context_create", httpID, rootID)
			h.command = "callout"
			h.mustCall("proxy_on_request_headers", httpID, 3, 0)
			h.mustCall("proxy_on_log", httpID)
			h.mustCall("proxy_on_delete", httpID)
			calls, logs := h.takeCalls()
			if !slices.Contains(calls, `proxy_http_call upstream="probe-cluster" headers=:method=GET,:path=/probe body="callout body" trailers=t=v timeout=1500`) ||
				!slices.Contains(logs, "probe cb http_stream_done 2") {
				t.Fatalf("the callout was not sent, or its context not ended: calls %q, logs %q", calls, logs)
			}

			h.mustCall("proxy_on_http_call_response", rootID, answerCalloutID, 1, uint64(len(answerCalloutBody)), 1)
			calls, logs = h.takeCalls()
			compareLines(t, "answer: host calls", calls, tt.calls)
			compareLines(t, "answer: probe logs", logs, tt.logs)
		})
	}
}

// TestGlueCallbacks calls every callback export with distinctive arguments
// and checks that each reached the plugin with them, and that the plugin's
// answer came back as the export's result.
func TestGlueCallbacks(t *testing.T) {
	h := newRecordHost(t)
	startProbe(t, h)
	h.takeCalls()

	const noResult = ^uint64(0)
	steps := []struct {
		export     string
		args       []uint64
		wantResult uint64 // noResult for exports without one
		wantLogs   []string
	}{
		{"proxy_abi_version_0_2_0", nil, noResult, nil},
		{"proxy_on_tick", []uint64{rootID}, noResult, []string{"probe cb tick 1"}},
		{"proxy_on_queue_ready", []uint64{rootID, 12}, noResult, []string{"probe cb queue_ready 1 12"}},
		{"proxy_on_context_create", []uint64{httpID, rootID}, noResult, []string{"probe cb new_http_context 1 2"}},
		// No x-probe-command header: the probe just continues. The bool
		// word 2 must read as true (any non-zero word is true).
		{"proxy_on_request_headers", []uint64{httpID, 4, 2}, 0, []string{
			"probe cb request_headers 2 4 true", "probe ret get_header_map_value error_status_returned_by_host:_not_found"}},
		{"proxy_on_request_body", []uint64{httpID, 16, 0}, 1, []string{"probe cb request_body 2 16 false"}},
		{"proxy_on_request_body", []uint64{httpID, 16, 1}, 0, []string{
			"probe cb request_body 2 16 true", `probe ret request_body "0123456789abcdef" ok`}},
		{"proxy_on_request_trailers", []uint64{httpID, 2}, 1, []string{"probe cb request_trailers 2 2"}},
		{"proxy_on_response_headers", []uint64{httpID, 5, 1}, 0, []string{"probe cb response_headers 2 5 true"}},
		{"proxy_on_response_body", []uint64{httpID, 8, 0}, 1, []string{"probe cb response_body 2 8 false"}},
		{"proxy_on_response_trailers", []uint64{httpID, 3}, 0, []string{"probe cb response_trailers 2 3"}},
		{"proxy_on_log", []uint64{httpID}, noResult, []string{"probe cb http_stream_done 2"}},
		{"proxy_on_delete", []uint64{httpID}, noResult, nil},
		{"proxy_on_context_create", []uint64{tcpID, rootID}, noResult, []string{"probe cb new_tcp_context 1 1000"}},
		{"proxy_on_new_connection", []uint64{tcpID}, 1, []string{"probe cb new_connection 1000"}},
		{"proxy_on_downstream_data", []uint64{tcpID, 7, 0}, 0, []string{"probe cb downstream_data 1000 7 false"}},
		{"proxy_on_upstream_data", []uint64{tcpID, 9, 1}, 1, []string{"probe cb upstream_data 1000 9 true"}},
		{"proxy_on_downstream_connection_close", []uint64{tcpID, 1}, noResult, []string{"probe cb downstream_close 1000 1"}},
		{"proxy_on_upstream_connection_close", []uint64{tcpID, 2}, noResult, []string{"probe cb upstream_close 1000 2"}},
		{"proxy_on_log", []uint64{tcpID}, noResult, []string{"probe cb stream_done 1000"}},
		{"proxy_on_delete", []uint64{tcpID}, noResult, nil},
		// OnPluginDone answers false: the plugin wants time to finish.
		{"proxy_on_done", []uint64{rootID}, 0, []string{"probe cb plugin_done 1"}},
		{"proxy_on_delete", []uint64{rootID}, noResult, nil},
	}
	reached := map[string]bool{"proxy_on_vm_start": true, "proxy_on_configure": true}
	for i, step := range steps {
		res, err := h.call(step.export, step.args...)
		if err != nil {
			t.Fatalf("step %d: %s%v trapped: %v\n%s", i, step.export, step.args, err, h.output())
		}
		reached[step.export] = true
		switch {
		case step.wantResult == noResult && len(res) != 0:
			t.Errorf("step %d: %s returned %v, want no result", i, step.export, res)
		case step.wantResult != noResult && (len(res) != 1 || res[0] != step.wantResult):
			t.Errorf("step %d: %s%v = %v, want %d", i, step.export, step.args, res, step.wantResult)
		}
		_, logs := h.takeCalls()
		compareLines(t, step.export, logs, step.wantLogs)
	}
	for name := range callbackSignatures {
		if name != "proxy_on_memory_allocate" && name != "proxy_on_http_call_response" && !reached[name] {
			t.Errorf("%s is not exercised here", name) // http_call_response: TestGlueHostCalls
		}
	}
}

// TestGlueMemoryAllocate checks proxy_on_memory_allocate: every size,
// including 0, gets memory inside the module's memory that the host can
// write. (Blocks are not checked for overlap: nothing in the module refers
// to them, so a GC may rightly recycle one for the next.)
func TestGlueMemoryAllocate(t *testing.T) {
	h := newRecordHost(t)
	startProbe(t, h)
	for _, size := range []uint32{0, 1, 7, 100, 4096, 1 << 20} {
		ptr := h.allocate(h.module, size)
		if ptr == 0 {
			t.Fatalf("proxy_on_memory_allocate(%d) = 0", size)
		}
		n := max(size, 1)
		if uint64(ptr)+uint64(n) > uint64(h.module.Memory().Size()) {
			t.Fatalf("proxy_on_memory_allocate(%d) = %#x, past the memory's %d bytes", size, ptr, h.module.Memory().Size())
		}
		if !h.module.Memory().Write(ptr, []byte(strings.Repeat("x", int(n)))) {
			t.Fatalf("cannot write the block of proxy_on_memory_allocate(%d)", size)
		}
	}
}

// compareLines fails t unless got equals want, showing both.
func compareLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\ngot  %d lines:\n\t%s\nwant %d lines:\n\t%s", what,
			len(got), strings.Join(got, "\n\t"), len(want), strings.Join(want, "\n\t"))
	}
}
