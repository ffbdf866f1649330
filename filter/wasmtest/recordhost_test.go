package wasmtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// recordHost is a minimal proxy-wasm host on wazero for testing the glue at
// the ABI level: it implements all 29 env.proxy_* functions of the SDK,
// records each call with its arguments decoded from the module's memory,
// answers with scripted values (written through proxy_on_memory_allocate,
// as Envoy does), and, given an Envoy profile of the local host
// (envoy/host/proxywasm.Profile, the one description of how Envoy releases
// answer WASI), answers poll_oneoff as that Envoy does.
type recordHost struct {
	t   testing.TB
	ctx context.Context

	// Options, set before start.
	// envoy is the Envoy whose poll_oneoff answers the host gives; nil
	// gives the module wazero's full WASI.
	envoy *proxywasm.Profile
	// stdoutFile gives the module a real file as stdout and stderr. Go's os
	// package then finds them pollable and starts the runtime's poller in
	// _initialize, so every GC polls (unless the runtime patch skips it).
	stdoutFile   bool
	command      string
	pluginConfig string

	runtime wazero.Runtime
	module  api.Module
	stdout  bytes.Buffer
	outFile *os.File

	calls            []string // every host call but proxy_log, decoded
	logs             []string // proxy_log calls since takeCalls: "<level> <message>"
	allLogs          []string // every proxy_log call: "<level> <message>"
	inMalloc         bool
	mallocs          int
	pollCalls        int
	pollCallsInAlloc int
	metrics          map[uint32]int64
}

// compilationCache lets every recordHost of the test binary compile each
// distinct module once.
var compilationCache = wazero.NewCompilationCache()

// newRecordHost returns a host with default scripted answers; call start.
func newRecordHost(t testing.TB) *recordHost {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &recordHost{t: t, ctx: ctx, metrics: map[uint32]int64{}}
}

// start instantiates wasm and runs _initialize, as Envoy does before any
// proxy_on_* call.
func (h *recordHost) start(wasm []byte) {
	h.t.Helper()
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCompilationCache(compilationCache).
		WithCloseOnContextDone(true)
	h.runtime = wazero.NewRuntimeWithConfig(h.ctx, cfg)
	h.t.Cleanup(func() { _ = h.runtime.Close(context.Background()) })

	wasi := h.runtime.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(wasi)
	if h.envoy != nil {
		wasi.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(h.pollOneoff),
				[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32},
				[]api.ValueType{api.ValueTypeI32}).
			Export("poll_oneoff")
	}
	if _, err := wasi.Instantiate(h.ctx); err != nil {
		h.t.Fatalf("instantiating WASI: %v", err)
	}
	if err := h.exportEnv(); err != nil {
		h.t.Fatalf("instantiating env: %v", err)
	}

	compiled, err := h.runtime.CompileModule(h.ctx, wasm)
	if err != nil {
		h.t.Fatalf("compiling: %v", err)
	}
	config := wazero.NewModuleConfig().WithName("guest").WithStartFunctions()
	if h.stdoutFile {
		h.outFile, err = os.CreateTemp(h.t.TempDir(), "stdout-")
		if err != nil {
			h.t.Fatalf("creating the module's stdout: %v", err)
		}
		h.t.Cleanup(func() { _ = h.outFile.Close() })
		config = config.WithStdout(h.outFile).WithStderr(h.outFile)
	} else {
		config = config.WithStdout(&h.stdout).WithStderr(&h.stdout)
	}
	h.module, err = h.runtime.InstantiateModule(h.ctx, compiled, config)
	if err != nil {
		h.t.Fatalf("instantiating: %v", err)
	}
	h.mustCall("_initialize")
}

// call calls an export of the module.
func (h *recordHost) call(name string, args ...uint64) ([]uint64, error) {
	fn := h.module.ExportedFunction(name)
	if fn == nil {
		return nil, fmt.Errorf("the module does not export %s", name)
	}
	return fn.Call(h.ctx, args...)
}

// mustCall calls an export and fails the test if it traps. It returns the
// first result, or 0 for a function without one.
func (h *recordHost) mustCall(name string, args ...uint64) uint64 {
	h.t.Helper()
	res, err := h.call(name, args...)
	if err != nil {
		h.t.Fatalf("%s%v trapped: %v\nmodule output:\n%s", name, args, err, h.output())
	}
	if len(res) == 0 {
		return 0
	}
	return res[0]
}

