package proxywasm

import (
	"fmt"
	"strings"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/shareddata"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/stats"
)

// Header map types (proxy-wasm ABI WasmHeaderMapType).
const (
	mapRequestHeaders           = 0
	mapRequestTrailers          = 1
	mapResponseHeaders          = 2
	mapResponseTrailers         = 3
	mapGrpcInitialMetadata      = 4
	mapGrpcTrailingMetadata     = 5
	mapHTTPCallResponseHeaders  = 6
	mapHTTPCallResponseTrailers = 7
	mapMax                      = 7
)

// Buffer types (proxy-wasm ABI WasmBufferType).
const (
	bufRequestBody          = 0
	bufResponseBody         = 1
	bufDownstreamData       = 2
	bufUpstreamData         = 3
	bufHTTPCallResponseBody = 4
	bufGrpcReceive          = 5
	bufVMConfiguration      = 6
	bufPluginConfiguration  = 7
	bufCallData             = 8
	bufMax                  = 8
)

// Stream types (proxy-wasm ABI WasmStreamType).
const (
	streamRequest    = 0
	streamResponse   = 1
	streamDownstream = 2
	streamUpstream   = 3
)

// Metric ids carry their type in the low two bits and grow by 4
// (Envoy source/extensions/common/wasm/wasm.h kMetricTypeMask,
// kMetricIdIncrement).
const (
	metricTypeMask    = 0x3
	metricIDIncrement = 0x4
)

func ok(s []uint64, r Result) { s[0] = uint64(r) }

