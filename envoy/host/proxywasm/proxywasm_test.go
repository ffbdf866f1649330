package proxywasm

import (
	"bytes"
	"context"
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/shareddata"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/stats"
)

func TestProfileFor(t *testing.T) {
	tests := []struct {
		version   string
		name      string
		enosys    bool
		allocPoll bool
		initPoll  bool
		wantErr   string
	}{
		{"", "1.33", true, false, false, ""},
		{"1.33", "1.33", true, false, false, ""},
		{"v1.38.2", "1.38", true, false, false, ""},
		{"1.39", "1.39", false, true, true, ""},
		{"1.40.0", "1.40", false, true, true, ""},
		{"1.32", "", false, false, false, "before 1.33"},
		{"2.0", "", false, false, false, "want 1.N"},
		{"1.x", "", false, false, false, "envoy version"},
	}
	for _, tt := range tests {
		p, err := ProfileFor(tt.version)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ProfileFor(%q) error = %v, want %q", tt.version, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ProfileFor(%q): %v", tt.version, err)
		}
		if p.Name != tt.name || p.PollOneoffENOSYS != tt.enosys ||
			p.AllocAllowed["wasi_snapshot_preview1.poll_oneoff"] != tt.allocPoll ||
			p.InitAllowed["wasi_snapshot_preview1.poll_oneoff"] != tt.initPoll {
			t.Errorf("ProfileFor(%q) = %+v", tt.version, p)
		}
		for _, always := range []string{"env.proxy_log", "wasi_snapshot_preview1.fd_write", "wasi_snapshot_preview1.clock_time_get"} {
			if !p.AllocAllowed[always] {
				t.Errorf("ProfileFor(%q): %s not allowed during allocation", tt.version, always)
			}
		}
		if p.AllocAllowed["env.proxy_get_shared_data"] {
			t.Errorf("ProfileFor(%q): proxy_get_shared_data allowed during allocation", tt.version)
		}
	}
}

