// Command probe is a proxy-wasm plugin that exists to test the SDK glue
// (filter/wasmbuild/_glue) and the runtime patch: built with the same glue as the
// filter, it implements every callback the SDK has, logging each call with
// its arguments, and on request calls every host function the SDK has with
// known arguments, logging what each returned. Tests in
// filter/wasmtest build it and run it under a recording host.
//
// Every log line starts with "probe " and is one of
//
//	probe cb <callback> <args...>      a callback reached the plugin
//	probe ret <host call> <results...> what a host call returned
//	probe did <command>                a command finished
//
// The HTTP context runs the command named by the request header
// x-probe-command (see runCommand).
package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
	_ "unsafe" // go:linkname

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

func init() { proxywasm.SetVMContext(&vm{}) }

func main() {}

// logf logs one probe line at info level.
func logf(format string, args ...any) {
	proxywasm.LogInfof("probe "+format, args...)
}

// errText renders an error for a log line ("ok" for nil).
func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return strings.ReplaceAll(err.Error(), " ", "_")
}

// tcpContextIDs at or above this value get a TCP context, lower ones an
// HTTP context.
const firstTCPContextID = 1000

type vm struct{}

func (*vm) OnVMStart(vmConfigurationSize int) types.OnVMStartStatus {
	config, err := proxywasm.GetVMConfiguration()
	logf("cb vm_start %d %q %s", vmConfigurationSize, config, errText(err))
	return types.OnVMStartStatusOK
}

func (*vm) NewPluginContext(contextID uint32) types.PluginContext {
	logf("cb new_plugin_context %d", contextID)
	return &plugin{id: contextID}
}

type plugin struct {
	id uint32
}

func (p *plugin) OnPluginStart(pluginConfigurationSize int) types.OnPluginStartStatus {
	config, err := proxywasm.GetPluginConfiguration()
	logf("cb plugin_start %d %d %q %s", p.id, pluginConfigurationSize, config, errText(err))
	return string(config) != "reject"
}

func (p *plugin) OnPluginDone() bool {
	logf("cb plugin_done %d", p.id)
	return false // exercises the bool result; the host then waits for proxy_done
}

func (p *plugin) OnQueueReady(queueID uint32) {
	logf("cb queue_ready %d %d", p.id, queueID)
}

func (p *plugin) OnTick() {
	logf("cb tick %d", p.id)
}

func (p *plugin) NewTcpContext(contextID uint32) types.TcpContext {
	logf("cb new_tcp_context %d %d", p.id, contextID)
	return &tcp{id: contextID}
}

func (p *plugin) NewHttpContext(contextID uint32) types.HttpContext {
	if contextID >= firstTCPContextID {
		return nil // the SDK then asks NewTcpContext
	}
	logf("cb new_http_context %d %d", p.id, contextID)
	return &http{id: contextID, rootID: p.id}
}

type tcp struct {
	types.DefaultTcpContext
	id uint32
}

func (c *tcp) OnNewConnection() types.Action {
	logf("cb new_connection %d", c.id)
	return types.ActionPause
}

func (c *tcp) OnDownstreamData(dataSize int, endOfStream bool) types.Action {
	logf("cb downstream_data %d %d %t", c.id, dataSize, endOfStream)
	return types.ActionContinue
}

func (c *tcp) OnDownstreamClose(peerType types.PeerType) {
	logf("cb downstream_close %d %d", c.id, peerType)
}

func (c *tcp) OnUpstreamData(dataSize int, endOfStream bool) types.Action {
	logf("cb upstream_data %d %d %t", c.id, dataSize, endOfStream)
	return types.ActionPause
}

func (c *tcp) OnUpstreamClose(peerType types.PeerType) {
	logf("cb upstream_close %d %d", c.id, peerType)
}

func (c *tcp) OnStreamDone() {
	logf("cb stream_done %d", c.id)
}

type http struct {
	id, rootID uint32
}

func (h *http) OnHttpRequestHeaders(numHeaders int, endOfStream bool) types.Action {
	logf("cb request_headers %d %d %t", h.id, numHeaders, endOfStream)
	command, err := proxywasm.GetHttpRequestHeader("x-probe-command")
	if err != nil {
		logf("ret get_header_map_value %s", errText(err))
		return types.ActionContinue
	}
	return runCommand(h, command)
}