func envFunctions() []hostFunc {
	return []hostFunc{
		{"proxy_log", types(i32, i32, i32), types(i32), abiLog},
		{"proxy_get_log_level", types(i32), types(i32), func(vm *VM, s []uint64) {
			if !vm.putU32(uint32(s[0]), uint32(vm.env.LogLevel)) {
				ok(s, ResultInvalidMemoryAccess)
				return
			}
			ok(s, ResultOK)
		}},
		{"proxy_get_current_time_nanoseconds", types(i32), types(i32), func(vm *VM, s []uint64) {
			if !vm.putU64(uint32(s[0]), uint64(vm.env.now().UnixNano())) {
				ok(s, ResultInvalidMemoryAccess)
				return
			}
			ok(s, ResultOK)
		}},
		{"proxy_set_tick_period_milliseconds", types(i32), types(i32), func(vm *VM, s []uint64) {
			r := vm.rootOf(vm.contextOf())
			if r == nil {
				ok(s, ResultBadArgument)
				return
			}
			r.setTickPeriod(time.Duration(uint32(s[0])) * time.Millisecond)
			ok(s, ResultOK)
		}},
		{"proxy_get_property", types(i32, i32, i32, i32), types(i32), abiGetProperty},
		{"proxy_set_property", types(i32, i32, i32, i32), types(i32), abiSetProperty},
		{"proxy_get_status", types(i32, i32, i32), types(i32), abiGetStatus},
		{"proxy_send_local_response", types(i32, i32, i32, i32, i32, i32, i32, i32), types(i32), abiSendLocalResponse},
		{"proxy_clear_route_cache", nil, types(i32), func(vm *VM, s []uint64) { ok(s, ResultOK) }},
		{"proxy_get_shared_data", types(i32, i32, i32, i32, i32), types(i32), abiGetSharedData},
		{"proxy_set_shared_data", types(i32, i32, i32, i32, i32), types(i32), abiSetSharedData},
		{"proxy_register_shared_queue", types(i32, i32, i32), types(i32), abiRegisterQueue},
		{"proxy_resolve_shared_queue", types(i32, i32, i32, i32, i32), types(i32), abiResolveQueue},
		{"proxy_dequeue_shared_queue", types(i32, i32, i32), types(i32), abiDequeue},
		{"proxy_enqueue_shared_queue", types(i32, i32, i32), types(i32), abiEnqueue},
		{"proxy_get_header_map_value", types(i32, i32, i32, i32, i32), types(i32), abiGetHeaderMapValue},
		{"proxy_add_header_map_value", types(i32, i32, i32, i32, i32), types(i32), abiAddHeaderMapValue},
		{"proxy_replace_header_map_value", types(i32, i32, i32, i32, i32), types(i32), abiReplaceHeaderMapValue},
		{"proxy_remove_header_map_value", types(i32, i32, i32), types(i32), abiRemoveHeaderMapValue},
		{"proxy_get_header_map_pairs", types(i32, i32, i32), types(i32), abiGetHeaderMapPairs},
		{"proxy_set_header_map_pairs", types(i32, i32, i32), types(i32), abiSetHeaderMapPairs},
		{"proxy_get_header_map_size", types(i32, i32), types(i32), abiGetHeaderMapSize},
		{"proxy_get_buffer_bytes", types(i32, i32, i32, i32, i32), types(i32), abiGetBufferBytes},
		{"proxy_get_buffer_status", types(i32, i32, i32), types(i32), abiGetBufferStatus},
		{"proxy_set_buffer_bytes", types(i32, i32, i32, i32, i32), types(i32), abiSetBufferBytes},
		{"proxy_continue_stream", types(i32), types(i32), func(vm *VM, s []uint64) { ok(s, abiContinue(vm, uint32(s[0]))) }},
		{"proxy_close_stream", types(i32), types(i32), func(vm *VM, s []uint64) { ok(s, abiClose(vm, uint32(s[0]))) }},
		{"proxy_continue_request", nil, types(i32), func(vm *VM, s []uint64) { ok(s, abiContinue(vm, streamRequest)) }},
		{"proxy_continue_response", nil, types(i32), func(vm *VM, s []uint64) { ok(s, abiContinue(vm, streamResponse)) }},
		{"proxy_http_call", types(i32, i32, i32, i32, i32, i32, i32, i32, i32, i32), types(i32), abiHTTPCall},
		{"proxy_grpc_call", types(i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32), types(i32), unimplemented},
		{"proxy_grpc_stream", types(i32, i32, i32, i32, i32, i32, i32, i32, i32), types(i32), unimplemented},
		{"proxy_grpc_cancel", types(i32), types(i32), unimplemented},
		{"proxy_grpc_close", types(i32), types(i32), unimplemented},
		{"proxy_grpc_send", types(i32, i32, i32, i32), types(i32), unimplemented},
		{"proxy_define_metric", types(i32, i32, i32, i32), types(i32), abiDefineMetric},
		{"proxy_increment_metric", types(i32, i64), types(i32), abiIncrementMetric},
		{"proxy_record_metric", types(i32, i64), types(i32), abiRecordMetric},
		{"proxy_get_metric", types(i32, i32), types(i32), abiGetMetric},
		{"proxy_set_effective_context", types(i32), types(i32), func(vm *VM, s []uint64) {
			// exports.cc set_effective_context: unknown id -> BadArgument.
			id := uint32(s[0])
			if _, isRoot := vm.roots[id]; !isRoot {
				if _, isStream := vm.streams[id]; !isStream {
					ok(s, ResultBadArgument)
					return
				}
			}
			vm.effective = id
			ok(s, ResultOK)
		}},
		{"proxy_done", nil, types(i32), func(vm *VM, s []uint64) {
			// WasmBase::done: only a root context waiting after on_done.
			r := vm.roots[vm.contextOf()]
			if r == nil || !r.pendingDone {
				ok(s, ResultNotFound)
				return
			}
			r.pendingDone = false
			// Deferred so on_delete does not run inside the done() call.
			go func() {
				vm.mu.Lock()
				defer vm.mu.Unlock()
				if vm.failed == nil && !vm.closed {
					r.deleteLocked()
				}
			}()
			ok(s, ResultOK)
		}},
		{"proxy_call_foreign_function", types(i32, i32, i32, i32, i32, i32), types(i32), func(vm *VM, s []uint64) {
			// No foreign functions are registered in the local host.
			ok(s, ResultNotFound)
		}},
	}
}

