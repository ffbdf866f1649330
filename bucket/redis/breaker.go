package redis

import "time"

// breaker stops calling Redis after threshold consecutive failures: the
// failure mode then decides at once instead of every request waiting for
// its timeout. After the backoff one call goes through as a probe; its
// success closes the breaker, its failure pauses calls again for twice as
// long (up to max). A probe whose reply never comes (its stream went away
// and the host dropped the callout) stops counting as in flight after
// probeTimeout.
type breaker struct {
	threshold    int
	base, max    time.Duration
	probeTimeout time.Duration

	failures      int
	backoff       time.Duration
	openUntil     time.Time
	probing       bool
	probeDeadline time.Time
}

// allow reports whether a call may go to Redis at now, and whether it is
// the probe of an open breaker.
func (b *breaker) allow(now time.Time) (probe, ok bool) {
	if b.failures < b.threshold {
		return false, true
	}
	if now.Before(b.openUntil) || b.probing && now.Before(b.probeDeadline) {
		return false, false
	}
	b.probing = true
	b.probeDeadline = now.Add(b.probeTimeout)
	return true, true
}

// success closes the breaker.
func (b *breaker) success() {
	b.failures = 0
	b.backoff = b.base
	b.probing = false
	b.openUntil = time.Time{}
}

// failure counts a failed call that ended at now.
func (b *breaker) failure(now time.Time, probe bool) {
	b.failures++
	switch {
	case probe:
		b.probing = false
		b.backoff = min(2*b.backoff, b.max)
		b.openUntil = now.Add(b.backoff)
	case b.failures == b.threshold:
		b.openUntil = now.Add(b.backoff)
	}
}
