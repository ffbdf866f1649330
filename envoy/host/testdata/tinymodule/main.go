// Command tinymodule is a minimal proxy-wasm module written in plain
// standard Go (no SDK, no runtime patch), built by the host's tests with
// GOOS=wasip1 GOARCH=wasm -buildmode=c-shared. Its behaviour is chosen per
// request by the x-action header and per plugin by the configuration:
//
//	configuration "fail"   on_configure returns false
//	configuration "timer"  start a runtime timer (initialises Go's poller)
//	configuration "tick"   tick every 5 ms, resuming paused streams
//	x-action: trap         panic (the VM fails)
//	x-action: loop         spin forever (only the host's call watchdog ends it)
//	x-action: local        local reply 418 "teapot" with x-tiny: yes
//	x-action: pause        stop at the headers until the next tick
//	x-action: count        CAS-increment the shared key "count"
//	x-action: body         stop at the headers, buffer the body, answer it
//	                       back in a local reply
//	x-action: garbage      allocate 4x every body chunk (GC pressure)
//	x-action: callout      pause, proxy_http_call cluster mcp_server GET
//	                       /callout, answer its status and body locally
//	x-action: props        answer some properties in a local reply
//	x-action: queue        enqueue the request path on queue "q"; its
//	                       on_queue_ready stores it in shared key "queued"
//
// Every request increments the counter tiny.requests and the gauge
// tiny.inflight (decremented at on_done); body sizes go to the histogram
// tiny.body_bytes.
package main

import (
	"strconv"
	"time"
	"unsafe"
)

func main() {}

// Out-parameters the host writes live in globals: a goroutine stack may
// move while the host calls back into proxy_on_memory_allocate.
var retPtr, retSize, retCAS uint32

var (
	paused  []uint32
	actions = map[uint32]string{}
	sink    [][]byte
)

//go:wasmimport env proxy_log
func proxyLog(level uint32, ptr unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(t, start, max uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(t uint32, kp unsafe.Pointer, ks uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, dp unsafe.Pointer, ds uint32, bp unsafe.Pointer, bs uint32, hp unsafe.Pointer, hs uint32, grpc int32) uint32

//go:wasmimport env proxy_get_shared_data
func proxyGetSharedData(kp unsafe.Pointer, ks uint32, vp, vs, cas unsafe.Pointer) uint32

//go:wasmimport env proxy_set_shared_data
func proxySetSharedData(kp unsafe.Pointer, ks uint32, vp unsafe.Pointer, vs uint32, cas uint32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(t uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(id uint32) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriod(ms uint32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(up unsafe.Pointer, us uint32, hp unsafe.Pointer, hs uint32, bp unsafe.Pointer, bs uint32, tp unsafe.Pointer, ts uint32, timeout uint32, token unsafe.Pointer) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(pp unsafe.Pointer, ps uint32, retPtr, retSize unsafe.Pointer) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(kind uint32, np unsafe.Pointer, ns uint32, id unsafe.Pointer) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, offset int64) uint32

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, value uint64) uint32

//go:wasmimport env proxy_register_shared_queue
func proxyRegisterSharedQueue(np unsafe.Pointer, ns uint32, id unsafe.Pointer) uint32

//go:wasmimport env proxy_enqueue_shared_queue
func proxyEnqueueSharedQueue(id uint32, vp unsafe.Pointer, vs uint32) uint32

//go:wasmimport env proxy_dequeue_shared_queue
func proxyDequeueSharedQueue(id uint32, retPtr, retSize unsafe.Pointer) uint32

var (
	requestsMetric, inflightMetric, sizesMetric uint32
	queueID                                     uint32
	callouts                                    = map[uint32]uint32{} // token -> stream
)

func defineMetric(kind uint32, name string) uint32 {
	n := []byte(name)
	retCAS = 0
	proxyDefineMetric(kind, ptr(n), uint32(len(n)), unsafe.Pointer(&retCAS))
	return retCAS
}

func property(path ...string) string {
	var p []byte
	for i, seg := range path {
		if i > 0 {
			p = append(p, 0)
		}
		p = append(p, seg...)
	}
	retPtr, retSize = 0, 0
	if proxyGetProperty(ptr(p), uint32(len(p)), unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize)) != 0 {
		return "<none>"
	}
	return string(hostBytes(retPtr, retSize))
}

func pairs(kv [][2]string) []byte {
	var h []byte
	h = append(h, le32(uint32(len(kv)))...)
	for _, p := range kv {
		h = append(h, le32(uint32(len(p[0])))...)
		h = append(h, le32(uint32(len(p[1])))...)
	}
	for _, p := range kv {
		h = append(h, p[0]...)
		h = append(h, 0)
		h = append(h, p[1]...)
		h = append(h, 0)
	}
	return h
}

func ptr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

func logInfo(s string) {
	b := []byte(s)
	proxyLog(2, ptr(b), uint32(len(b)))
}

// hostBytes turns an address and size written by the host into a copy.
func hostBytes(p, n uint32) []byte {
	if n == 0 {
		return nil
	}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(uintptr(p))), n)...)
}

func buffer(t, size uint32) []byte {
	retPtr, retSize = 0, 0
	if proxyGetBufferBytes(t, 0, size, unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize)) != 0 {
		return nil
	}
	return hostBytes(retPtr, retSize)
}

func header(name string) string {
	k := []byte(name)
	retPtr, retSize = 0, 0
	if proxyGetHeaderMapValue(0, ptr(k), uint32(len(k)), unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize)) != 0 {
		return ""
	}
	return string(hostBytes(retPtr, retSize))
}

