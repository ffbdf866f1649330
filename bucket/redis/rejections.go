package redis

import (
	"strings"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// This file is a limiter's record of the takes Redis rejected, so that
// the same take is rejected again without calling Redis while Redis's
// answer still holds (Options.RejectLocallyFor). Under a flood of calls
// that the limits reject, Redis then sees about one call per distinct
// take, worker and RejectLocallyFor instead of one per call, and the
// rejected calls get their answer at once.
//
// A take is its command (the EVALSHA run of decide: its keys, which name
// every bucket and quota with its limit, the tokens and calls asked, and
// a quota's window), so only the same take from the same window matches.
// Redis's answer holds for RetryAfter after Redis decided: a bucket's
// debt shrinks only as time passes, a quota's count only grows within its
// window. The record counts that time from the moment the call was sent,
// which is earlier, so its rejections are ones Redis would make, with a
// Retry-After that is Redis's less the time since. A take with a
// concurrency cap is not recorded: a call's end frees a place at any time
// (and each such take names a lease of its own). A record is believed for
// RejectLocallyFor at most, so a key that an operator resets in Redis is
// honoured within that time.

// maxRejections bounds a limiter's record: an entry is its command (about
// 200 bytes for a take of four buckets) and a Decision.
const maxRejections = 512

// rejection is one take Redis rejected: its decision, and when the call
// was sent (the limiter's clock).
type rejection struct {
	decision *bucket.Decision
	sent     time.Time
}

// rejections is the record, keyed by the take's EVALSHA command.
type rejections struct {
	ttl   time.Duration
	takes map[string]rejection
}

// find returns the decision of the take whose command is key at at (the
// limiter's clock), and true, when Redis rejected it and its answer still
// holds.
func (r *rejections) find(key []byte, at time.Time) (bucket.Decision, bool) {
	e, ok := r.takes[string(key)]
	if !ok {
		return bucket.Decision{}, false
	}
	elapsed := at.Sub(e.sent)
	if elapsed < 0 || elapsed >= r.ttl || elapsed >= e.decision.RetryAfter {
		return bucket.Decision{}, false
	}
	d := *e.decision
	d.RetryAfter -= elapsed
	d.Tightest.ResetAfter = max(d.Tightest.ResetAfter-elapsed, 0)
	return d, true
}

// add records that Redis rejected the take whose command is key, sent at
// sent, with d. A full record starts again with a new map: a sweep of its
// expired entries, or the runtime's map clearing, would add kilobytes to
// a module at its size budget, for floods of more distinct rejected takes
// a second than the record holds.
func (r *rejections) add(key []byte, sent time.Time, d bucket.Decision) {
	if len(r.takes) >= maxRejections || r.takes == nil {
		r.takes = make(map[string]rejection)
	}
	// The decision's names may be views of memory the caller reuses.
	t := &d.Tightest.Bucket
	t.Tool, t.User = strings.Clone(t.Tool), strings.Clone(t.User)
	d.Lease = nil
	r.takes[string(key)] = rejection{decision: &d, sent: sent}
}
