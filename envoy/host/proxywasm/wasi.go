package proxywasm

import (
	"crypto/rand"
	"fmt"
	"sort"
	"strings"
	"time"
)

// WASI errno values.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoNosys   = 52
	errnoNotsup  = 58
)

// wasiFunctionNames are the WASI preview1 functions the host provides: the
// set Envoy provides to Go modules since 1.33 (proxy-wasm-cpp-host
// src/exports.cc, with the additions of PR #427), plus clock_res_get from
// PR #533 in the 1.39 profile. A module importing any other WASI function
// fails to load, as in Envoy.
var wasiFunctionNames = []string{
	"fd_write", "fd_read", "fd_seek", "fd_close", "fd_fdstat_get", "fd_fdstat_set_flags",
	"fd_prestat_get", "fd_prestat_dir_name", "environ_get", "environ_sizes_get",
	"args_get", "args_sizes_get", "clock_time_get", "random_get", "sched_yield",
	"poll_oneoff", "proc_exit",
}

func wasiFunctions(p Profile) []hostFunc {
	fns := []hostFunc{
		{"fd_write", types(i32, i32, i32, i32), types(i32), wasiFdWrite},
		{"fd_read", types(i32, i32, i32, i32), types(i32), func(vm *VM, s []uint64) {
			// "Don't support reading of any files." (exports.cc)
			s[0] = errnoNosys
		}},
		{"fd_seek", types(i32, i64, i32, i32), types(i32), func(vm *VM, s []uint64) {
			vm.logError("wasi_unstable fd_seek")
			s[0] = errnoSuccess
		}},
		{"fd_close", types(i32), types(i32), func(vm *VM, s []uint64) {
			vm.logError("wasi_unstable fd_close")
			s[0] = errnoSuccess
		}},
		{"fd_fdstat_get", types(i32, i32), types(i32), wasiFdFdstatGet},
		{"fd_fdstat_set_flags", types(i32, i32), types(i32), func(vm *VM, s []uint64) {
			// None of the flags have an effect on stdout/stderr (PR #427).
			s[0] = errnoNosys
		}},
		{"fd_prestat_get", types(i32, i32), types(i32), func(vm *VM, s []uint64) {
			// No preopened directories.
			s[0] = errnoBadf
		}},
		{"fd_prestat_dir_name", types(i32, i32, i32), types(i32), func(vm *VM, s []uint64) {
			s[0] = errnoNosys
		}},
		{"environ_get", types(i32, i32), types(i32), wasiEnvironGet},
		{"environ_sizes_get", types(i32, i32), types(i32), wasiEnvironSizesGet},
		{"args_get", types(i32, i32), types(i32), func(vm *VM, s []uint64) { s[0] = errnoSuccess }},
		{"args_sizes_get", types(i32, i32), types(i32), func(vm *VM, s []uint64) {
			if !vm.putU32(uint32(s[0]), 0) || !vm.putU32(uint32(s[1]), 0) {
				s[0] = errnoFault
				return
			}
			s[0] = errnoSuccess
		}},
		{"clock_time_get", types(i32, i64, i32), types(i32), wasiClockTimeGet},
		{"random_get", types(i32, i32), types(i32), func(vm *VM, s []uint64) {
			buf := make([]byte, uint32(s[1]))
			_, _ = rand.Read(buf)
			if !vm.mem.Write(uint32(s[0]), buf) {
				s[0] = errnoFault
				return
			}
			s[0] = errnoSuccess
		}},
		{"sched_yield", nil, types(i32), func(vm *VM, s []uint64) {
			// Vacuously successful without threads (PR #427).
			s[0] = errnoSuccess
		}},
		{"poll_oneoff", types(i32, i32, i32, i32), types(i32), func(vm *VM, s []uint64) {
			if vm.rt.profile.PollOneoffENOSYS {
				// Envoy 1.33-1.38 (PR #427): not implemented.
				s[0] = errnoNosys
				return
			}
			// Envoy 1.39 (PR #533): no event polling, zero events, success.
			if !vm.putU32(uint32(s[3]), 0) {
				s[0] = errnoFault
				return
			}
			s[0] = errnoSuccess
		}},
		{"proc_exit", types(i32), nil, func(vm *VM, s []uint64) {
			// Envoy logs the call and returns; the module cannot continue
			// meaningfully, so the host aborts the call here instead of
			// letting it run on (the VM fails either way).
			vm.logError("wasi_unstable proc_exit")
			panic(&trapError{msg: fmt.Sprintf("wasi proc_exit(%d)", uint32(s[0]))})
		}},
	}
	if p.ClockResGet {
		fns = append(fns, hostFunc{"clock_res_get", types(i32, i32), types(i32), func(vm *VM, s []uint64) {
			if uint32(s[0]) > 1 {
				s[0] = errnoNotsup
				return
			}
			if !vm.putU64(uint32(s[1]), 1) {
				s[0] = errnoFault
				return
			}
			s[0] = errnoSuccess
		}})
	}
	return fns
}

