package bucket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Concurrency caps
//
// A cap admits at most Max calls in flight at once. Its state is the list
// of leases of the calls in flight, each a unique id and an expiry: a take
// drops the expired leases, is admitted when the live ones plus its own
// calls fit in Max, and adds one lease for its calls; the holder releases
// the lease when its call ends (Limiter.Release) and renews it while the
// call runs (Limiter.Renew). A lease whose holder vanished (a VM restarted
// or crashed) expires Options.LeaseTTL after its last renewal, so a slot
// can never leak for longer.
//
// Caps take part in the all-or-nothing take like quotas (see quota.go):
// quotas first, then caps, then buckets; whatever was written is given
// back when a later stage rejects. Per-user caps live in per-user tables:
// a slot with no live lease is reclaimable; a user without a slot shares
// the table's overflow cap. The overflow cap's leases name their owners,
// and a user's calls in flight are those of its slots plus its own leases
// in the overflow cap: a user who started a call while the table was full
// and then claimed a slot still holds at most the cap.
//
// Keys, next to those of keys.go and quota.go:
//
//	mcprl1/<ns>/inflight/<kind>[/<name>]/<max>[/<tableSize>/slot/<i> | /<tableSize>/overflow]
//
// The Redis store (bucket/redis, take.lua) keeps a cap as a sorted set of
// leases scored by expiry (README.md, "Calendar quotas and concurrency
// caps").

// DefaultLeaseTTL is the default Options.LeaseTTL.
const DefaultLeaseTTL = 30 * time.Second

// MaxInFlightLimit is the largest cap: a cap's leases are one value.
const MaxInFlightLimit = 10000

// capForm is the form of a cap's value: a cap of its own, a slot of a
// per-user table (one owner for all its leases) or a table's overflow cap
// (an owner per lease).
type capForm byte

const (
	capPlain capForm = iota
	capSlot
	capOverflow
)

// leaseRef is one call's hold on a cap's key.
type leaseRef struct {
	key   string
	form  capForm
	owner digest // of a slot
	id    uint64
	calls int64
}

// Lease is what an admitted take holds in concurrency caps: release it
// when the call ends, renew it while the call runs (LeaseKeeper). Its
// concrete type belongs to the limiter that made it (another store's
// limiter has its own); nil holds nothing.
type Lease interface {
	// Empty reports whether the lease holds no place.
	Empty() bool
}

// sharedLease is the Lease of a StoreLimiter: its lease in each cap.
type sharedLease struct {
	refs []leaseRef
}

// Empty implements Lease.
func (l *sharedLease) Empty() bool { return l == nil || len(l.refs) == 0 }

// leaseRefs returns the refs of a lease a StoreLimiter made, else nil.
func leaseRefs(lease Lease) []leaseRef {
	if l, ok := lease.(*sharedLease); ok && l != nil {
		return l.refs
	}
	return nil
}

// leaseEntry is one lease in a value: the id, its expiry (Unix ns), the
// calls it holds and, in an overflow cap, its owner.
type leaseEntry struct {
	id      uint64
	expires int64
	calls   int64
	owner   digest
}

// leaseSet is a cap's value: its leases.
type leaseSet []leaseEntry

// live returns the leases not expired at now and the calls they hold.
func (s leaseSet) live(now int64) (leaseSet, int64) {
	out := s[:0:0]
	var calls int64
	for _, e := range s {
		if e.expires > now {
			out = append(out, e)
			calls += e.calls
		}
	}
	return out, calls
}

// ownedCalls returns the calls of the leases of owner.
func (s leaseSet) ownedCalls(owner digest) int64 {
	var calls int64
	for _, e := range s {
		if e.owner == owner {
			calls += e.calls
		}
	}
	return calls
}

// Value format: byte 0 is 5 (a cap), 6 (a cap slot, then the owner's
// 16-byte digest) or 7 (a table's overflow cap), then per lease its id
// (uint64), expiry (int64) and calls (int64), big-endian, and in an
// overflow cap the lease owner's digest.
const (
	formatInFlight         = 5
	formatInFlightSlot     = 6
	formatInFlightOverflow = 7
	leaseEntrySize         = 24
)

// layout returns the format byte, the header size and the size of one
// lease of a value of form f.
func (f capForm) layout() (format byte, head, entry int) {
	switch f {
	case capSlot:
		return formatInFlightSlot, 1 + digestSize, leaseEntrySize
	case capOverflow:
		return formatInFlightOverflow, 1, leaseEntrySize + digestSize
	default:
		return formatInFlight, 1, leaseEntrySize
	}
}

