package redis

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// Concurrency leases in Redis: an admitted take's lease is its member in
// the sorted set of each cap (take.lua). Release removes the members,
// renewal moves their expiry to Redis's TIME + LeaseTTL; both are one
// script run for many leases. Release queues the lease and Flush sends
// the queue in one call: the filter flushes from its plugin context,
// whose callouts outlive every stream. A lease whose proxy died is never
// released nor renewed: it expires LeaseTTL after its last renewal. A
// failed release or renewal is reported to the Observer (LeaseFailed)
// and never touches a request or the breaker.

// maxQueuedReleases bounds the members waiting for Flush; beyond it a
// release is dropped (counted as failed) and its lease expires by TTL.
const maxQueuedReleases = 4096

// errReleaseQueueFull: too many releases wait for Flush.
var errReleaseQueueFull = errors.New("redis: release queue full")

// leaseQueue holds released members until Flush.
type leaseQueue struct {
	keys, members []string
}

// Release implements bucket.LeaseKeeper: a lease taken locally (failure
// mode "local") is released there at once; one taken in Redis is queued
// for Flush.
func (l *Limiter) Release(lease bucket.Lease) {
	rl, ok := lease.(*Lease)
	if !ok || rl.Empty() {
		return
	}
	if rl.local != nil {
		if keeper, ok := l.opts.Fallback.(bucket.LeaseKeeper); ok {
			keeper.Release(rl.local)
		}
		return
	}
	if len(l.released.keys)+len(rl.keys) > maxQueuedReleases {
		l.leaseFailed(opRelease, errReleaseQueueFull)
		return
	}
	l.released.keys = append(l.released.keys, rl.keys...)
	l.released.members = append(l.released.members, rl.members...)
}

// Flush sends the queued releases in one call. It reports whether any
// was queued.
func (l *Limiter) Flush() bool {
	q := l.released
	l.released = leaseQueue{}
	if len(q.keys) == 0 {
		return false
	}
	l.leaseCall(opRelease, q.keys, q.members, nil)
	return true
}

// Renew implements bucket.LeaseKeeper.
func (l *Limiter) Renew(now time.Time, lease bucket.Lease) {
	l.RenewAll(now, []bucket.Lease{lease})
}

// RenewAll renews leases: the local ones with the fallback limiter, the
// Redis ones in one call.
func (l *Limiter) RenewAll(now time.Time, leases []bucket.Lease) {
	var keys, members []string
	for _, lease := range leases {
		rl, ok := lease.(*Lease)
		if !ok || rl.Empty() {
			continue
		}
		if rl.local != nil {
			if keeper, ok := l.opts.Fallback.(bucket.LeaseKeeper); ok {
				keeper.Renew(now, rl.local)
			}
			continue
		}
		keys = append(keys, rl.keys...)
		members = append(members, rl.members...)
	}
	if len(keys) == 0 {
		return
	}
	head := []string{strconv.FormatInt(l.opts.LeaseTTL.Milliseconds(), 10), strconv.Itoa(QuotaExpiryMarginMillis)}
	l.leaseCall(opRenew, keys, append(head, members...), nil)
}

// leaseCall runs op over keys, EVALSHA first, EVAL after NOSCRIPT; then
// reports the number of leases the script touched to done, if set.
func (l *Limiter) leaseCall(op string, keys, args []string, done func(n int64)) {
	args = append([]string{op}, args...)
	var send func(eval bool)
	send = func(eval bool) {
		body := command(l.opts.Protocol, eval, keys, args)
		err := l.opts.Transport.Post(body, l.opts.Timeout, func(status int, reply []byte, err error) {
			if err != nil {
				l.leaseFailed(op, fmt.Errorf("redis: no reply: %w", err))
				return
			}
			values, err := parseReply(nil, l.opts.Protocol, status, reply, eval)
			if errors.Is(err, errNoScript) && !eval {
				l.loaded = false
				send(true)
				return
			}
			if err == nil && (len(values) != 1 || values[0] < 0 || values[0] > int64(len(keys))) {
				err = fmt.Errorf("%w: %s for %d leases", errReply, intList(values), len(keys))
			}
			if err != nil {
				l.leaseFailed(op, err)
				return
			}
			l.loaded = true
			if done != nil {
				done(values[0])
			}
		})
		if err != nil {
			l.leaseFailed(op, fmt.Errorf("redis: send: %w", err))
		}
	}
	send(!l.loaded)
}

// leaseFailed tells the observer.
func (l *Limiter) leaseFailed(op string, err error) {
	if o := l.opts.Observer; o != nil {
		o.LeaseFailed(op, err)
	}
}

// intList writes values as fmt's %v does: "[1 2 3]".
func intList(values []int64) string {
	b := []byte{'['}
	for i, v := range values {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	return string(append(b, ']'))
}
