package host

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// TestSharedDataCASAcrossParallelVMs: four VMs of one module, each on its
// own goroutine (as Envoy workers run in parallel), increment one shared
// data key with get + set(cas) retry loops; no increment may be lost.
func TestSharedDataCASAcrossParallelVMs(t *testing.T) {
	code, err := os.ReadFile(tinyModule(t))
	if err != nil {
		t.Fatal(err)
	}
	first := newDirect(t, code, directOptions{version: "1.33"})
	const vms, each = 4, 300
	drivers := []*direct{first}
	for i := 1; i < vms; i++ {
		vm, err := first.rt.NewVM(context.Background(), first.env, proxywasm.VMConfig{VMID: "test", Name: "worker " + strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(vm.Close)
		root, err := vm.StartPlugin(proxywasm.PluginConfig{Name: "test", RootID: "test"})
		if err != nil {
			t.Fatal(err)
		}
		drivers = append(drivers, &direct{rt: first.rt, env: first.env, vm: vm, root: root})
	}
	// A set on a missing key never checks its CAS (Envoy's semantics), so
	// two VMs that both found the key missing could both create it: the
	// key exists before they start, as in TestStoreParallelCASIncrements.
	if res := first.env.SharedData.Set("test", "count", []byte("0"), 0); res != 0 {
		t.Fatalf("creating the key: result %d", res)
	}
	var wg sync.WaitGroup
	for _, d := range drivers {
		wg.Add(1)
		go func(d *direct) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if r := d.do(mcpHeaders([2]string{"x-action", "count"}), nil, 0, 1<<20); r.status != 200 {
					t.Errorf("status %d", r.status)
					return
				}
			}
		}(d)
	}
	wg.Wait()
	v, _, res := first.env.SharedData.Get("test", "count")
	if res != 0 || string(v) != strconv.Itoa(vms*each) {
		t.Fatalf("count = %q (result %d), want %d", v, res, vms*each)
	}
}