func encodeLeases(f capForm, owner digest, s leaseSet) []byte {
	format, head, size := f.layout()
	b := make([]byte, head+size*len(s))
	b[0] = format
	if f == capSlot {
		putDigest(b[1:], owner)
	}
	for i, e := range s {
		p := b[head+i*size:]
		binary.BigEndian.PutUint64(p[0:8], e.id)
		binary.BigEndian.PutUint64(p[8:16], uint64(e.expires))
		binary.BigEndian.PutUint64(p[16:24], uint64(e.calls))
		if f == capOverflow {
			putDigest(p[leaseEntrySize:], e.owner)
		}
	}
	return b
}

// decodeLeases decodes a cap value of form f; a corrupt one holds no lease
// (and, as a slot, is free).
func decodeLeases(v []byte, f capForm) (owner digest, s leaseSet, ok bool) {
	format, head, size := f.layout()
	if len(v) < head || v[0] != format || (len(v)-head)%size != 0 {
		return digest{}, nil, false
	}
	if f == capSlot {
		owner = readDigest(v[1:])
	}
	for p := v[head:]; len(p) > 0; p = p[size:] {
		e := leaseEntry{id: binary.BigEndian.Uint64(p[0:8]), expires: int64(binary.BigEndian.Uint64(p[8:16])),
			calls: int64(binary.BigEndian.Uint64(p[16:24]))}
		if e.calls < 1 {
			return digest{}, nil, false
		}
		if f == capOverflow {
			e.owner = readDigest(p[leaseEntrySize:])
		}
		s = append(s, e)
	}
	return owner, s, true
}

// inflightKey is the key of a cap (the prefix of its table when per user).
func (k keys) inflight(kind Kind, name string, max int64, tableSize int) string {
	key := k.prefix + "inflight/" + kindWord(kind)
	if kind.HasName() {
		key += "/" + EscapeKeyPart(name)
	}
	key += "/" + strconv.FormatInt(max, 10)
	if kind.PerUser() {
		key += "/" + strconv.Itoa(tableSize)
	}
	return key
}

// capRequest is one cap a take holds, after merging.
type capRequest struct {
	kind  Kind
	max   int64
	calls int64
	key   string
	user  *userSlots
}

// capEntry is a cap request as read in one attempt.
type capEntry struct {
	req    *capRequest
	key    string
	form   capForm
	exists bool
	cas    uint32
	leases leaseSet // live leases
	calls  int64    // the calls in flight the decision counts
	claim  bool
	id     uint64 // the lease this take adds
	// For a user's slot: the calls of its slots, and how the overflow
	// cap was read (the user's own calls there count too; see
	// settleCapSlot).
	slotCalls       int64
	overflowExists  bool
	overflowCAS     uint32
	overflowOwnLive int64
}

// splitInFlight separates cap demands (MaxInFlight > 0) from the others.
func splitInFlight(demands []Demand) (rest, caps []Demand) {
	for _, d := range demands {
		if d.MaxInFlight > 0 {
			caps = append(caps, d)
		} else {
			rest = append(rest, d)
		}
	}
	return rest, caps
}

// leaseIDs makes lease ids unique across the workers of a store: a random
// 64-bit base per limiter plus a counter.
type leaseIDs struct {
	base counter
	next counter
}

func (l *StoreLimiter) newLeaseID() uint64 {
	return l.leaseIDs.base.Load() + l.leaseIDs.next.Add(1)
}

// prepareCaps validates and merges cap demands and locates the user.
func (l *StoreLimiter) prepareCaps(demands []Demand) ([]*capRequest, error) {
	var reqs []*capRequest
	var user string
	for i, d := range demands {
		b := d.Bucket
		switch {
		case d.Tokens < 0:
			return nil, fmt.Errorf("bucket: cap demand %d: %w: %d", i, ErrInvalidTokens, d.Tokens)
		case d.Tokens == 0:
			continue
		case d.MaxInFlight > MaxInFlightLimit:
			return nil, fmt.Errorf("bucket: cap demand %d: at most %d in flight, got %d", i, MaxInFlightLimit, d.MaxInFlight)
		case b.Kind > lastKind:
			return nil, fmt.Errorf("bucket: cap demand %d: unknown kind %d", i, b.Kind)
		case b.Kind.HasName() && b.Tool == "":
			return nil, fmt.Errorf("bucket: cap demand %d: %s cap without a name", i, b.Kind)
		}
		var err error
		if user, err = l.userOf("cap demand", "cap", i, b, user); err != nil {
			return nil, err
		}
		key := l.keys.inflight(b.Kind, b.Tool, d.MaxInFlight, l.opts.MaxTrackedUsers)
		if j := slices.IndexFunc(reqs, func(r *capRequest) bool { return r.key == key }); j >= 0 {
			reqs[j].calls += d.Tokens
			continue
		}
		reqs = append(reqs, &capRequest{kind: b.Kind, max: d.MaxInFlight, calls: d.Tokens, key: key})
	}
	if user == "" {
		return reqs, nil
	}
	hasher, err := l.getHasher()
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if r.kind.PerUser() {
			r.user = &hasher.locate(r.key, user, l.opts.MaxTrackedUsers, l.opts.Probes).userSlots
		}
	}
	return reqs, nil
}