func unimplemented(vm *VM, s []uint64) { ok(s, ResultUnimplemented) }

func abiLog(vm *VM, s []uint64) {
	level := LogLevel(uint32(s[0]))
	if level > LogCritical+1 {
		ok(s, ResultBadArgument)
		return
	}
	msg, good := vm.read(uint32(s[1]), uint32(s[2]))
	if !good {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	if level > LogCritical {
		level = LogCritical
	}
	vm.moduleLog(level, string(msg))
	ok(s, ResultOK)
}

func abiGetStatus(vm *VM, s []uint64) {
	code := uint32(ResultOK)
	msg := ""
	if r := vm.rootOf(vm.contextOf()); r != nil && r.calloutResponse != nil && r.calloutResponse.Err != nil {
		// Envoy onHttpCallFailure: status BrokenConnection, message "reset".
		code, msg = uint32(ResultBrokenConnection), "reset"
	}
	if !vm.putU32(uint32(s[0]), code) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, vm.copyOut([]byte(msg), uint32(s[1]), uint32(s[2])))
}

func abiSendLocalResponse(vm *VM, s []uint64) {
	// The reply outlives the call: its body and headers are copied, the
	// details turned into a string.
	details, ok1 := vm.view(uint32(s[1]), uint32(s[2]))
	body, ok2 := vm.read(uint32(s[3]), uint32(s[4]))
	hdrs, ok3 := vm.view(uint32(s[5]), uint32(s[6]))
	if !ok1 || !ok2 || !ok3 {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	st := vm.streams[vm.contextOf()]
	if st == nil {
		// Only an HTTP context has decoder callbacks; Envoy does nothing.
		ok(s, ResultOK)
		return
	}
	// Envoy replaces whitespace in details by "_" (StringUtil::replaceAllEmptySpace).
	d := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v' {
			return '_'
		}
		return r
	}, string(details))
	st.sendLocalResponse(filterchain.LocalReply{
		Status:  int(uint32(s[0])),
		Body:    body,
		Headers: lowerPairs(unmarshalPairs(hdrs)),
		Details: d,
	})
	ok(s, ResultOK)
}

func lowerPairs(p [][2]string) [][2]string {
	for i := range p {
		p[i][0] = strings.ToLower(p[i][0])
	}
	return p
}

func abiGetSharedData(vm *VM, s []uint64) {
	key, good := vm.view(uint32(s[0]), uint32(s[1]))
	if !good {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	value, cas, res := vm.env.SharedData.AppendValue(vm.scratch[:0], vm.cfg.VMID, key)
	vm.scratch = value
	if res != shareddata.OK {
		ok(s, Result(res))
		return
	}
	if r := vm.copyOut(value, uint32(s[2]), uint32(s[3])); r != ResultOK {
		ok(s, r)
		return
	}
	if !vm.putU32(uint32(s[4]), cas) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, ResultOK)
}

func abiSetSharedData(vm *VM, s []uint64) {
	key, ok1 := vm.view(uint32(s[0]), uint32(s[1]))
	value, ok2 := vm.view(uint32(s[2]), uint32(s[3]))
	if !ok1 || !ok2 {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, Result(vm.env.SharedData.SetBytes(vm.cfg.VMID, key, value, uint32(s[4]))))
}

func abiRegisterQueue(vm *VM, s []uint64) {
	name, good := vm.read(uint32(s[0]), uint32(s[1]))
	if !good {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	id := vm.contextOf()
	token := vm.env.Queues.Register(vm.cfg.VMID, string(name), id, func(contextID, token uint32) {
		// Envoy posts on_queue_ready to the registering worker's dispatcher.
		go vm.deliverQueueReady(contextID, token)
	})
	if !vm.putU32(uint32(s[2]), token) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, ResultOK)
}