// output returns what the module wrote to stdout and stderr.
func (h *recordHost) output() string {
	if h.outFile == nil {
		return h.stdout.String()
	}
	b, err := os.ReadFile(h.outFile.Name())
	if err != nil {
		return fmt.Sprintf("(reading the module's output: %v)", err)
	}
	return string(b)
}

// probeLogs returns the proxy_log messages that start with "probe ".
func (h *recordHost) probeLogs() []string {
	var out []string
	for _, l := range h.logs {
		if _, msg, _ := strings.Cut(l, " "); strings.HasPrefix(msg, "probe ") {
			out = append(out, msg)
		}
	}
	return out
}

// takeCalls returns and forgets the recorded host calls and logs.
func (h *recordHost) takeCalls() (calls, logs []string) {
	calls, logs = h.calls, h.probeLogs()
	h.calls, h.logs = nil, nil
	return calls, logs
}

// pollOneoffImport is poll_oneoff's name in a profile's allow-lists.
const pollOneoffImport = "wasi_snapshot_preview1.poll_oneoff"

// pollOneoff answers WASI poll_oneoff(in, out, nsubscriptions, nevents) as
// h.envoy does: a trap when the call is not allowed inside
// proxy_on_memory_allocate, else ENOSYS or success with zero events.
func (h *recordHost) pollOneoff(_ context.Context, m api.Module, stack []uint64) {
	h.pollCalls++
	if h.inMalloc {
		h.pollCallsInAlloc++
		if !h.envoy.AllocAllowed[pollOneoffImport] {
			panic("restricted host call poll_oneoff inside proxy_on_memory_allocate")
		}
	}
	if h.envoy.PollOneoffENOSYS {
		stack[0] = wasiErrnoNotSupported
		return
	}
	h.writeU32(m, uint64(api.DecodeU32(stack[3])), 0)
	stack[0] = 0
}

// envoyProfile returns the local host's profile of an Envoy version.
func envoyProfile(t testing.TB, version string) *proxywasm.Profile {
	t.Helper()
	p, err := proxywasm.ProfileFor(version)
	if err != nil {
		t.Fatal(err)
	}
	return &p
}

// Host-side answers.
const (
	answerProperty        = "root-id-value"
	answerSharedData      = "shared-value"
	answerSharedCAS       = 42
	answerRegisterQueue   = 11
	answerResolveQueue    = 12
	answerDequeued        = "dequeued"
	answerRequestBody     = "0123456789abcdef"
	answerCalloutBody     = "callout response"
	answerVMConfig        = "vm-config"
	answerCalloutID       = 9
	answerForeignResult   = "foreign result"
	answerFirstMetricID   = 100
	statusOK              = 0
	statusNotFound        = 1
	mapRequestHeaders     = 0
	mapCalloutHeaders     = 6
	mapCalloutTrailers    = 7
	bufferRequestBody     = 0
	bufferCalloutBody     = 4
	bufferVMConfig        = 6
	bufferPluginConfig    = 7
	wasiErrnoNotSupported = 52
)

// Scripted header maps.
var (
	answerRequestHeaders  = [][2]string{{":path", "/p"}, {"k", "v"}}
	answerCalloutHeaders  = [][2]string{{":status", "200"}}
	answerCalloutTrailers = [][2]string{{"tk", "tv"}}
)

// hostFunc is one env.proxy_* function of the recording host.
type hostFunc struct {
	name   string
	params []api.ValueType
	fn     func(h *recordHost, mod api.Module, a []uint64) uint32
}

func i32s(n int) []api.ValueType {
	p := make([]api.ValueType, n)
	for i := range p {
		p[i] = api.ValueTypeI32
	}
	return p
}

