package proxywasm

import (
	"fmt"
	"strconv"
	"strings"
)

// Profile is the behaviour of one range of Envoy releases where they differ
// for a standard-Go module: the answer of WASI poll_oneoff and the host
// calls allowed while the host is inside _initialize and inside
// proxy_on_memory_allocate (proxy-wasm-cpp-host src/wasm.cc
// WasmBase::startVm and include/proxy-wasm/wasm.h WasmBase::allocMemory,
// which call WasmVm::setRestrictedCallback; a call outside the list traps
// with "restricted_callback", src/v8/v8.cc).
type Profile struct {
	// Name is the profile's Envoy version, e.g. "1.33".
	Name string
	// PollOneoffENOSYS makes poll_oneoff answer ENOSYS (52), as Envoy
	// 1.33-1.38 do; otherwise it succeeds with zero events (host PR #533,
	// Envoy 1.39).
	PollOneoffENOSYS bool
	// InitAllowed is the set of imports ("module.name") callable during
	// _initialize.
	InitAllowed map[string]bool
	// AllocAllowed is the set of imports callable during
	// proxy_on_memory_allocate.
	AllocAllowed map[string]bool
	// ClockResGet provides wasi clock_res_get (added by PR #533).
	ClockResGet bool
	// HigressRedis provides Higress's Redis host calls (redis.go).
	HigressRedis bool
}

// DefaultEnvoyVersion is the profile used when none is given: the oldest
// (and harshest) Envoy that loads standard-Go modules.
const DefaultEnvoyVersion = "1.33"

func wasiNames(names ...string) []string {
	out := make([]string, 0, 2*len(names))
	for _, n := range names {
		out = append(out, "wasi_unstable."+n, "wasi_snapshot_preview1."+n)
	}
	return out
}

func set(groups ...[]string) map[string]bool {
	m := map[string]bool{}
	for _, g := range groups {
		for _, n := range g {
			m[n] = true
		}
	}
	return m
}

// ProfileFor returns the profile of an Envoy version "1.N" (or "v1.N.x").
// Versions before 1.33 are refused: they lack WASI imports every Go module
// has and would not load it at all.
func ProfileFor(version string) (Profile, error) {
	if strings.TrimSpace(version) == HigressVersion {
		return higressProfile()
	}
	v := strings.TrimPrefix(strings.TrimSpace(version), "v")
	if v == "" {
		v = DefaultEnvoyVersion
	}
	parts := strings.Split(v, ".")
	if len(parts) < 2 || parts[0] != "1" {
		return Profile{}, fmt.Errorf("proxywasm: envoy version %q: want 1.N (e.g. 1.33)", version)
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil {
		return Profile{}, fmt.Errorf("proxywasm: envoy version %q: %w", version, err)
	}
	if minor < 33 {
		return Profile{}, fmt.Errorf("proxywasm: envoy version %q: Envoy before 1.33 lacks WASI imports a standard-Go module needs (it fails to load it); use 1.33 or later", version)
	}
	// startVm's list, including the fd_fdstat calls added for Go
	// (proxy-wasm-cpp-host PR #427, in Envoy 1.33).
	initAllowed := set([]string{"env.proxy_log"}, wasiNames("fd_write", "args_sizes_get", "args_get",
		"environ_sizes_get", "environ_get", "fd_prestat_get", "fd_prestat_dir_name",
		"clock_time_get", "random_get", "fd_fdstat_get", "fd_fdstat_set_flags"))
	// allocMemory's list.
	allocAllowed := set([]string{"env.proxy_log"}, wasiNames("fd_write", "clock_time_get"))
	p := Profile{Name: fmt.Sprintf("1.%d", minor), PollOneoffENOSYS: true, InitAllowed: initAllowed, AllocAllowed: allocAllowed}
	if minor >= 39 {
		// PR #533: poll_oneoff succeeds with no events; every WASI call is
		// allowed while the module initialises, and polling/yielding (what
		// Go's runtime does around a GC) during allocation.
		p.PollOneoffENOSYS = false
		p.ClockResGet = true
		p.InitAllowed = set([]string{"env.proxy_log"}, wasiNames(wasiFunctionNames...))
		p.AllocAllowed = set([]string{"env.proxy_log"}, wasiNames("fd_write", "clock_time_get", "poll_oneoff", "sched_yield"))
	}
	return p, nil
}