func TestPairsRoundTrip(t *testing.T) {
	tests := [][][2]string{
		nil,
		{{"a", "b"}},
		{{":status", "200"}, {"x", ""}, {"", "y"}, {"content-type", "application/json"}},
	}
	for _, pairs := range tests {
		b := appendPairs(nil, pairs)
		got := unmarshalPairs(b)
		if len(pairs) == 0 {
			if len(b) != 0 || len(got) != 0 {
				t.Errorf("empty pairs: %v %v", b, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, pairs) {
			t.Errorf("round trip %v -> %v", pairs, got)
		}
	}
	// Envoy's layout: count, sizes, NUL-terminated strings.
	want := []byte{1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 'k', 0, 'v', 'v', 0}
	if got := appendPairs(nil, [][2]string{{"k", "vv"}}); !bytes.Equal(got, want) {
		t.Errorf("appendPairs = %v, want %v", got, want)
	}
	for _, bad := range [][]byte{{1, 0}, {9, 0, 0, 0, 1, 0, 0, 0}, {1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 'a', 0}} {
		if got := unmarshalPairs(bad); got != nil {
			t.Errorf("unmarshalPairs(%v) = %v, want nil", bad, got)
		}
	}
}

// module assembles a small wasm module: imports (module, name) of type
// (i32,i32,i32,i32)->i32, one memory, and exports _initialize (calling the
// first import when callImport) and, unless noABI, proxy_abi_version_0_2_0.
func module(imports [][2]string, callImport, noABI bool) []byte {
	var out bytes.Buffer
	out.Write([]byte{0, 'a', 's', 'm', 1, 0, 0, 0})
	section := func(id byte, body []byte) {
		out.WriteByte(id)
		out.Write(uleb(uint32(len(body))))
		out.Write(body)
	}
	str := func(s string) []byte { return append(uleb(uint32(len(s))), s...) }
	// types: 0 = ()->(), 1 = (i32,i32,i32,i32)->i32
	section(1, []byte{2, 0x60, 0, 0, 0x60, 4, 0x7f, 0x7f, 0x7f, 0x7f, 1, 0x7f})
	var imp []byte
	imp = append(imp, uleb(uint32(len(imports)))...)
	for _, i := range imports {
		imp = append(imp, str(i[0])...)
		imp = append(imp, str(i[1])...)
		imp = append(imp, 0, 1)
	}
	section(2, imp)
	section(3, []byte{2, 0, 0})
	section(5, []byte{1, 0, 1})
	n := uint32(len(imports))
	var exp []byte
	count := byte(2)
	if !noABI {
		count = 3
	}
	exp = append(exp, count)
	exp = append(exp, str("memory")...)
	exp = append(exp, 2, 0)
	exp = append(exp, str("_initialize")...)
	exp = append(exp, 0)
	exp = append(exp, uleb(n)...)
	if !noABI {
		exp = append(exp, str("proxy_abi_version_0_2_0")...)
		exp = append(exp, 0)
		exp = append(exp, uleb(n+1)...)
	}
	section(7, exp)
	body1 := []byte{0}
	if callImport {
		body1 = append(body1, 0x41, 0, 0x41, 0, 0x41, 0, 0x41, 0, 0x10, 0, 0x1a)
	}
	body1 = append(body1, 0x0b)
	body2 := []byte{0, 0x0b}
	code := []byte{2}
	code = append(code, uleb(uint32(len(body1)))...)
	code = append(code, body1...)
	code = append(code, uleb(uint32(len(body2)))...)
	code = append(code, body2...)
	section(10, code)
	return out.Bytes()
}

func uleb(v uint32) []byte {
	var b [binary.MaxVarintLen32]byte
	n := binary.PutUvarint(b[:], uint64(v))
	return b[:n]
}

func testEnv() *Env {
	return &Env{SharedData: shareddata.NewStore(), Queues: shareddata.NewQueues(), Stats: stats.NewStore(), LogLevel: LogCritical}
}

func TestMetricTableIDs(t *testing.T) {
	store := stats.NewStore()
	define := func(name string, kind stats.Kind) *stats.Stat {
		st, err := store.Define(name, kind)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	tab := newMetricTable()
	c1, g1, c2 := define("c1", stats.Counter), define("g1", stats.Gauge), define("c2", stats.Counter)
	ids := []uint32{tab.add(uint32(stats.Counter), c1), tab.add(uint32(stats.Gauge), g1), tab.add(uint32(stats.Counter), c2)}
	tests := []struct {
		id   uint32
		want *stats.Stat
	}{
		{ids[0], c1}, {ids[1], g1}, {ids[2], c2},
		{0, nil}, {1, nil}, {2, nil}, {ids[2] + 4, nil}, {1 << 31, nil}, {^uint32(0), nil},
	}
	for _, tt := range tests {
		if got := tab.stat(tt.id); got != tt.want {
			t.Errorf("stat(%d) = %p, want %p", tt.id, got, tt.want)
		}
	}
	for i, id := range ids {
		if kind := stats.Kind(id & metricTypeMask); kind != []stats.Kind{stats.Counter, stats.Gauge, stats.Counter}[i] {
			t.Errorf("id %d carries kind %d", id, kind)
		}
	}
}

func TestNewRuntimeRefusesWhatEnvoyRefuses(t *testing.T) {
	p, _ := ProfileFor("1.33")
	tests := []struct {
		name string
		code []byte
		want string
	}{
		{"missing env import", module([][2]string{{"env", "proxy_does_not_exist"}}, false, false), "missing import: env.proxy_does_not_exist"},
		{"wasi function Envoy lacks", module([][2]string{{"wasi_snapshot_preview1", "path_open"}}, false, false), "missing import: wasi_snapshot_preview1.path_open"},
		{"no ABI version", module(nil, false, true), "ABI version"},
		{"not wasm", []byte("hello"), "compile module"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := NewRuntime(context.Background(), tt.code, p)
			if err == nil {
				rt.Close(context.Background())
				t.Fatal("module accepted")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q, want %q", err, tt.want)
			}
		})
	}
}

// TestRestrictedCallsDuringInitialize: _initialize may call only Envoy's
// start-up list; poll_oneoff traps under 1.33 and passes under 1.39.
func TestRestrictedCallsDuringInitialize(t *testing.T) {
	code := module([][2]string{{"wasi_snapshot_preview1", "poll_oneoff"}}, true, false)
	tests := []struct {
		version string
		wantErr string
	}{
		{"1.33", "restricted_callback: wasi_snapshot_preview1.poll_oneoff"},
		{"1.39", ""},
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			p, _ := ProfileFor(tt.version)
			rt, err := NewRuntime(context.Background(), code, p)
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(context.Background())
			vm, err := rt.NewVM(context.Background(), testEnv(), VMConfig{Name: "w"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("NewVM: %v", err)
				}
				vm.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewVM error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseLogLevel(t *testing.T) {
	for in, want := range map[string]LogLevel{"": LogInfo, "trace": LogTrace, "WARN": LogWarn, "warning": LogWarn, "error": LogError, "critical": LogCritical} {
		got, err := ParseLogLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLogLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLogLevel("loud"); err == nil {
		t.Error("ParseLogLevel accepted \"loud\"")
	}
}