// hostFuncs are the 29 host calls of proxy-wasm-go-sdk v0.24.0
// (internal/abi_hostcalls.go), with the parameters of the ABI 0.2.x.
var hostFuncs = []hostFunc{
	{"proxy_log", i32s(3), func(h *recordHost, m api.Module, a []uint64) uint32 {
		line := fmt.Sprintf("%d %s", a[0], h.str(m, a[1], a[2]))
		h.logs = append(h.logs, line)
		h.allLogs = append(h.allLogs, line)
		return statusOK
	}},
	{"proxy_set_property", i32s(4), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_set_property path=%q value=%q", h.str(m, a[0], a[1]), h.str(m, a[2], a[3]))
		return statusOK
	}},
	{"proxy_get_property", i32s(4), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_get_property path=%q", h.str(m, a[0], a[1]))
		h.returnBytes(m, []byte(answerProperty), a[2], a[3])
		return statusOK
	}},
	{"proxy_send_local_response", i32s(8), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_send_local_response status=%d details=%q body=%q headers=%s grpc=%d",
			a[0], h.str(m, a[1], a[2]), h.str(m, a[3], a[4]), h.pairs(m, a[5], a[6]), int32(uint32(a[7])))
		return statusOK
	}},
	{"proxy_get_shared_data", i32s(5), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_get_shared_data key=%q", h.str(m, a[0], a[1]))
		h.returnBytes(m, []byte(answerSharedData), a[2], a[3])
		h.writeU32(m, a[4], answerSharedCAS)
		return statusOK
	}},
	{"proxy_set_shared_data", i32s(5), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_set_shared_data key=%q value=%q cas=%d", h.str(m, a[0], a[1]), h.str(m, a[2], a[3]), a[4])
		return statusOK
	}},
	{"proxy_register_shared_queue", i32s(3), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_register_shared_queue name=%q", h.str(m, a[0], a[1]))
		h.writeU32(m, a[2], answerRegisterQueue)
		return statusOK
	}},
	{"proxy_resolve_shared_queue", i32s(5), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_resolve_shared_queue vm=%q name=%q", h.str(m, a[0], a[1]), h.str(m, a[2], a[3]))
		h.writeU32(m, a[4], answerResolveQueue)
		return statusOK
	}},
	{"proxy_dequeue_shared_queue", i32s(3), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_dequeue_shared_queue id=%d", a[0])
		h.returnBytes(m, []byte(answerDequeued), a[1], a[2])
		return statusOK
	}},
	{"proxy_enqueue_shared_queue", i32s(3), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_enqueue_shared_queue id=%d value=%q", a[0], h.str(m, a[1], a[2]))
		return statusOK
	}},
	{"proxy_get_header_map_value", i32s(5), func(h *recordHost, m api.Module, a []uint64) uint32 {
		key := h.str(m, a[1], a[2])
		h.record("proxy_get_header_map_value map=%d key=%q", a[0], key)
		if a[0] != mapRequestHeaders || key != "x-probe-command" || h.command == "" {
			return statusNotFound
		}
		h.returnBytes(m, []byte(h.command), a[3], a[4])
		return statusOK
	}},
	{"proxy_add_header_map_value", i32s(5), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_add_header_map_value map=%d key=%q value=%q", a[0], h.str(m, a[1], a[2]), h.str(m, a[3], a[4]))
		return statusOK
	}},
	{"proxy_replace_header_map_value", i32s(5), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_replace_header_map_value map=%d key=%q value=%q", a[0], h.str(m, a[1], a[2]), h.str(m, a[3], a[4]))
		return statusOK
	}},
	{"proxy_remove_header_map_value", i32s(3), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_remove_header_map_value map=%d key=%q", a[0], h.str(m, a[1], a[2]))
		return statusOK
	}},
	{"proxy_get_header_map_pairs", i32s(3), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_get_header_map_pairs map=%d", a[0])
		var pairs [][2]string
		switch a[0] {
		case mapRequestHeaders:
			pairs = answerRequestHeaders
		case mapCalloutHeaders:
			pairs = answerCalloutHeaders
		case mapCalloutTrailers:
			pairs = answerCalloutTrailers
		default:
			return statusNotFound
		}
		h.returnBytes(m, serializePairs(pairs), a[1], a[2])
		return statusOK
	}},
	{"proxy_set_header_map_pairs", i32s(3), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_set_header_map_pairs map=%d pairs=%s", a[0], h.pairs(m, a[1], a[2]))
		return statusOK
	}},
	{"proxy_get_buffer_bytes", i32s(5), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_get_buffer_bytes buffer=%d start=%d max=%d", a[0], a[1], a[2])
		var content string
		switch a[0] {
		case bufferRequestBody:
			content = answerRequestBody
		case bufferCalloutBody:
			content = answerCalloutBody
		case bufferVMConfig:
			content = answerVMConfig
		case bufferPluginConfig:
			content = h.pluginConfig
		default:
			return statusNotFound
		}
		start, end := min(int(a[1]), len(content)), min(int(a[1])+int(a[2]), len(content))
		h.returnBytes(m, []byte(content[start:end]), a[3], a[4])
		return statusOK
	}},
	{"proxy_set_buffer_bytes", i32s(5), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_set_buffer_bytes buffer=%d start=%d size=%d data=%q", a[0], a[1], a[2], h.str(m, a[3], a[4]))
		return statusOK
	}},
	{"proxy_continue_stream", i32s(1), func(h *recordHost, _ api.Module, a []uint64) uint32 {
		h.record("proxy_continue_stream stream=%d", a[0])
		return statusOK
	}},
	{"proxy_close_stream", i32s(1), func(h *recordHost, _ api.Module, a []uint64) uint32 {
		h.record("proxy_close_stream stream=%d", a[0])
		return statusOK
	}},
	{"proxy_http_call", i32s(10), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_http_call upstream=%q headers=%s body=%q trailers=%s timeout=%d",
			h.str(m, a[0], a[1]), h.pairs(m, a[2], a[3]), h.str(m, a[4], a[5]), h.pairs(m, a[6], a[7]), a[8])
		h.writeU32(m, a[9], answerCalloutID)
		return statusOK
	}},
	{"proxy_call_foreign_function", i32s(6), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_call_foreign_function name=%q param=%q", h.str(m, a[0], a[1]), h.str(m, a[2], a[3]))
		h.returnBytes(m, []byte(answerForeignResult), a[4], a[5])
		return statusOK
	}},
	{"proxy_set_tick_period_milliseconds", i32s(1), func(h *recordHost, _ api.Module, a []uint64) uint32 {
		h.record("proxy_set_tick_period_milliseconds period=%d", a[0])
		return statusOK
	}},
	{"proxy_set_effective_context", i32s(1), func(h *recordHost, _ api.Module, a []uint64) uint32 {
		h.record("proxy_set_effective_context context=%d", a[0])
		return statusOK
	}},
	{"proxy_done", nil, func(h *recordHost, _ api.Module, _ []uint64) uint32 {
		h.record("proxy_done")
		return statusOK
	}},
	{"proxy_define_metric", i32s(4), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_define_metric type=%d name=%q", a[0], h.str(m, a[1], a[2]))
		id := uint32(answerFirstMetricID + len(h.metrics))
		h.metrics[id] = 0
		h.writeU32(m, a[3], id)
		return statusOK
	}},
	{"proxy_increment_metric", []api.ValueType{api.ValueTypeI32, api.ValueTypeI64}, func(h *recordHost, _ api.Module, a []uint64) uint32 {
		h.record("proxy_increment_metric id=%d offset=%d", a[0], int64(a[1]))
		h.metrics[uint32(a[0])] += int64(a[1])
		return statusOK
	}},
	{"proxy_record_metric", []api.ValueType{api.ValueTypeI32, api.ValueTypeI64}, func(h *recordHost, _ api.Module, a []uint64) uint32 {
		h.record("proxy_record_metric id=%d value=%d", a[0], a[1])
		h.metrics[uint32(a[0])] = int64(a[1])
		return statusOK
	}},
	{"proxy_get_metric", i32s(2), func(h *recordHost, m api.Module, a []uint64) uint32 {
		h.record("proxy_get_metric id=%d", a[0])
		if !m.Memory().WriteUint64Le(uint32(a[1]), uint64(h.metrics[uint32(a[0])])) {
			panic("proxy_get_metric: result pointer out of memory")
		}
		return statusOK
	}},
}