// takeCaps adds a lease to every cap, all or nothing.
func (l *StoreLimiter) takeCaps(now int64, reqs []*capRequest) (Lease, *Decision, error) {
	if len(reqs) == 0 {
		return nil, nil, nil
	}
	for range l.opts.MaxAttempts {
		entries := make([]capEntry, 0, len(reqs))
		for _, r := range reqs {
			e, err := l.readCap(now, r)
			if err != nil {
				return nil, nil, err
			}
			entries = append(entries, e)
		}
		var rejection *Decision
		for _, e := range entries {
			if e.calls+e.req.calls <= e.req.max {
				continue
			}
			if rejection == nil {
				rejection = &Decision{ConcurrencyExceeded: true}
			}
			rejection.Rejected = rejection.Rejected.With(e.req.kind)
			rejection.OverCapacity = rejection.OverCapacity || e.req.calls > e.req.max
		}
		if rejection != nil {
			return nil, rejection, nil
		}
		lease, conflict, err := l.commitCaps(now, entries)
		if err != nil {
			return nil, nil, err
		}
		if !conflict {
			return lease, nil, nil
		}
		l.stats.conflicts.Add(1)
	}
	l.stats.contended.Add(1)
	return nil, &Decision{RetryAfter: l.opts.ContendedRetryAfter, Contended: true}, nil
}

// readCap reads one cap, or the user's slot of a per-user cap.
func (l *StoreLimiter) readCap(now int64, r *capRequest) (capEntry, error) {
	if r.user == nil {
		return l.readCapKey(now, r, r.key, capPlain)
	}
	own, claim, err := l.scanCapUser(now, r)
	if err != nil {
		return capEntry{}, err
	}
	overflow, err := l.readCapKey(now, r, r.key+"/overflow", capOverflow)
	if err != nil || len(own) == 0 && claim.form != capSlot {
		return overflow, err
	}
	e := claim
	if len(own) > 0 {
		e = own[0]
		for _, o := range own[1:] {
			e.calls += o.calls
		}
	}
	e.slotCalls = e.calls
	e.overflowExists, e.overflowCAS = overflow.exists, overflow.cas
	e.overflowOwnLive = overflow.leases.ownedCalls(r.user.owner)
	e.calls += e.overflowOwnLive
	return e, nil
}

// readCapKey reads a cap that is not a slot: a cap of its own, or a
// table's overflow cap.
func (l *StoreLimiter) readCapKey(now int64, r *capRequest, key string, f capForm) (capEntry, error) {
	e := capEntry{req: r, key: key, form: f}
	value, cas, err := l.store.Get(key)
	switch {
	case notFound(err):
		return e, nil
	case err != nil:
		return capEntry{}, fmt.Errorf("bucket: read %s: %w", key, err)
	}
	e.exists, e.cas = true, cas
	_, s, ok := decodeLeases(value, f)
	if !ok {
		l.stats.corrupt.Add(1)
	}
	e.leases, e.calls = s.live(now)
	return e, nil
}

// scanCapUser reads the user's candidate slots up to the first never
// written: the slots the user owns (as entries), and the first it may
// claim (never written, free, or without a live lease; claim.form is
// capSlot only when there is one).
func (l *StoreLimiter) scanCapUser(now int64, r *capRequest) (own []capEntry, claim capEntry, err error) {
	pos := r.user.start
	for i := range r.user.n {
		if i > 0 {
			pos = r.user.after(pos)
		}
		key := slotKey(r.key, int(pos))
		value, cas, err := l.store.Get(key)
		if notFound(err) {
			if claim.form != capSlot {
				claim = capEntry{req: r, key: key, form: capSlot, claim: true}
			}
			break
		}
		if err != nil {
			return nil, capEntry{}, fmt.Errorf("bucket: read %s: %w", key, err)
		}
		owner, s, ok := decodeLeases(value, capSlot)
		if !ok {
			l.stats.corrupt.Add(1)
		}
		live, calls := s.live(now)
		switch {
		case owner == r.user.owner:
			own = append(own, capEntry{req: r, key: key, form: capSlot, exists: true, cas: cas, leases: live, calls: calls})
		case claim.form != capSlot && (owner == digest{} || calls == 0):
			claim = capEntry{req: r, key: key, form: capSlot, exists: true, cas: cas, claim: true}
		}
	}
	return own, claim, nil
}