// wasiFdWrite sends stdout to the log at info and stderr at error, one
// line per call without its trailing newline (exports.cc writevImpl).
func wasiFdWrite(vm *VM, s []uint64) {
	fd, iovs, iovsLen, nwrittenPtr := uint32(s[0]), uint32(s[1]), uint32(s[2]), uint32(s[3])
	var level LogLevel
	switch fd {
	case 1:
		level = LogInfo
	case 2:
		level = LogError
	default:
		s[0] = errnoBadf
		return
	}
	var b strings.Builder
	for i := uint32(0); i < iovsLen; i++ {
		iov, ok := vm.view(iovs+i*8, 8)
		if !ok {
			s[0] = errnoFault
			return
		}
		ptr := uint32(iov[0]) | uint32(iov[1])<<8 | uint32(iov[2])<<16 | uint32(iov[3])<<24
		n := uint32(iov[4]) | uint32(iov[5])<<8 | uint32(iov[6])<<16 | uint32(iov[7])<<24
		if n == 0 {
			continue
		}
		data, ok := vm.view(ptr, n)
		if !ok {
			s[0] = errnoFault
			return
		}
		b.Write(data)
	}
	written := b.Len()
	if written > 0 {
		vm.moduleLog(level, strings.TrimSuffix(b.String(), "\n"))
	}
	if !vm.putU32(nwrittenPtr, uint32(written)) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

// wasiFdFdstatGet answers only for stdout and stderr: file type unknown,
// rights FD_WRITE (exports.cc wasi_unstable_fd_fdstat_get). The answer
// matters: a descriptor Go's os package finds pollable would start the
// runtime's network poller.
func wasiFdFdstatGet(vm *VM, s []uint64) {
	fd, out := uint32(s[0]), uint32(s[1])
	if fd != 1 && fd != 2 {
		s[0] = errnoBadf
		return
	}
	var stat [24]byte
	stat[8] = 64 // fs_rights_base = __WASI_RIGHTS_FD_WRITE
	vm.mem.Write(out, stat[:])
	s[0] = errnoSuccess
}

func (vm *VM) environ() []string {
	keys := make([]string, 0, len(vm.cfg.Env))
	for k := range vm.cfg.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+vm.cfg.Env[k])
	}
	return out
}

func wasiEnvironSizesGet(vm *VM, s []uint64) {
	env := vm.environ()
	size := 0
	for _, e := range env {
		size += len(e) + 1
	}
	if !vm.putU32(uint32(s[0]), uint32(len(env))) || !vm.putU32(uint32(s[1]), uint32(size)) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

func wasiEnvironGet(vm *VM, s []uint64) {
	arr, buf := uint32(s[0]), uint32(s[1])
	for _, e := range vm.environ() {
		if !vm.putU32(arr, buf) || !vm.mem.Write(buf, append([]byte(e), 0)) {
			s[0] = errnoFault
			return
		}
		arr += 4
		buf += uint32(len(e) + 1)
	}
	s[0] = errnoSuccess
}

// monotonicBase anchors the monotonic clock.
var monotonicBase = time.Now()

// wasiClockTimeGet answers realtime from the host clock and monotonic from
// a monotonic clock; other clocks are not supported (exports.cc).
func wasiClockTimeGet(vm *VM, s []uint64) {
	var v uint64
	switch uint32(s[0]) {
	case 0:
		v = uint64(vm.env.now().UnixNano())
	case 1:
		v = uint64(time.Since(monotonicBase).Nanoseconds()) + 1
	default:
		s[0] = errnoNotsup
		return
	}
	if !vm.putU64(uint32(s[2]), v) {
		s[0] = errnoFault
		return
	}
	s[0] = errnoSuccess
}

func (vm *VM) logError(msg string) {
	vm.env.log(LogTrace, fmt.Sprintf("[wasm] %s: %s", vm.cfg.Name, msg))
}

// moduleLog writes a module's log line with Envoy's prefix ("wasm log
// <plugin> <root_id> <vm_id>: message", Envoy context.cc Context::log).
func (vm *VM) moduleLog(level LogLevel, msg string) {
	prefix := ""
	if r := vm.rootOf(vm.contextOf()); r != nil {
		prefix = r.logPrefix()
	} else if vm.cfg.VMID != "" {
		prefix = " " + vm.cfg.VMID
	}
	vm.env.log(level, fmt.Sprintf("[wasm] wasm log%s: %s", prefix, msg))
}
