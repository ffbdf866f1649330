package bucket

import (
	"errors"
	"fmt"
	"time"
)

// takesOneBucket reports whether a take of d alone is takeOne's: tokens
// from one token bucket that is not per-user.
func takesOneBucket(d *Demand) bool {
	return d.Tokens != 0 && !d.CountsCalls() && !d.Bucket.Kind.PerUser()
}

// takeOne is take for one demand of which takesOneBucket holds, most
// filters' take: the same reads, decision and write as takeWith with one
// entry, in one function over its own few variables, called by Take
// itself. In a Wasm VM the general take's levels of calls, its request
// and entry lists, its merging and its loops over entries cost several
// times the bucket's arithmetic. The two must decide alike:
// TestTakeOneMatchesTake runs both on the same takes.
func (l *StoreLimiter) takeOne(at time.Time, dm *Demand, d *Decision) error {
	now, err := unixNanos(at)
	if err != nil {
		return err
	}
	sc := l.scratch.Swap(nil)
	if sc == nil {
		sc = new(takeScratch)
	}
	err = l.takeOneWith(sc, now, dm, d)
	l.scratch.Store(sc)
	return err
}

// takeOneWith is takeOne with the memory of sc, where the value written
// lives: on the stack it would move to the heap, as it goes to the
// Store's method.
func (l *StoreLimiter) takeOneWith(sc *takeScratch, now int64, dm *Demand, d *Decision) error {
	g, err := checkDemand(0, dm, now)
	if err != nil {
		return err
	}
	b := &dm.Bucket
	key := l.bucketKey(b)
	tokens := uint64(dm.Tokens)
	out := &sc.out
	var debt span
	for range l.opts.MaxAttempts {
		stored, cas, err := l.store.Get(key)
		exists := err == nil
		var prev State
		debt = span{}
		switch {
		case exists:
			if s, ok := decodeBucket(stored, g); ok {
				prev, debt = s, g.debt(s, now)
			} else {
				l.stats.corrupt.Add(1)
			}
		case !notFound(err):
			*d = Decision{}
			return fmt.Errorf("bucket: read %s: %w", key, err)
		}
		g.take(debt, tokens, out)
		d.Tightest.Bucket, d.Tightest.Remaining, d.Tightest.ResetAfter = *b, out.Remaining, out.ResetAfter
		if !out.Allowed {
			d.Rejected = d.Rejected.With(b.Kind)
			d.OverCapacity, d.RetryAfter = out.OverCapacity, out.Wait
			return nil
		}
		written := appendBucket(sc.value[:0], g.next(prev, now, out.newDebt))
		if exists {
			err = l.store.Set(key, written, cas)
		} else {
			var sentinel uint32
			err = l.createWith(key, written, &sentinel)
		}
		switch {
		case err == nil:
			d.Allowed = true
			return nil
		case !errors.Is(err, ErrCASMismatch):
			*d = Decision{}
			return fmt.Errorf("bucket: write %s: %w", key, err)
		}
		l.stats.conflicts.Add(1)
	}
	l.stats.contended.Add(1)
	*d = Decision{RetryAfter: l.opts.ContendedRetryAfter, Contended: true}
	d.Tightest = Status{Bucket: *b, Remaining: g.remaining(debt), ResetAfter: debt.ceil()}
	return nil
}