func (h *http) OnHttpRequestBody(bodySize int, endOfStream bool) types.Action {
	logf("cb request_body %d %d %t", h.id, bodySize, endOfStream)
	if !endOfStream {
		return types.ActionPause
	}
	body, err := proxywasm.GetHttpRequestBody(0, bodySize)
	logf("ret request_body %q %s", body, errText(err))
	return types.ActionContinue
}

func (h *http) OnHttpRequestTrailers(numTrailers int) types.Action {
	logf("cb request_trailers %d %d", h.id, numTrailers)
	return types.ActionPause
}

func (h *http) OnHttpResponseHeaders(numHeaders int, endOfStream bool) types.Action {
	logf("cb response_headers %d %d %t", h.id, numHeaders, endOfStream)
	return types.ActionContinue
}

func (h *http) OnHttpResponseBody(bodySize int, endOfStream bool) types.Action {
	logf("cb response_body %d %d %t", h.id, bodySize, endOfStream)
	return types.ActionPause
}

func (h *http) OnHttpResponseTrailers(numTrailers int) types.Action {
	logf("cb response_trailers %d %d", h.id, numTrailers)
	return types.ActionContinue
}

func (h *http) OnHttpStreamDone() {
	logf("cb http_stream_done %d", h.id)
}

// runCommand runs one probe command in an HTTP context.
//
//	tour             call every host function of the SDK (see tour)
//	reply            send a local reply 418 and stop the request
//	sleep            time.Sleep(2ms): starts the runtime's poller and waits in netpoll
//	gc               runtime.GC(): every GC polls once the poller runs
//	churn            allocate and drop 64 MiB in 1 MiB pieces (several GCs)
//	panic            panic, which traps the module
//	callout          dispatch the tour's HTTP callout alone
//	deliver-orphans  set the glue's glueDeliverOrphanedCallouts
func runCommand(h *http, command string) types.Action {
	switch command {
	case "tour":
		tour(h)
	case "callout":
		callout(h)
	case "deliver-orphans":
		deliverOrphanedCallouts = true
	case "reply":
		err := proxywasm.SendHttpResponse(418, [][2]string{{"x-probe", "reply"}}, []byte("probe reply"), -1)
		logf("ret send_local_response %s", errText(err))
		return types.ActionPause
	case "sleep":
		start := time.Now()
		time.Sleep(2 * time.Millisecond)
		logf("did sleep %t", time.Since(start) >= 2*time.Millisecond)
		return types.ActionContinue
	case "gc":
		runtime.GC()
	case "churn":
		for i := 0; i < 64; i++ {
			keep = make([]byte, 1<<20)
		}
		keep = nil
	case "panic":
		panic("probe: panic on request")
	default:
		logf("did unknown %q", command)
		return types.ActionContinue
	}
	logf("did %s", command)
	return types.ActionContinue
}

// keep holds churned memory so the compiler cannot drop the allocations.
var keep []byte

