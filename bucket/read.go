package bucket

import (
	"fmt"
	"unsafe"
)

// read reads the state of every request, appending to entries. Each
// entry is read in its place: in a Wasm VM copying one is a call. owned
// has room for one slot per request (see readUser).
func (l *StoreLimiter) read(now int64, reqs []request, entries []entry, owned []slotRef) ([]entry, error) {
	for i := range reqs {
		r := &reqs[i]
		n := len(entries)
		// Reset in place: appending a zero entry clears all of it, its
		// value's memory too, a loop of memory copies in a Wasm VM under
		// wazero. The caller leaves room for every request.
		entries = entries[:n+1]
		entries[n].reset()
		var err error
		if r.user == nil {
			err = l.readBucket(now, r, r.key, &entries[n])
		} else {
			err = l.readUser(now, r, &entries[n], owned[i:i:i+1])
		}
		if err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// readBucket reads a bucket that is not a slot into e, which must be
// zero.
func (l *StoreLimiter) readBucket(now int64, r *request, key string, e *entry) error {
	e.req, e.key = r, key
	value, cas, err := l.store.Get(key)
	switch {
	case notFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("bucket: read %s: %w", key, err)
	}
	e.exists, e.cas = true, cas
	if s, ok := decodeBucket(value, r.g); ok {
		e.prev = s
		e.debt = r.g.debt(s, now)
	} else {
		l.stats.corrupt.Add(1)
	}
	return nil
}

// claimable is a slot a user may claim, as scanUser found it.
type claimable struct {
	found  bool // there is such a slot; the other fields are set only then
	exists bool // it was written before (else the claim creates it)
	// pos is the slot's place in the table. Its key is built only for a
	// claim (slotKey): most scans find the user's own slot and claim none.
	pos   uint64
	cas   uint32
	state State
}

// scanUser reads the user's candidate slots in order, up to the first
// slot never written (every slot the user owns comes before it, see
// table.go) or the end of the sequence. It returns the slots the user
// owns, and into *claim the first slot it may claim: never written, free,
// or owned by another user whose bucket has been full for
// Options.ReclaimGrace at now (in place: in a Wasm VM a result this size
// is cleared and copied, calls). written, when not "", is a slot this
// take has just written: it exists and holds the user, so it is passed
// over without a read, and left out of own. own is appended to room[:0],
// memory the caller lends for the one slot a user mostly owns, so that
// reading it allocates nothing.
//
// Each slot's key is built in r.probe, memory kept from one take to the
// next, and passed to the store as a view of it (a Store keeps no key, see
// Store). The key of the first slot the user owns is the one kept for it
// with the user's place in the table (ownedKey), and those of any others
// (duplicates of a claim race) are copied: a scan of a user that keeps
// its slot allocates nothing.
func (l *StoreLimiter) scanUser(now int64, r *request, written string, room []slotRef, claim *claimable) ([]slotRef, error) {
	own := room[:0]
	claim.found = false
	idleSince := max(now-int64(l.opts.ReclaimGrace), 0)
	probe := appendSlotPrefix(r.probe[:0], r.key)
	prefix := len(probe)
	pos := r.user.start
	for i := range r.user.n {
		if i > 0 {
			pos = r.user.after(pos)
		}
		probe = appendDecimal(probe[:prefix], int(pos))
		// Valid until the next slot's key is built: a grown probe leaves
		// the earlier memory to the views of it.
		key := unsafe.String(&probe[0], len(probe))
		if key == written {
			continue
		}
		value, cas, err := l.store.Get(key)
		if notFound(err) {
			if !claim.found {
				claim.found, claim.exists, claim.pos, claim.cas, claim.state = true, false, pos, 0, State{}
			}
			break
		}
		if err != nil {
			r.probe = probe
			claim.found = false
			return nil, fmt.Errorf("bucket: read %s: %w", key, err)
		}
		owner, s, ok := decodeSlot(value, r.g)
		if !ok {
			l.stats.corrupt.Add(1)
		}
		switch {
		case owner == r.user.owner:
			if len(own) < cap(own) {
				own = own[:len(own)+1]
			} else {
				own = append(own, slotRef{})
			}
			o := &own[len(own)-1]
			o.cas, o.state = cas, s
			if len(own) == 1 {
				o.key = r.user.ownedKey(probe)
			} else {
				o.key = string(probe)
			}
		case !claim.found && (owner == digest{} || r.g.debt(s, idleSince) == span{}):
			claim.found, claim.exists, claim.pos, claim.cas, claim.state = true, true, pos, cas, s
		}
	}
	r.probe = probe
	return own, nil
}

// readUser finds the user's slot in a per-user table (see table.go) and
// reads it into e, which must be zero. room is memory for the slots the
// user owns (the first becomes e's key, any others e.merged): with room
// for the one slot a user mostly owns, the scan allocates no list.
func (l *StoreLimiter) readUser(now int64, r *request, e *entry, room []slotRef) error {
	claim := &r.claim
	own, err := l.scanUser(now, r, "", room, claim)
	if err != nil {
		return err
	}
	switch {
	case len(own) > 0:
		e.req, e.key, e.exists, e.cas, e.prev, e.slot = r, own[0].key, true, own[0].cas, own[0].state, true
		for i := range own {
			e.debt = r.g.add(e.debt, r.g.debt(own[i].state, now))
		}
		e.merged = own[1:]
		return nil
	case claim.found:
		// The claimed slot starts from the overflow bucket's debt: read
		// the overflow bucket, then make the entry the slot's.
		if err := l.readBucket(now, r, overflowKey(r.key), e); err != nil {
			return err
		}
		e.inherited.key, e.inherited.cas = e.key, e.cas
		e.key, e.exists, e.cas, e.prev = slotKey(r.key, int(claim.pos)), claim.exists, claim.cas, claim.state
		e.slot, e.claim = true, true
		return nil
	default:
		e.overflow = true
		return l.readBucket(now, r, overflowKey(r.key), e)
	}
}

// decide evaluates every entry and combines the outcomes into *d (in
// place: in a Wasm VM a Decision returned by value is a copy, a call).
// *d must be zero but for what an earlier decide wrote: decide sets the
// fields it writes field by field rather than clearing *d, a loop of
// memory copies in a Wasm VM under wazero.
func decide(entries []entry, d *Decision) {
	d.Allowed, d.Overflowed, d.Rejected, d.OverCapacity, d.RetryAfter = true, false, 0, false, 0
	for i := range entries {
		e := &entries[i]
		e.req.g.take(e.debt, e.req.tokens, &e.out)
		d.Overflowed = d.Overflowed || e.overflow
		if !e.out.Allowed {
			d.Allowed = false
			d.Rejected = d.Rejected.With(e.req.bucket.Kind)
			d.OverCapacity = d.OverCapacity || e.out.OverCapacity
		}
	}
	tightest := -1
	for i := range entries {
		o := &entries[i].out
		if d.Allowed {
			if tightest < 0 || o.Remaining < entries[tightest].out.Remaining ||
				o.Remaining == entries[tightest].out.Remaining && o.ResetAfter > entries[tightest].out.ResetAfter {
				tightest = i
			}
		} else if !o.Allowed && (tightest < 0 || o.Wait > entries[tightest].out.Wait) {
			tightest = i
		}
	}
	t := &entries[tightest]
	d.Tightest.Bucket, d.Tightest.Remaining, d.Tightest.ResetAfter = t.req.bucket, t.out.Remaining, t.out.ResetAfter
	if !d.Allowed {
		d.RetryAfter = t.out.Wait
	}
}