// exportEnv instantiates the env module with hostFuncs.
func (h *recordHost) exportEnv() error {
	b := h.runtime.NewHostModuleBuilder("env")
	for _, f := range hostFuncs {
		f := f
		b.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, m api.Module, stack []uint64) {
				// wazero leaves garbage in the high half of i32 values.
				args := make([]uint64, len(f.params))
				for i, t := range f.params {
					args[i] = stack[i]
					if t == api.ValueTypeI32 {
						args[i] = uint64(api.DecodeU32(stack[i]))
					}
				}
				stack[0] = uint64(f.fn(h, m, args))
			}), f.params, []api.ValueType{api.ValueTypeI32}).
			Export(f.name)
	}
	_, err := b.Instantiate(h.ctx)
	return err
}

// record appends one decoded host call.
func (h *recordHost) record(format string, args ...any) {
	h.calls = append(h.calls, fmt.Sprintf(format, args...))
}

// str reads size bytes at ptr of the module's memory as a string.
func (h *recordHost) str(m api.Module, ptr, size uint64) string {
	if size == 0 {
		return ""
	}
	b, ok := m.Memory().Read(uint32(ptr), uint32(size))
	if !ok {
		panic(fmt.Sprintf("guest passed %d bytes at %#x, outside its memory", size, ptr))
	}
	return string(b)
}