// tour calls every host function the SDK has, with fixed arguments that the
// recording host checks, and logs what each returned. The host's answers
// are scripted by the test (see glue_test.go).
func tour(h *http) {
	// proxy_log at every level (info is used by logf throughout).
	proxywasm.LogTrace("probe level trace")
	proxywasm.LogDebug("probe level debug")
	proxywasm.LogWarn("probe level warn")
	proxywasm.LogError("probe level error")
	proxywasm.LogCritical("probe level critical")

	// Properties.
	value, err := proxywasm.GetProperty([]string{"plugin_root_id"})
	logf("ret get_property %q %s", value, errText(err))
	err = proxywasm.SetProperty([]string{"filter_state", "probe"}, []byte("set-value"))
	logf("ret set_property %s", errText(err))

	// Shared data.
	data, cas, err := proxywasm.GetSharedData("probe-key")
	logf("ret get_shared_data %q %d %s", data, cas, errText(err))
	err = proxywasm.SetSharedData("probe-key", []byte("probe-value"), 77)
	logf("ret set_shared_data %s", errText(err))

	// Shared queues.
	queueID, err := proxywasm.RegisterSharedQueue("probe-queue")
	logf("ret register_shared_queue %d %s", queueID, errText(err))
	resolvedID, err := proxywasm.ResolveSharedQueue("probe-vm", "probe-queue")
	logf("ret resolve_shared_queue %d %s", resolvedID, errText(err))
	err = proxywasm.EnqueueSharedQueue(queueID, []byte("queued"))
	logf("ret enqueue_shared_queue %s", errText(err))
	item, err := proxywasm.DequeueSharedQueue(queueID)
	logf("ret dequeue_shared_queue %q %s", item, errText(err))

	// Header maps.
	headers, err := proxywasm.GetHttpRequestHeaders()
	logf("ret get_header_map_pairs %s %s", pairs(headers), errText(err))
	err = proxywasm.ReplaceHttpRequestHeaders([][2]string{{"a", "1"}, {"bb", "22"}})
	logf("ret set_header_map_pairs %s", errText(err))
	err = proxywasm.AddHttpRequestHeader("x-added", "add")
	logf("ret add_header_map_value %s", errText(err))
	err = proxywasm.ReplaceHttpRequestHeader("x-replaced", "rep")
	logf("ret replace_header_map_value %s", errText(err))
	err = proxywasm.RemoveHttpRequestHeader("x-removed")
	logf("ret remove_header_map_value %s", errText(err))

	// Buffers.
	body, err := proxywasm.GetHttpRequestBody(3, 5)
	logf("ret get_buffer_bytes %q %s", body, errText(err))
	err = proxywasm.ReplaceHttpRequestBody([]byte("new body"))
	logf("ret set_buffer_bytes %s", errText(err))

	// Streams.
	err = proxywasm.ResumeHttpRequest()
	logf("ret continue_stream %s", errText(err))
	err = proxywasm.CloseDownstream()
	logf("ret close_stream %s", errText(err))
	err = proxywasm.SendHttpResponse(429, [][2]string{{"retry-after", "7"}}, []byte("limited"), -1)
	logf("ret send_local_response %s", errText(err))

	callout(h)

	// Foreign function.
	result, err := proxywasm.CallForeignFunction("probe_fn", []byte("param"))
	logf("ret call_foreign_function %q %s", result, errText(err))

	// Timers and contexts.
	err = proxywasm.SetTickPeriodMilliSeconds(250)
	logf("ret set_tick_period_milliseconds %s", errText(err))
	err = proxywasm.SetEffectiveContext(h.id)
	logf("ret set_effective_context %s", errText(err))
	proxywasm.PluginDone()
	logf("ret done")

	// Metrics.
	counter := proxywasm.DefineCounterMetric("probe_counter")
	counter.Increment(5)
	logf("ret get_metric counter %d", counter.Value())
	gauge := proxywasm.DefineGaugeMetric("probe_gauge")
	gauge.Add(-3)
	histogram := proxywasm.DefineHistogramMetric("probe_histogram")
	histogram.Record(1234)
	logf("ret define_metric %d %d %d", counter, gauge, histogram)
}

// callout dispatches an HTTP callout; its response arrives through
// proxy_on_http_call_response.
func callout(h *http) {
	calloutID, err := proxywasm.DispatchHttpCall("probe-cluster",
		[][2]string{{":method", "GET"}, {":path", "/probe"}}, []byte("callout body"),
		[][2]string{{"t", "v"}}, 1500, h.onCalloutResponse)
	logf("ret http_call %d %s", calloutID, errText(err))
}

// deliverOrphanedCallouts is the glue's glueDeliverOrphanedCallouts
// (filter/wasmbuild/_glue), set by the command deliver-orphans.
//
//go:linkname deliverOrphanedCallouts github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal.glueDeliverOrphanedCallouts
var deliverOrphanedCallouts bool

// onCalloutResponse is the callback of the tour's http_call.
func (h *http) onCalloutResponse(numHeaders, bodySize, numTrailers int) {
	logf("cb http_call_response %d %d %d %d", h.id, numHeaders, bodySize, numTrailers)
	headers, err := proxywasm.GetHttpCallResponseHeaders()
	logf("ret callout_headers %s %s", pairs(headers), errText(err))
	body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
	logf("ret callout_body %q %s", body, errText(err))
	trailers, err := proxywasm.GetHttpCallResponseTrailers()
	logf("ret callout_trailers %s %s", pairs(trailers), errText(err))
}

// pairs renders a header list as k=v,k=v.
func pairs(headers [][2]string) string {
	parts := make([]string, len(headers))
	for i, h := range headers {
		parts[i] = fmt.Sprintf("%s=%s", h[0], h[1])
	}
	return strings.Join(parts, ",")
}