// commitCaps writes a new lease into every entry in order; on a lost race
// it removes what it wrote and reports conflict.
func (l *StoreLimiter) commitCaps(now int64, entries []capEntry) (Lease, bool, error) {
	lease := &sharedLease{}
	expires := now + int64(l.opts.LeaseTTL)
	for i := range entries {
		e := &entries[i]
		e.id = l.newLeaseID()
		added := leaseEntry{id: e.id, expires: expires, calls: e.req.calls}
		var owner digest
		switch e.form {
		case capSlot:
			owner = e.req.user.owner
		case capOverflow:
			added.owner = e.req.user.owner
		}
		leases := append(slices.Clone(e.leases), added)
		value := encodeLeases(e.form, owner, leases)
		var err error
		if e.exists {
			err = l.store.Set(e.key, value, e.cas)
		} else {
			err = l.create(e.key, value)
		}
		if err == nil {
			lease.refs = append(lease.refs, leaseRef{key: e.key, form: e.form, owner: owner, id: e.id, calls: e.req.calls})
			if e.req.user != nil && (e.claim || e.form == capOverflow) {
				// Another take of the same user may have claimed a slot
				// meanwhile: start over, counting both.
				own, _, scanErr := l.scanCapUser(now, e.req)
				switch {
				case scanErr != nil:
					err = scanErr
				case slices.ContainsFunc(own, func(o capEntry) bool { return o.key != e.key }):
					err = fmt.Errorf("bucket: another take claimed a slot in %s meanwhile: %w", e.req.key, ErrCASMismatch)
				}
			}
			if err == nil && e.form == capSlot {
				err = l.settleCapSlot(now, e)
			}
		}
		if err != nil {
			l.Release(lease)
			if errors.Is(err, ErrCASMismatch) {
				return nil, true, nil
			}
			return nil, false, fmt.Errorf("bucket: write %s: %w", e.key, err)
		}
	}
	return lease, false, nil
}

// settleCapSlot completes a write to a user's slot: if the overflow cap
// was written since the take read it and the user's own calls there now
// exceed what the slot's decision counted beyond the cap, it reports a
// conflict and the take starts over. It closes the race between two takes
// of one user, one adding a lease to the overflow cap (X, which found no
// slot of the user) and one to a slot (Y): X re-scans the user's slots
// after its write and Y re-reads the overflow cap after its write, so at
// least one sees the other.
func (l *StoreLimiter) settleCapSlot(now int64, e *capEntry) error {
	key := e.req.key + "/overflow"
	value, cas, err := l.store.Get(key)
	switch {
	case notFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("bucket: read %s: %w", key, err)
	case e.overflowExists && cas == e.overflowCAS:
		return nil
	}
	_, s, _ := decodeLeases(value, capOverflow)
	live, _ := s.live(now)
	if e.slotCalls+live.ownedCalls(e.req.user.owner)+e.req.calls <= e.req.max {
		return nil
	}
	return fmt.Errorf("bucket: the user's overflow leases in %s changed meanwhile: %w", e.req.key, ErrCASMismatch)
}

// Release gives a lease's calls back to its caps. Releasing twice, a
// lease already expired, or a lease another limiter made is a no-op.
func (l *StoreLimiter) Release(lease Lease) {
	for _, r := range leaseRefs(lease) {
		if !l.editLease(r, func(s leaseSet, i int) leaseSet { return slices.Delete(s, i, i+1) }) {
			l.stats.refundsAbandoned.Add(1)
		}
	}
}

// Renew extends a lease to now + Options.LeaseTTL. A lease that expired
// meanwhile (its slot may be another call's by now) is not revived.
func (l *StoreLimiter) Renew(now time.Time, lease Lease) {
	expires := now.UnixNano() + int64(l.opts.LeaseTTL)
	for _, r := range leaseRefs(lease) {
		l.editLease(r, func(s leaseSet, i int) leaseSet {
			if s[i].expires > now.UnixNano() {
				s[i].expires = max(s[i].expires, expires)
			}
			return s
		})
	}
}

// editLease applies edit to the lease r in its key, in a CAS loop. It
// returns false when it gives up.
func (l *StoreLimiter) editLease(r leaseRef, edit func(leaseSet, int) leaseSet) bool {
	return l.editKey(r.key, func(value []byte, found bool) ([]byte, editOutcome) {
		if !found {
			return nil, editDone
		}
		owner, s, ok := decodeLeases(value, r.form)
		if !ok || r.form == capSlot && owner != r.owner {
			return nil, editDone
		}
		i := slices.IndexFunc(s, func(e leaseEntry) bool { return e.id == r.id })
		if i < 0 {
			return nil, editDone
		}
		return encodeLeases(r.form, owner, edit(s, i)), editWrite
	})
}