func abiResolveQueue(vm *VM, s []uint64) {
	vmID, ok1 := vm.read(uint32(s[0]), uint32(s[1]))
	name, ok2 := vm.read(uint32(s[2]), uint32(s[3]))
	if !ok1 || !ok2 {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	token := vm.env.Queues.Resolve(string(vmID), string(name))
	if token == 0 {
		ok(s, ResultNotFound)
		return
	}
	if !vm.putU32(uint32(s[4]), token) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, ResultOK)
}

func abiDequeue(vm *VM, s []uint64) {
	data, res := vm.env.Queues.Dequeue(uint32(s[0]))
	if res != shareddata.OK {
		ok(s, Result(res))
		return
	}
	ok(s, vm.copyOut(data, uint32(s[1]), uint32(s[2])))
}

func abiEnqueue(vm *VM, s []uint64) {
	data, good := vm.view(uint32(s[1]), uint32(s[2]))
	if !good {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, Result(vm.env.Queues.Enqueue(uint32(s[0]), data)))
}

// headerMap returns the map a host call addresses; mutable asks for a map
// that may be changed (Envoy Context::getMap vs getConstMap).
func (vm *VM) headerMap(t uint32, mutable bool) *filterchain.HeaderMap {
	id := vm.contextOf()
	switch t {
	case mapHTTPCallResponseHeaders, mapHTTPCallResponseTrailers:
		if mutable {
			return nil
		}
		r := vm.rootOf(id)
		if r == nil || r.calloutResponse == nil {
			return nil
		}
		if t == mapHTTPCallResponseHeaders {
			return filterchain.NewHeaderMap(r.calloutResponse.Headers...)
		}
		return filterchain.NewHeaderMap(r.calloutResponse.Trailers...)
	case mapGrpcInitialMetadata, mapGrpcTrailingMetadata:
		return nil
	}
	st := vm.streams[id]
	if st == nil {
		return nil
	}
	return st.headerMap(t, mutable)
}

