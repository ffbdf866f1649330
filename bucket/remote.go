package bucket

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// This file serves stores that decide a take atomically themselves, such
// as Redis running a script: the caller plans the take here (merged
// demands, each bucket's cost and capacity as exact spans), the store
// compares and adds spans only, and returns each bucket's debt before the
// take; DecideRemote then derives the Decision with the same arithmetic
// and the same rules (decide, in read.go) as StoreLimiter. A store that
// can only add and compare numbers below 2^53 (Lua's doubles) thus makes
// exactly the decisions of shared data.

// ErrStoreUnavailable is the error a Limiter reports when its store could
// not decide (unreachable, too slow, a broken reply) and it is configured
// to refuse requests then rather than admit them.
var ErrStoreUnavailable = errors.New("bucket: store unavailable")

// Span is a non-negative duration of one bucket: Whole + Frac/MaxTokens
// nanoseconds, with 0 <= Frac < MaxTokens.
type Span struct {
	Whole, Frac int64
}

// Duration rounds the span up to a whole nanosecond.
func (s Span) Duration() time.Duration {
	return span{whole: uint64(s.Whole), frac: uint64(s.Frac)}.ceil()
}

// RemoteBucket is one bucket of a planned take.
type RemoteBucket struct {
	// Bucket is the bucket as first demanded.
	Bucket Bucket
	// Tokens is the merged demand.
	Tokens int64
	// Cost is Tokens*RefillPeriod/MaxTokens. A demand above MaxTokens can
	// never be admitted: its Cost is then Capacity plus one nanosecond.
	Cost Span
	// Capacity is the largest debt the bucket may owe: RefillPeriod.
	Capacity Span
}

// PlanRemote validates and merges demands for a store that decides
// atomically. Demands for the same bucket (same kind, tool, user and
// limit) are merged, zero-token demands dropped. It returns an error for
// a negative token count, an unknown kind, an invalid limit, a tool
// bucket without a tool or a user bucket without a user.
func PlanRemote(demands []Demand) ([]RemoteBucket, error) {
	return AppendPlanRemote(nil, demands)
}

// AppendPlanRemote is PlanRemote appending to dst[:0], whose memory a
// caller may reuse.
func AppendPlanRemote(dst []RemoteBucket, demands []Demand) ([]RemoteBucket, error) {
	plan := dst[:0]
	for i, d := range demands {
		b := d.Bucket
		switch {
		case d.Tokens < 0:
			return nil, fmt.Errorf("bucket: demand %d: %w: %d", i, ErrInvalidTokens, d.Tokens)
		case d.Tokens == 0:
			continue
		case d.CountsCalls():
			return nil, fmt.Errorf("bucket: demand %d: a remote store takes token buckets only, not quotas or concurrency caps", i)
		case b.Kind > lastKind:
			return nil, fmt.Errorf("bucket: demand %d: unknown kind %d", i, b.Kind)
		case b.Kind.HasName() && b.Tool == "":
			return nil, fmt.Errorf("bucket: demand %d: %s bucket without a name", i, b.Kind)
		case b.Kind.PerUser() && b.User == "":
			return nil, fmt.Errorf("bucket: demand %d: %s bucket without a user", i, b.Kind)
		}
		if err := b.Limit.Validate(); err != nil {
			return nil, fmt.Errorf("bucket: demand %d (%s bucket): %w", i, b.Kind, err)
		}
		merged := false
		for j := range plan {
			if plan[j].Bucket == b {
				plan[j].Tokens = int64(min(uint64(plan[j].Tokens)+uint64(d.Tokens), math.MaxInt64))
				merged = true
				break
			}
		}
		if !merged {
			plan = append(plan, RemoteBucket{Bucket: b, Tokens: d.Tokens})
		}
	}
	for i := range plan {
		r := &plan[i]
		g := gcraOf(r.Bucket.Limit)
		r.Capacity = Span{Whole: int64(g.p)}
		if uint64(r.Tokens) > g.m {
			r.Cost = Span{Whole: int64(g.p) + 1}
			continue
		}
		c := g.cost(uint64(r.Tokens))
		r.Cost = Span{Whole: int64(c.whole), Frac: int64(c.frac)}
	}
	return plan, nil
}

// DecideRemote is the Decision of a planned take given each bucket's debt
// before it (max(TAT-now, 0), as the store found it), in plan order: the
// same Decision StoreLimiter makes from the same debts. It reports an
// error when the debts do not match the plan or one is out of range.
func DecideRemote(plan []RemoteBucket, debts []Span) (Decision, error) {
	if len(debts) != len(plan) {
		return Decision{}, fmt.Errorf("bucket: %d debts for %d buckets", len(debts), len(plan))
	}
	if len(plan) == 0 {
		return Decision{Allowed: true}, nil
	}
	// A take's few buckets fit in arrays on the stack (decide keeps no
	// reference to them).
	var entryArray [4]entry
	var requestArray [4]request
	entries, requests := entryArray[:], requestArray[:]
	if len(plan) > len(entryArray) {
		entries, requests = make([]entry, len(plan)), make([]request, len(plan))
	}
	entries, requests = entries[:len(plan)], requests[:len(plan)]
	for i := range plan {
		r := &plan[i]
		if err := r.Bucket.Limit.Validate(); err != nil {
			return Decision{}, fmt.Errorf("bucket: bucket %d: %w", i, err)
		}
		g := gcraOf(r.Bucket.Limit)
		d := debts[i]
		if d.Whole < 0 || d.Frac < 0 || uint64(d.Frac) >= g.m {
			return Decision{}, fmt.Errorf("%w: debt %d+%d/%d of bucket %d", ErrInvalidState, d.Whole, d.Frac, g.m, i)
		}
		requests[i] = request{bucket: r.Bucket, g: g, tokens: uint64(r.Tokens)}
		entries[i] = entry{req: &requests[i], debt: span{whole: uint64(d.Whole), frac: uint64(d.Frac)}}
	}
	var d Decision
	decide(entries, &d)
	return d, nil
}
