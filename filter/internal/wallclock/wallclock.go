// Package wallclock reads the wall clock, the time the limiter's buckets
// are kept in (shared by the VMs of every worker and, with Redis, by every
// proxy).
//
// In the module, time.Now reads two WASI clocks, the wall clock and the
// monotonic one, and each read is a host call. The limiter needs only the
// wall clock (a monotonic reading means nothing to another VM), so Now
// reads that one clock: a host call fewer on every rate-limited request.
// Elsewhere Now is time.Now.
package wallclock
