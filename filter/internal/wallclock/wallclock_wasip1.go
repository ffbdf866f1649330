//go:build wasip1

package wallclock

import "time"

// realtime is WASI's clockid for the wall clock.
const realtime = 0

//go:wasmimport wasi_snapshot_preview1 clock_time_get
//go:noescape
func clockTimeGet(id uint32, precision uint64, time *uint64) uint32

// Now returns the wall clock's time, without a monotonic reading. If the
// host refuses the clock it returns time.Now(), which asks again: a host
// without clocks fails the module in Go's runtime anyway.
func Now() time.Time {
	var ns uint64
	if clockTimeGet(realtime, 0, &ns) != 0 {
		return time.Now()
	}
	return time.Unix(0, int64(ns))
}