func abiGetHeaderMapValue(vm *VM, s []uint64) {
	t := uint32(s[0])
	if t > mapMax {
		ok(s, ResultBadArgument)
		return
	}
	key, good := vm.read(uint32(s[1]), uint32(s[2]))
	if !good {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	m := vm.headerMap(t, false)
	if m == nil {
		// Envoy: NotFound in the access-log phase, else BadArgument
		// ("Requested map type is not currently available").
		if st := vm.streams[vm.contextOf()]; st != nil && st.logPhase {
			ok(s, ResultNotFound)
			return
		}
		ok(s, ResultBadArgument)
		return
	}
	// First value only (Envoy getHeaderMapValue: entry[0]).
	v, found := m.Get(string(key))
	if !found {
		ok(s, ResultNotFound)
		return
	}
	ok(s, vm.copyOut([]byte(v), uint32(s[3]), uint32(s[4])))
}

func abiAddHeaderMapValue(vm *VM, s []uint64) {
	headerMutation(vm, s, func(m *filterchain.HeaderMap, k, v string) { m.Add(k, v) }, true)
}

func abiReplaceHeaderMapValue(vm *VM, s []uint64) {
	headerMutation(vm, s, func(m *filterchain.HeaderMap, k, v string) { m.Set(k, v) }, true)
}

func abiRemoveHeaderMapValue(vm *VM, s []uint64) {
	headerMutation(vm, s, func(m *filterchain.HeaderMap, k, _ string) { m.Remove(k) }, false)
}

func headerMutation(vm *VM, s []uint64, apply func(m *filterchain.HeaderMap, k, v string), withValue bool) {
	t := uint32(s[0])
	if t > mapMax {
		ok(s, ResultBadArgument)
		return
	}
	key, ok1 := vm.read(uint32(s[1]), uint32(s[2]))
	value, ok2 := []byte(nil), true
	if withValue {
		value, ok2 = vm.read(uint32(s[3]), uint32(s[4]))
	}
	if !ok1 || !ok2 {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	m := vm.headerMap(t, true)
	if m == nil {
		ok(s, ResultBadArgument)
		return
	}
	apply(m, strings.ToLower(string(key)), string(value))
	ok(s, ResultOK)
}

func abiGetHeaderMapPairs(vm *VM, s []uint64) {
	t := uint32(s[0])
	if t > mapMax {
		ok(s, ResultBadArgument)
		return
	}
	var pairs [][2]string
	if m := vm.headerMap(t, false); m != nil {
		pairs = m.Pairs()
	}
	// An absent map gives an empty list (Envoy headerMapToPairs(nullptr)).
	vm.scratch = appendPairs(vm.scratch[:0], pairs)
	ok(s, vm.copyOut(vm.scratch, uint32(s[1]), uint32(s[2])))
}

func abiSetHeaderMapPairs(vm *VM, s []uint64) {
	t := uint32(s[0])
	if t > mapMax {
		ok(s, ResultBadArgument)
		return
	}
	data, good := vm.read(uint32(s[1]), uint32(s[2]))
	if !good {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	m := vm.headerMap(t, true)
	if m == nil {
		ok(s, ResultBadArgument)
		return
	}
	m.Replace(unmarshalPairs(data))
	ok(s, ResultOK)
}

func abiGetHeaderMapSize(vm *VM, s []uint64) {
	t := uint32(s[0])
	if t > mapMax {
		ok(s, ResultBadArgument)
		return
	}
	m := vm.headerMap(t, true)
	if m == nil {
		ok(s, ResultBadArgument)
		return
	}
	if !vm.putU32(uint32(s[1]), uint32(m.ByteSize())) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, ResultOK)
}

// bufferView is a buffer a host call reads or writes.
type bufferView struct {
	data     []byte
	mutable  *filterchain.Buffer // nil for read-only buffers
	readOnly bool
}

func (vm *VM) buffer(t uint32) (bufferView, bool) {
	id := vm.contextOf()
	switch t {
	case bufVMConfiguration:
		return bufferView{data: vm.cfg.Configuration, readOnly: true}, true
	case bufPluginConfiguration:
		r := vm.rootOf(id)
		if r == nil || !r.inConfigure {
			return bufferView{}, false
		}
		return bufferView{data: r.plugin.Configuration, readOnly: true}, true
	case bufHTTPCallResponseBody:
		r := vm.rootOf(id)
		if r == nil || r.calloutResponse == nil {
			return bufferView{}, false
		}
		return bufferView{data: r.calloutResponse.Body, readOnly: true}, true
	case bufRedisCallResponse:
		return vm.redisBuffer(id)
	case bufRequestBody, bufResponseBody:
		st := vm.streams[id]
		if st == nil {
			return bufferView{}, false
		}
		b := st.bodyBuffer(t == bufRequestBody)
		if b == nil {
			return bufferView{}, false
		}
		return bufferView{data: b.Bytes(), mutable: b}, true
	}
	return bufferView{}, false
}

func abiGetBufferBytes(vm *VM, s []uint64) {
	t, start, length := uint32(s[0]), uint64(uint32(s[1])), uint64(uint32(s[2]))
	if t > bufMax && t != bufRedisCallResponse {
		ok(s, ResultBadArgument)
		return
	}
	b, found := vm.buffer(t)
	if !found {
		ok(s, ResultNotFound)
		return
	}
	size := uint64(len(b.data))
	if start > size {
		// The C++ host's length arithmetic wraps and the copy fails.
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	if start+length > size {
		length = size - start
	}
	if length == 0 {
		// exports.cc get_buffer_bytes: nothing is written.
		ok(s, ResultOK)
		return
	}
	// The module cannot change the buffer while it allocates (no host call
	// that would is allowed then), so the copy goes straight from it.
	ok(s, vm.copyOut(b.data[start:start+length], uint32(s[3]), uint32(s[4])))
}

func abiGetBufferStatus(vm *VM, s []uint64) {
	t := uint32(s[0])
	if t > bufMax {
		ok(s, ResultBadArgument)
		return
	}
	b, found := vm.buffer(t)
	if !found {
		ok(s, ResultNotFound)
		return
	}
	if !vm.putU32(uint32(s[1]), uint32(len(b.data))) || !vm.putU32(uint32(s[2]), 0) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, ResultOK)
}

// abiSetBufferBytes follows Envoy's Buffer::copyFrom: start 0 and length 0
// prepends, start 0 and length >= size replaces everything, start >= size
// appends; anything else is BadArgument.
func abiSetBufferBytes(vm *VM, s []uint64) {
	t, start, length := uint32(s[0]), uint64(uint32(s[1])), uint64(uint32(s[2]))
	if t > bufMax {
		ok(s, ResultBadArgument)
		return
	}
	b, found := vm.buffer(t)
	if !found {
		ok(s, ResultNotFound)
		return
	}
	data, good := vm.read(uint32(s[3]), uint32(s[4]))
	if !good {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	if b.mutable == nil {
		ok(s, ResultBadArgument)
		return
	}
	size := uint64(b.mutable.Len())
	switch {
	case start == 0 && length == 0:
		b.mutable.Prepend(data)
	case start == 0 && length >= size:
		b.mutable.SetBytes(data)
	case start >= size:
		b.mutable.Append(data)
	default:
		ok(s, ResultBadArgument)
		return
	}
	ok(s, ResultOK)
}

func abiContinue(vm *VM, t uint32) Result {
	st := vm.streams[vm.contextOf()]
	switch t {
	case streamRequest, streamResponse:
		if st != nil {
			st.continueStream(t == streamRequest)
		}
		return ResultOK
	case streamDownstream:
		return ResultOK
	case streamUpstream:
		return ResultUnimplemented
	}
	return ResultBadArgument
}

func abiClose(vm *VM, t uint32) Result {
	if t > streamUpstream {
		return ResultBadArgument
	}
	if st := vm.streams[vm.contextOf()]; st != nil && (t == streamRequest || t == streamResponse) {
		st.closeStream(t == streamRequest)
	}
	return ResultOK
}

// abiHTTPCall follows Envoy Context::httpCall: the call belongs to the
// root context; an unknown cluster, a negative timeout or headers without
// :path, :method and :authority are BadArgument.
func abiHTTPCall(vm *VM, s []uint64) {
	cluster, ok1 := vm.read(uint32(s[0]), uint32(s[1]))
	hdrs, ok2 := vm.read(uint32(s[2]), uint32(s[3]))
	body, ok3 := vm.read(uint32(s[4]), uint32(s[5]))
	trls, ok4 := vm.read(uint32(s[6]), uint32(s[7]))
	if !ok1 || !ok2 || !ok3 || !ok4 {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	timeout := int32(uint32(s[8]))
	tokenPtr := uint32(s[9])
	if !vm.putU32(tokenPtr, 0) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	r := vm.rootOf(vm.contextOf())
	if r == nil || timeout < 0 || vm.env.HasCluster == nil || !vm.env.HasCluster(string(cluster)) || vm.env.HTTPCall == nil {
		ok(s, ResultBadArgument)
		return
	}
	headers := lowerPairs(unmarshalPairs(hdrs))
	hm := filterchain.NewHeaderMap(headers...)
	for _, required := range []string{":path", ":method", ":authority"} {
		if _, has := hm.Get(required); !has {
			ok(s, ResultBadArgument)
			return
		}
	}
	vm.nextCalloutID++
	token := vm.nextCalloutID
	r.callouts[token] = true
	c := Callout{Cluster: string(cluster), Headers: headers, Body: body, Trailers: lowerPairs(unmarshalPairs(trls)),
		Timeout: time.Duration(timeout) * time.Millisecond}
	send := func() { vm.env.HTTPCall(c, func(resp CalloutResponse) { r.deliverCallout(token, resp) }) }
	if st := vm.streams[vm.current]; st != nil && st.calloutsHere {
		st.callouts = append(st.callouts, send)
	} else {
		go send()
	}
	vm.putU32(tokenPtr, token)
	ok(s, ResultOK)
}

// VM-level metric table: id -> stat (Envoy Wasm::counters_, gauges_,
// histograms_). Ids are dense (kind + 4 × n), so the stats are a slice
// indexed by id.
type metricTable struct {
	next  [3]uint32
	stats []*stats.Stat
}

// newMetricTable returns an empty table: each kind's first id is its
// kind plus metricIDIncrement.
func newMetricTable() *metricTable {
	return &metricTable{next: [3]uint32{0, 1, 2}}
}

func (vm *VM) metrics() *metricTable {
	if vm.metricTab == nil {
		vm.metricTab = newMetricTable()
	}
	return vm.metricTab
}

// add gives st the next id of its kind.
func (t *metricTable) add(kind uint32, st *stats.Stat) uint32 {
	t.next[kind] += metricIDIncrement
	id := t.next[kind]
	if int(id) >= len(t.stats) {
		t.stats = append(t.stats, make([]*stats.Stat, int(id)+1-len(t.stats))...)
	}
	t.stats[id] = st
	return id
}

// stat returns the stat of a metric id, or nil for an id never defined.
func (t *metricTable) stat(id uint32) *stats.Stat {
	if uint64(id) >= uint64(len(t.stats)) {
		return nil
	}
	return t.stats[id]
}

func abiDefineMetric(vm *VM, s []uint64) {
	kind := uint32(s[0])
	if kind > uint32(stats.Histogram) {
		ok(s, ResultBadArgument)
		return
	}
	name, good := vm.read(uint32(s[1]), uint32(s[2]))
	if !good {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	st, err := vm.env.Stats.Define(string(name), stats.Kind(kind))
	if err != nil {
		vm.env.log(LogWarn, fmt.Sprintf("[wasm] %s: define metric: %v", vm.cfg.Name, err))
		ok(s, ResultBadArgument)
		return
	}
	id := vm.metrics().add(kind, st)
	if !vm.putU32(uint32(s[3]), id) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, ResultOK)
}

// abiIncrementMetric: counters take only positive offsets, gauges any,
// histograms none (Envoy Context::incrementMetric).
func abiIncrementMetric(vm *VM, s []uint64) {
	id, offset := uint32(s[0]), int64(s[1])
	st := vm.metrics().stat(id)
	switch stats.Kind(id & metricTypeMask) {
	case stats.Counter:
		if st == nil {
			ok(s, ResultNotFound)
			return
		}
		if offset <= 0 {
			ok(s, ResultBadArgument)
			return
		}
		st.Add(offset)
	case stats.Gauge:
		if st == nil {
			ok(s, ResultNotFound)
			return
		}
		st.Add(offset)
	default:
		ok(s, ResultBadArgument)
		return
	}
	ok(s, ResultOK)
}

// abiRecordMetric: a counter adds, a gauge is set, a histogram records.
func abiRecordMetric(vm *VM, s []uint64) {
	id, value := uint32(s[0]), s[1]
	st := vm.metrics().stat(id)
	if st == nil {
		ok(s, ResultNotFound)
		return
	}
	switch st.Kind() {
	case stats.Counter:
		st.Add(int64(value))
	case stats.Gauge:
		st.Set(value)
	case stats.Histogram:
		st.Record(value)
	}
	ok(s, ResultOK)
}

func abiGetMetric(vm *VM, s []uint64) {
	id := uint32(s[0])
	if stats.Kind(id&metricTypeMask) == stats.Histogram {
		ok(s, ResultBadArgument)
		return
	}
	st := vm.metrics().stat(id)
	if st == nil {
		ok(s, ResultNotFound)
		return
	}
	if !vm.putU64(uint32(s[1]), st.Value()) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	ok(s, ResultOK)
}