func localReply(status uint32, body string, headers [][2]string) {
	var h []byte
	if len(headers) > 0 {
		h = pairs(headers)
	}
	b := []byte(body)
	d := []byte("tiny_local")
	proxySendLocalResponse(status, ptr(d), uint32(len(d)), ptr(b), uint32(len(b)), ptr(h), uint32(len(h)), -1)
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

//go:wasmexport proxy_abi_version_0_2_0
func proxyABIVersion() {}

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 {
	// Kept in a global so the buffer is on the heap (a local that only
	// becomes a uintptr could live on the stack) and stays alive until the
	// module reads it.
	lastAlloc = make([]byte, size)
	return uint32(uintptr(unsafe.Pointer(&lastAlloc[0])))
}

var lastAlloc []byte

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(root, size uint32) uint32 { return 1 }

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, root uint32) {}

//go:wasmexport proxy_on_configure
func proxyOnConfigure(root, size uint32) uint32 {
	cfg := string(buffer(7, size))
	requestsMetric = defineMetric(0, "tiny.requests")
	inflightMetric = defineMetric(1, "tiny.inflight")
	sizesMetric = defineMetric(2, "tiny.body_bytes")
	q := []byte("q")
	proxyRegisterSharedQueue(ptr(q), 1, unsafe.Pointer(&queueID))
	switch cfg {
	case "fail":
		return 0
	case "timer":
		time.AfterFunc(time.Hour, func() {})
	case "tick":
		proxySetTickPeriod(5)
	}
	logInfo("tinymodule configured: " + cfg)
	return 1
}

//go:wasmexport proxy_on_tick
func proxyOnTick(root uint32) {
	for _, id := range paused {
		proxySetEffectiveContext(id)
		proxyContinueStream(0)
	}
	paused = paused[:0]
}

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id, n, eos uint32) uint32 {
	action := header("x-action")
	actions[id] = action
	proxyIncrementMetric(requestsMetric, 1)
	proxyIncrementMetric(inflightMetric, 1)
	switch action {
	case "callout":
		up := []byte("mcp_server")
		h := pairs([][2]string{{":method", "GET"}, {":path", "/callout"}, {":authority", "callout"}})
		var token uint32
		if proxyHTTPCall(ptr(up), uint32(len(up)), ptr(h), uint32(len(h)), nil, 0, nil, 0, 2000, unsafe.Pointer(&token)) != 0 {
			localReply(500, "http_call refused", nil)
			return 1
		}
		callouts[token] = id
		return 1
	case "props":
		localReply(200, property("source", "address")+"|"+property("connection", "uri_san_peer_certificate")+"|"+
			property("plugin_root_id")+"|"+property("request", "path")+"|"+property("request", "headers", "x-action"), nil)
		return 1
	case "queue":
		v := []byte(property("request", "path"))
		proxyEnqueueSharedQueue(queueID, ptr(v), uint32(len(v)))
	case "trap":
		panic("tinymodule: trap requested")
	case "loop":
		for spins := uint64(0); ; spins++ {
			if spins == ^uint64(0) {
				proxyLog(2, nil, 0) // never reached: keeps the loop from being optimised away
			}
		}
	case "local":
		localReply(418, "teapot", [][2]string{{"x-tiny", "yes"}})
		return 1
	case "pause":
		paused = append(paused, id)
		return 1
	case "count":
		increment("count")
	case "body":
		// Hold the headers too, so the upstream hears nothing before the
		// body was inspected.
		return 1
	}
	return 0
}

func increment(key string) {
	k := []byte(key)
	for {
		retPtr, retSize, retCAS = 0, 0, 0
		v := 0
		if proxyGetSharedData(ptr(k), uint32(len(k)), unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize), unsafe.Pointer(&retCAS)) == 0 {
			v, _ = strconv.Atoi(string(hostBytes(retPtr, retSize)))
		}
		cas := retCAS
		nv := []byte(strconv.Itoa(v + 1))
		if proxySetSharedData(ptr(k), uint32(len(k)), ptr(nv), uint32(len(nv)), cas) == 0 {
			return
		}
	}
}

//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(root, token, headers, bodySize, trailers uint32) {
	id, ok := callouts[token]
	if !ok {
		return
	}
	delete(callouts, token)
	proxySetEffectiveContext(id)
	k := []byte(":status")
	retPtr, retSize = 0, 0
	status := "none"
	if proxyGetHeaderMapValue(6, ptr(k), uint32(len(k)), unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize)) == 0 {
		status = string(hostBytes(retPtr, retSize))
	}
	localReply(200, "callout "+status+" "+string(buffer(4, bodySize)), nil)
}

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(root, id uint32) {
	retPtr, retSize = 0, 0
	if proxyDequeueSharedQueue(id, unsafe.Pointer(&retPtr), unsafe.Pointer(&retSize)) != 0 {
		return
	}
	v := hostBytes(retPtr, retSize)
	k := []byte("queued")
	proxySetSharedData(ptr(k), uint32(len(k)), ptr(v), uint32(len(v)), 0)
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id, size, eos uint32) uint32 {
	proxyRecordMetric(sizesMetric, uint64(size))
	switch actions[id] {
	case "body":
		if eos == 0 {
			return 1 // StopIterationAndBuffer
		}
		body := buffer(0, size)
		localReply(200, string(body), [][2]string{{"x-body-size", strconv.Itoa(int(size))}})
		return 1
	case "garbage":
		sink = append(sink, make([]byte, 4*size+1))
		if len(sink) > 4 {
			sink = sink[:0]
		}
	}
	return 0
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id, n, eos uint32) uint32 { return 0 }

//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) {}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) uint32 {
	if _, stream := actions[id]; stream {
		proxyIncrementMetric(inflightMetric, -1)
	}
	return 1
}

//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) { delete(actions, id) }
