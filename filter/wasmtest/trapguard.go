package wasmtest

import (
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// The SDK's wasm wrapper panics when a call into the module fails (a trap,
// a Go panic inside the module, a missing export). A panic would abort the
// whole test binary; these wrappers turn it into a failure of the one test
// that caused it, naming the callback. The proxytest emulator calls them on
// the test's goroutine, so t.Fatalf is allowed. (Calls the SDK's wrapper
// makes outside these methods, such as the proxy_on_http_call_response of
// a callout, still panic.)

// guard runs call and fails the test if it panics.
func guard(t testing.TB, callback string, call func()) {
	t.Helper()
	failed := true
	defer func() {
		if !failed {
			return
		}
		// recover is nil when call ended by runtime.Goexit (a t.FailNow
		// further down); let that continue.
		if r := recover(); r != nil {
			t.Fatalf("wasmtest: the module failed in %s: %v", callback, r)
		}
	}()
	call()
	failed = false
}

// trapGuardVM wraps the module's types.VMContext.
type trapGuardVM struct {
	t  testing.TB
	vm types.VMContext
}

func (g *trapGuardVM) OnVMStart(vmConfigurationSize int) (status types.OnVMStartStatus) {
	guard(g.t, "proxy_on_vm_start", func() { status = g.vm.OnVMStart(vmConfigurationSize) })
	return status
}

func (g *trapGuardVM) NewPluginContext(contextID uint32) (ctx types.PluginContext) {
	guard(g.t, "proxy_on_context_create", func() { ctx = g.vm.NewPluginContext(contextID) })
	if ctx == nil {
		return nil
	}
	return &trapGuardPlugin{t: g.t, plugin: ctx}
}

// trapGuardPlugin wraps a plugin (root) context of the module.
type trapGuardPlugin struct {
	t      testing.TB
	plugin types.PluginContext
}

func (g *trapGuardPlugin) OnPluginStart(pluginConfigurationSize int) (status types.OnPluginStartStatus) {
	guard(g.t, "proxy_on_configure", func() { status = g.plugin.OnPluginStart(pluginConfigurationSize) })
	return status
}

func (g *trapGuardPlugin) OnPluginDone() (done bool) {
	guard(g.t, "proxy_on_done", func() { done = g.plugin.OnPluginDone() })
	return done
}

func (g *trapGuardPlugin) OnQueueReady(queueID uint32) {
	guard(g.t, "proxy_on_queue_ready", func() { g.plugin.OnQueueReady(queueID) })
}

func (g *trapGuardPlugin) OnTick() {
	guard(g.t, "proxy_on_tick", func() { g.plugin.OnTick() })
}

func (g *trapGuardPlugin) NewTcpContext(contextID uint32) (ctx types.TcpContext) {
	guard(g.t, "proxy_on_context_create", func() { ctx = g.plugin.NewTcpContext(contextID) })
	return ctx // always nil: the SDK's wrapper supports HTTP contexts only
}

func (g *trapGuardPlugin) NewHttpContext(contextID uint32) (ctx types.HttpContext) {
	guard(g.t, "proxy_on_context_create", func() { ctx = g.plugin.NewHttpContext(contextID) })
	if ctx == nil {
		return nil
	}
	return &trapGuardHTTP{t: g.t, http: ctx}
}

// trapGuardHTTP wraps an HTTP context of the module.
type trapGuardHTTP struct {
	t    testing.TB
	http types.HttpContext
}

func (g *trapGuardHTTP) OnHttpRequestHeaders(numHeaders int, endOfStream bool) (action types.Action) {
	guard(g.t, "proxy_on_request_headers", func() { action = g.http.OnHttpRequestHeaders(numHeaders, endOfStream) })
	return action
}

func (g *trapGuardHTTP) OnHttpRequestBody(bodySize int, endOfStream bool) (action types.Action) {
	guard(g.t, "proxy_on_request_body", func() { action = g.http.OnHttpRequestBody(bodySize, endOfStream) })
	return action
}

func (g *trapGuardHTTP) OnHttpRequestTrailers(numTrailers int) (action types.Action) {
	guard(g.t, "proxy_on_request_trailers", func() { action = g.http.OnHttpRequestTrailers(numTrailers) })
	return action
}

func (g *trapGuardHTTP) OnHttpResponseHeaders(numHeaders int, endOfStream bool) (action types.Action) {
	guard(g.t, "proxy_on_response_headers", func() { action = g.http.OnHttpResponseHeaders(numHeaders, endOfStream) })
	return action
}

func (g *trapGuardHTTP) OnHttpResponseBody(bodySize int, endOfStream bool) (action types.Action) {
	guard(g.t, "proxy_on_response_body", func() { action = g.http.OnHttpResponseBody(bodySize, endOfStream) })
	return action
}

func (g *trapGuardHTTP) OnHttpResponseTrailers(numTrailers int) (action types.Action) {
	guard(g.t, "proxy_on_response_trailers", func() { action = g.http.OnHttpResponseTrailers(numTrailers) })
	return action
}

func (g *trapGuardHTTP) OnHttpStreamDone() {
	guard(g.t, "proxy_on_log", func() { g.http.OnHttpStreamDone() })
}