// pairs decodes a serialized header map (proxy-wasm ABI: count, sizes,
// NUL-terminated keys and values) at ptr as "k=v,k=v".
func (h *recordHost) pairs(m api.Module, ptr, size uint64) string {
	raw := []byte(h.str(m, ptr, size))
	if len(raw) == 0 {
		return "<none>"
	}
	decoded, err := deserializePairs(raw)
	if err != nil {
		panic(fmt.Sprintf("guest passed a malformed header map: %v", err))
	}
	parts := make([]string, len(decoded))
	for i, p := range decoded {
		parts[i] = p[0] + "=" + p[1]
	}
	return strings.Join(parts, ",")
}

// returnBytes hands data to the module like Envoy: it asks the module for
// memory with proxy_on_memory_allocate, copies data there and writes the
// address and size to the module's out-parameters.
func (h *recordHost) returnBytes(m api.Module, data []byte, ptrPtr, sizePtr uint64) {
	ptr := h.allocate(m, uint32(len(data)))
	if !m.Memory().Write(ptr, data) {
		panic("proxy_on_memory_allocate returned memory outside the module's memory")
	}
	h.writeU32(m, ptrPtr, ptr)
	h.writeU32(m, sizePtr, uint32(len(data)))
}

// allocate calls proxy_on_memory_allocate, marking the host as inside it.
func (h *recordHost) allocate(m api.Module, size uint32) uint32 {
	h.inMalloc = true
	defer func() { h.inMalloc = false }()
	h.mallocs++
	res, err := m.ExportedFunction("proxy_on_memory_allocate").Call(h.ctx, uint64(size))
	if err != nil {
		panic(fmt.Sprintf("proxy_on_memory_allocate(%d) failed: %v", size, err))
	}
	return uint32(res[0])
}

// writeU32 writes a 32-bit out-parameter.
func (h *recordHost) writeU32(m api.Module, ptr uint64, v uint32) {
	if !m.Memory().WriteUint32Le(uint32(ptr), v) {
		panic(fmt.Sprintf("out-parameter %#x outside the module's memory", ptr))
	}
}

// serializePairs encodes a header map in the proxy-wasm ABI format.
func serializePairs(pairs [][2]string) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(pairs)))
	for _, p := range pairs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[0])))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p[1])))
	}
	for _, p := range pairs {
		b = append(append(b, p[0]...), 0)
		b = append(append(b, p[1]...), 0)
	}
	return b
}

// deserializePairs decodes a header map in the proxy-wasm ABI format.
func deserializePairs(b []byte) ([][2]string, error) {
	if len(b) < 4 {
		return nil, errors.New("shorter than its count")
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > len(b)/8 {
		return nil, fmt.Errorf("count %d does not fit in %d bytes", n, len(b))
	}
	sizes, data := b[4:4+8*n], b[4+8*n:]
	out := make([][2]string, n)
	for i := 0; i < n; i++ {
		for j := 0; j < 2; j++ {
			size := int(binary.LittleEndian.Uint32(sizes[8*i+4*j:]))
			if size+1 > len(data) || data[size] != 0 {
				return nil, fmt.Errorf("entry %d runs past the data or lacks its NUL", i)
			}
			out[i][j] = string(data[:size])
			data = data[size+1:]
		}
	}
	if len(data) != 0 {
		return nil, fmt.Errorf("%d stray bytes", len(data))
	}
	return out, nil
}
