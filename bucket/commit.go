package bucket

import (
	"errors"
	"fmt"
	"slices"
)

// commit writes every entry of an allowed attempt in order. On a lost
// race it refunds what it wrote and reports conflict; on another store
// error it refunds and returns the error.
func (l *StoreLimiter) commit(now int64, entries []entry) (conflict bool, err error) {
	var sentinel uint32 // the sentinel CAS of this attempt's creates, once touched
	for i := range entries {
		written, err := l.write(now, &entries[i], &sentinel)
		if err != nil {
			l.rollback(entries[:i+written])
			if errors.Is(err, ErrCASMismatch) {
				return true, nil
			}
			return false, err
		}
	}
	return false, nil
}

// write writes one entry, then frees the user's other slots merged into
// it. written is 1 when the entry's own key was written (its tokens must
// be refunded on failure), 0 otherwise. A slot already freed stays free
// on failure; its debt stays in the entry's key (counted twice at worst,
// until the refund). sentinel is the attempt's sentinel CAS for creates
// (see createWith).
func (l *StoreLimiter) write(now int64, e *entry, sentinel *uint32) (written int, err error) {
	e.written = e.req.g.next(e.prev, now, e.out.newDebt)
	var value []byte
	if e.slot {
		value = appendSlot(e.value[:0], e.req.user.owner, e.written)
	} else {
		value = appendBucket(e.value[:0], e.written)
	}
	if e.exists {
		err = l.store.Set(e.key, value, e.cas)
	} else {
		err = l.createWith(e.key, value, sentinel)
	}
	if err != nil {
		return 0, fmt.Errorf("bucket: write %s: %w", e.key, err)
	}
	if e.claim && l.settleClaim(now, e) {
		return 1, fmt.Errorf("bucket: overflow bucket %s written during a claim: %w", e.inherited.key, ErrCASMismatch)
	}
	if e.claim || e.overflow {
		// Write, then read what a concurrent take of the same user writes
		// (see settleClaim): a slot claimed meanwhile by another worker.
		// The slot just claimed needs no read.
		written := ""
		if e.claim {
			written = e.key
		}
		own, err := l.scanUser(now, e.req, written, nil, &e.req.claim)
		if err != nil {
			return 1, err
		}
		if slices.ContainsFunc(own, func(o slotRef) bool { return o.key != e.key }) {
			return 1, fmt.Errorf("bucket: another take claimed a slot in %s meanwhile: %w", e.req.key, ErrCASMismatch)
		}
	}
	for _, m := range e.merged {
		free := encodeSlot(digest{}, State{Latest: max(m.state.Latest, now), Restarts: m.state.Restarts + 1})
		if err := l.store.Set(m.key, free, m.cas); err != nil {
			return 1, fmt.Errorf("bucket: free %s: %w", m.key, err)
		}
	}
	return 1, nil
}

// settleClaim completes a claim, right after its write. If the overflow
// bucket has been written since the take read the debt the new slot
// inherits, the slot takes on the overflow bucket's whole current debt
// too and settleClaim returns true: the take must then start over (its
// tokens are refunded and its next attempt, no longer a claim, decides on
// the slot with that debt).
//
// This closes a race between two takes of one user on two workers: one
// found no slot for the user and drew from the overflow bucket (X), the
// other claimed a slot (Y). Each writes, then reads what the other writes:
// X re-scans the user's candidates after its overflow write (see write)
// and starts over from the user's slot if one appeared; Y re-reads the
// overflow bucket after writing its slot. X's write is either before Y's
// first read of the overflow bucket (Y inherits it), or between Y's two
// reads (Y sees the change), or after Y's second read, and then X's
// re-scan, later still, sees Y's slot. So the two are never both admitted
// on the same tokens. Adding the whole debt (Y cannot tell X's share from
// other overflowed users') errs towards admitting less, and only happens
// when the overflow bucket was written within the few host calls of a
// claim.
func (l *StoreLimiter) settleClaim(now int64, e *entry) (restart bool) {
	g := e.req.g
	value, cas, err := l.store.Get(e.inherited.key)
	switch {
	case notFound(err):
		return false // still never written: unchanged
	case err != nil:
		l.stats.settlesAbandoned.Add(1)
		return true
	case cas == e.inherited.cas:
		return false
	}
	overflow, _ := decodeBucket(value, g)
	extra := g.debt(overflow, now)
	if extra == (span{}) {
		return false
	}
	reclaimed := false
	settled := l.editKey(e.key, func(value []byte, found bool) ([]byte, editOutcome) {
		if !found {
			return nil, editAbandon
		}
		owner, s, ok := decodeSlot(value, g)
		if !ok || owner != e.req.user.owner {
			reclaimed = true // the next attempt claims again
			return nil, editAbandon
		}
		s = g.next(s, now, g.add(g.debt(s, now), extra))
		return encodeSlot(owner, s), editWrite
	})
	switch {
	case settled:
		l.stats.settled.Add(1)
	case !reclaimed:
		l.stats.settlesAbandoned.Add(1)
	}
	return true
}

// rollback refunds the tokens of written entries.
func (l *StoreLimiter) rollback(written []entry) {
	for i := len(written) - 1; i >= 0; i-- {
		if !l.refund(&written[i]) {
			l.stats.refundsAbandoned.Add(1)
		}
	}
}

// refund gives an entry's tokens back (Limit.Refund) in a CAS loop. It
// returns false when it gives up, leaving the tokens taken. A refund that
// finds the slot owned by someone else, or the schedule restarted, has
// nothing left to give back: the tokens flowed back with time.
func (l *StoreLimiter) refund(e *entry) bool {
	g := e.req.g
	return l.editKey(e.key, func(value []byte, found bool) ([]byte, editOutcome) {
		if !found {
			return nil, editAbandon
		}
		var s State
		var ok bool
		if e.slot {
			var owner digest
			owner, s, ok = decodeSlot(value, g)
			if ok && owner != e.req.user.owner {
				return nil, editDone
			}
		} else {
			s, ok = decodeBucket(value, g)
		}
		if !ok {
			return nil, editDone
		}
		s, refunded := g.refund(s, e.written, e.req.tokens)
		switch {
		case !refunded:
			return nil, editDone
		case e.slot:
			return encodeSlot(e.req.user.owner, s), editWrite
		}
		return encodeBucket(s), editWrite
	})
}
