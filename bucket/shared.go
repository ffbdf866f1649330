package bucket

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultMaxAttempts         = 10
	DefaultContendedRetryAfter = time.Second
	DefaultReclaimGrace        = time.Second
	// MaxTrackedUsersLimit is the largest Options.MaxTrackedUsers.
	MaxTrackedUsersLimit = 1 << 24
)

// maxRefundTries bounds the compare-and-swap loop of one refund. A refund
// that gives up leaves its tokens taken (counted in
// Stats.RefundsAbandoned): the limiter then errs towards admitting less.
const maxRefundTries = 32

// Options configures a SharedLimiter.
type Options struct {
	// Namespace prefixes every key (escaped, see keys.go). The filter
	// passes a name derived from the plugin's root id, so that plugins
	// sharing one store (Istio gives every WasmPlugin of a proxy the same
	// vm_id, hence the same shared data) never share a bucket.
	Namespace string
	// MaxTrackedUsers is the number of slots of each per-user table (see
	// table.go), at most MaxTrackedUsersLimit. 0 makes per-user demands an
	// error.
	MaxTrackedUsers int
	// Probes is the number of candidate slots of a user in a table
	// (default 32; the whole table when it is smaller).
	Probes int
	// MaxAttempts bounds the read-decide-write attempts of one Take that
	// lose compare-and-swap races (default DefaultMaxAttempts).
	MaxAttempts int
	// ContendedRetryAfter is the RetryAfter of a Take rejected because
	// every attempt lost a race (default DefaultContendedRetryAfter).
	ContendedRetryAfter time.Duration
	// ReclaimGrace is how long a user's bucket must have been full before
	// another user may take its slot (default DefaultReclaimGrace).
	// Workers read the clock at slightly different moments; without a
	// grace, a worker whose clock runs ahead could evict a user whose next
	// take, on a worker whose clock reads earlier, still owes tokens, and
	// that take would start from a fresh bucket. The grace must exceed the
	// time between a take's clock reading and its last write, which in
	// Envoy is microseconds.
	ReclaimGrace time.Duration
	// Random is the source of the per-namespace salt of user digests
	// (default crypto/rand.Reader, which a wasip1 build reads through
	// WASI random_get).
	Random io.Reader
	// LeaseTTL is how long a concurrency cap's lease lasts without
	// renewal (default DefaultLeaseTTL): the longest a call whose end
	// nobody saw holds its place (see inflight.go).
	LeaseTTL time.Duration
}

// Stats are cumulative counters of a SharedLimiter, for metrics.
type Stats struct {
	Takes    uint64 // calls to Take
	Admitted uint64 // takes admitted
	Rejected uint64 // takes rejected, Contended ones included
	Errors   uint64 // takes that ended with an error
	// Conflicts counts attempts restarted because a compare-and-swap
	// failed (another worker wrote a key between this take's read and
	// write).
	Conflicts uint64
	// Contended counts takes rejected after MaxAttempts conflicts.
	Contended uint64
	// RefundsAbandoned counts refunds given up (tokens left taken).
	RefundsAbandoned uint64
	// CorruptValues counts values read that did not decode.
	CorruptValues uint64
	// SlotClaims counts slots claimed by admitted takes of users.
	SlotClaims uint64
	// SlotsMerged counts extra slots of a user merged into its first.
	SlotsMerged uint64
	// Overflowed counts takes with a demand served by an overflow bucket.
	Overflowed uint64
	// ClaimsSettled counts new slots that took on the overflow bucket's
	// debt again because it changed during the claim (see settleClaim);
	// ClaimsUnsettled those where that write failed.
	ClaimsSettled, ClaimsUnsettled uint64
}

// SharedLimiter is the Limiter over a Store with the semantics of
// proxy-wasm shared data: every Envoy worker runs one, over the one store
// of the process, and their takes are consistent with each other.
//
// A Take reads every demanded bucket (Get: value and CAS), decides with
// the pure arithmetic of gcra.go, and, only if every bucket has the
// tokens, writes each bucket with the CAS it read, in demand order. When
// a write loses a race (ErrCASMismatch), the buckets already written get
// their tokens back (Limit.Refund, each in a CAS loop) and the take starts
// over, up to Options.MaxAttempts times, after which it is rejected as
// Contended. So a rejected take leaves every bucket as it found it, and an
// admitted one took its tokens from all of them. Readers may see the
// tokens of a take that is being rolled back for an instant; that can only
// reject a call that could have passed, never admit one too many.
//
// Keys that do not exist yet are created with the sentinel trick of
// create, so that two workers creating the same key at once cannot both
// succeed. A SharedLimiter is safe for concurrent use; Take calls done
// before it returns.
type SharedLimiter struct {
	store Store
	opts  Options
	keys  keys

	// hasher caches the user hasher keyed with the namespace's salt,
	// once read.
	hasher atomic.Pointer[userHasher]
	// keyCache caches the keys of buckets (see bucketKey).
	keyMu    sync.Mutex
	keyCache map[keyCacheKey]string

	leaseIDs leaseIDs

	stats struct {
		takes, admitted, rejected, errors, conflicts, contended atomic.Uint64
		refundsAbandoned, corrupt, claims, merged, overflowed   atomic.Uint64
		settled, settlesAbandoned                               atomic.Uint64
	}
}

var _ Limiter = (*SharedLimiter)(nil)

// NewSharedLimiter returns a SharedLimiter over store, with defaults
// applied to opts. It reports an error for a nil store or an option out
// of range.
func NewSharedLimiter(store Store, opts Options) (*SharedLimiter, error) {
	if store == nil {
		return nil, errors.New("bucket: nil store")
	}
	if opts.MaxTrackedUsers < 0 || opts.MaxTrackedUsers > MaxTrackedUsersLimit {
		return nil, fmt.Errorf("bucket: maxTrackedUsers must be between 0 and %d, got %d",
			MaxTrackedUsersLimit, opts.MaxTrackedUsers)
	}
	if opts.Probes < 0 {
		return nil, fmt.Errorf("bucket: probes must be >= 0, got %d", opts.Probes)
	}
	if opts.MaxAttempts < 0 {
		return nil, fmt.Errorf("bucket: maxAttempts must be >= 0, got %d", opts.MaxAttempts)
	}
	if opts.ContendedRetryAfter < 0 {
		return nil, fmt.Errorf("bucket: contendedRetryAfter must be >= 0, got %v", opts.ContendedRetryAfter)
	}
	if opts.ReclaimGrace < 0 {
		return nil, fmt.Errorf("bucket: reclaimGrace must be >= 0, got %v", opts.ReclaimGrace)
	}
	if opts.Probes == 0 {
		opts.Probes = defaultProbes
	}
	if opts.MaxAttempts == 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.ContendedRetryAfter == 0 {
		opts.ContendedRetryAfter = DefaultContendedRetryAfter
	}
	if opts.ReclaimGrace == 0 {
		opts.ReclaimGrace = DefaultReclaimGrace
	}
	if opts.Random == nil {
		opts.Random = rand.Reader
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	l := &SharedLimiter{store: store, opts: opts, keys: newKeys(opts.Namespace)}
	var base [8]byte
	if _, err := io.ReadFull(opts.Random, base[:]); err != nil {
		return nil, fmt.Errorf("bucket: lease ids: %w", err)
	}
	l.leaseIDs.base.Store(binary.BigEndian.Uint64(base[:]))
	return l, nil
}

// Stats returns the limiter's counters.
func (l *SharedLimiter) Stats() Stats {
	s := &l.stats
	return Stats{
		Takes: s.takes.Load(), Admitted: s.admitted.Load(), Rejected: s.rejected.Load(),
		Errors: s.errors.Load(), Conflicts: s.conflicts.Load(), Contended: s.contended.Load(),
		RefundsAbandoned: s.refundsAbandoned.Load(), CorruptValues: s.corrupt.Load(),
		SlotClaims: s.claims.Load(), SlotsMerged: s.merged.Load(), Overflowed: s.overflowed.Load(),
		ClaimsSettled: s.settled.Load(), ClaimsUnsettled: s.settlesAbandoned.Load(),
	}
}

// Take decides whether the demands may take their tokens at now and takes
// them if so, then calls done, before returning. done gets an error, and
// nothing is taken, for an invalid demand (negative Tokens, invalid Limit,
// unknown Kind, a per-tool bucket without Tool, a per-user bucket without
// User or with MaxTrackedUsers 0, per-user demands naming two users), a
// time before 1970 or too late for a bucket's refill period, or a store
// error other than ErrNotFound and ErrCASMismatch. Demands of zero tokens
// are ignored; demands for the same bucket are merged. With no demand
// left, the take is allowed.
func (l *SharedLimiter) Take(now time.Time, demands []Demand, done func(Decision, error)) {
	d, err := l.takeWithQuotas(now, demands)
	l.stats.takes.Add(1)
	switch {
	case err != nil:
		l.stats.errors.Add(1)
	case d.Allowed:
		l.stats.admitted.Add(1)
	default:
		l.stats.rejected.Add(1)
	}
	if d.Overflowed {
		l.stats.overflowed.Add(1)
	}
	if done != nil {
		done(d, err)
	}
}

// request is one bucket a take draws from, after merging.
type request struct {
	bucket Bucket // as first demanded
	g      gcra
	tokens uint64
	// key is the bucket's key, or the key prefix of its per-user table.
	key string
	// user is set for per-user buckets.
	user *userSlots
}

// entry is a request as read from the store in one attempt.
type entry struct {
	req *request
	key string // the key the take writes
	// exists is false when key was never written: it is then created.
	exists bool
	cas    uint32
	prev   State // the state read (zero for a new key or a claimed slot)
	debt   span  // the debt the take starts from
	slot   bool  // key is a slot of the user's table
	claim  bool  // the slot is claimed by this take
	// overflow is true when a per-user request is served by the table's
	// overflow bucket.
	overflow bool
	// inherited is, for a claim, the overflow bucket as read for the debt
	// the new slot inherits (cas 0: the key did not exist).
	inherited slotRef
	// merged are other slots the user owns, freed when the take is admitted.
	merged []slotRef

	out     takeResult
	written State // what the take wrote, for its refund
}

// slotRef names a slot read in an attempt.
type slotRef struct {
	key   string
	cas   uint32
	state State
}

func (l *SharedLimiter) take(now time.Time, demands []Demand) (Decision, error) {
	nowNs, err := unixNanos(now)
	if err != nil {
		return Decision{}, err
	}
	reqs, err := l.prepare(nowNs, demands)
	if err != nil {
		return Decision{}, err
	}
	if len(reqs) == 0 {
		return Decision{Allowed: true}, nil
	}
	entries := make([]entry, 0, len(reqs))
	for range l.opts.MaxAttempts {
		entries, err = l.read(nowNs, reqs, entries[:0])
		if err != nil {
			return Decision{}, err
		}
		d := decide(entries)
		if !d.Allowed {
			return d, nil
		}
		conflict, err := l.commit(nowNs, entries)
		if err != nil {
			return Decision{}, err
		}
		if !conflict {
			for i := range entries {
				if entries[i].claim {
					l.stats.claims.Add(1)
				}
				l.stats.merged.Add(uint64(len(entries[i].merged)))
			}
			return d, nil
		}
		l.stats.conflicts.Add(1)
	}
	l.stats.contended.Add(1)
	d := Decision{RetryAfter: l.opts.ContendedRetryAfter, Contended: true}
	for i := range entries {
		e := &entries[i]
		d.Overflowed = d.Overflowed || e.overflow
		s := Status{Bucket: e.req.bucket, Remaining: e.req.g.remaining(e.debt), ResetAfter: e.debt.ceil()}
		if i == 0 || s.Remaining < d.Tightest.Remaining {
			d.Tightest = s
		}
	}
	return d, nil
}

// unixNanos converts now, which must lie between 1970 and 2262.
func unixNanos(now time.Time) (int64, error) {
	if now.Before(time.Unix(0, 0)) || now.After(time.Unix(0, math.MaxInt64)) {
		return 0, fmt.Errorf("%w: %v", ErrTimeRange, now)
	}
	return now.UnixNano(), nil
}

// prepare validates and merges the demands and locates the user in the
// tables of per-user buckets.
func (l *SharedLimiter) prepare(now int64, demands []Demand) ([]*request, error) {
	var reqs []*request
	var user string
	for i, d := range demands {
		b := d.Bucket
		if d.Tokens < 0 {
			return nil, fmt.Errorf("bucket: demand %d: %w: %d", i, ErrInvalidTokens, d.Tokens)
		}
		if d.Tokens == 0 {
			continue
		}
		if b.Kind > lastKind {
			return nil, fmt.Errorf("bucket: demand %d: unknown kind %d", i, b.Kind)
		}
		g, err := newGCRA(b.Limit, now)
		if err != nil {
			return nil, fmt.Errorf("bucket: demand %d (%s bucket): %w", i, b.Kind, err)
		}
		if b.Kind.hasTool() && b.Tool == "" {
			return nil, fmt.Errorf("bucket: demand %d: %s bucket without a name", i, b.Kind)
		}
		if b.Kind.perUser() {
			switch {
			case b.User == "":
				return nil, fmt.Errorf("bucket: demand %d: %s bucket without a user", i, b.Kind)
			case l.opts.MaxTrackedUsers == 0:
				return nil, fmt.Errorf("bucket: demand %d: %s bucket with maxTrackedUsers 0", i, b.Kind)
			case user != "" && b.User != user:
				return nil, fmt.Errorf("bucket: demand %d: the demands of one take name two users", i)
			}
			user = b.User
		}
		key := l.bucketKey(b)
		if j := slices.IndexFunc(reqs, func(r *request) bool { return r.key == key }); j >= 0 {
			reqs[j].tokens = min(reqs[j].tokens+uint64(d.Tokens), math.MaxInt64)
			continue
		}
		reqs = append(reqs, &request{bucket: b, g: g, tokens: uint64(d.Tokens), key: key})
	}
	if user == "" {
		return reqs, nil
	}
	hasher, err := l.getHasher()
	if err != nil {
		return nil, err
	}
	for _, r := range reqs {
		if r.bucket.Kind.perUser() {
			u := hasher.locate(r.key, user, l.opts.MaxTrackedUsers, l.opts.Probes)
			r.user = &u
		}
	}
	return reqs, nil
}

// read reads the state of every request, appending to entries.
func (l *SharedLimiter) read(now int64, reqs []*request, entries []entry) ([]entry, error) {
	for _, r := range reqs {
		var e entry
		var err error
		if r.user == nil {
			e, err = l.readBucket(now, r, r.key)
		} else {
			e, err = l.readUser(now, r)
		}
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// readBucket reads a bucket that is not a slot.
func (l *SharedLimiter) readBucket(now int64, r *request, key string) (entry, error) {
	e := entry{req: r, key: key}
	value, cas, err := l.store.Get(key)
	switch {
	case errors.Is(err, ErrNotFound):
		return e, nil
	case err != nil:
		return entry{}, fmt.Errorf("bucket: read %s: %w", key, err)
	}
	e.exists, e.cas = true, cas
	if s, ok := decodeBucket(value, r.g); ok {
		e.prev = s
		e.debt = r.g.debt(s, now)
	} else {
		l.stats.corrupt.Add(1)
	}
	return e, nil
}

// claimable is a slot a user may claim.
type claimable struct {
	slotRef
	found  bool // there is such a slot
	exists bool // it was written before (else the claim creates it)
}

// scanUser reads the user's candidate slots in order, up to the first
// slot never written (every slot the user owns comes before it, see
// table.go) or the end of the sequence. It returns the slots the user
// owns and the first slot it may claim: never written, free, or owned by
// another user whose bucket has been full for Options.ReclaimGrace at now.
func (l *SharedLimiter) scanUser(now int64, r *request) (own []slotRef, claim claimable, err error) {
	idleSince := max(now-int64(l.opts.ReclaimGrace), 0)
	pos := r.user.start
	for i := range r.user.n {
		if i > 0 {
			pos = r.user.after(pos)
		}
		key := slotKey(r.key, int(pos))
		value, cas, err := l.store.Get(key)
		if errors.Is(err, ErrNotFound) {
			if !claim.found {
				claim = claimable{slotRef: slotRef{key: key}, found: true}
			}
			break
		}
		if err != nil {
			return nil, claimable{}, fmt.Errorf("bucket: read %s: %w", key, err)
		}
		owner, s, ok := decodeSlot(value, r.g)
		if !ok {
			l.stats.corrupt.Add(1)
		}
		switch {
		case owner == r.user.owner:
			own = append(own, slotRef{key: key, cas: cas, state: s})
		case !claim.found && (owner == digest{} || r.g.debt(s, idleSince) == span{}):
			claim = claimable{slotRef: slotRef{key: key, cas: cas, state: s}, found: true, exists: true}
		}
	}
	return own, claim, nil
}

// readUser finds the user's slot in a per-user table (see table.go).
func (l *SharedLimiter) readUser(now int64, r *request) (entry, error) {
	own, claim, err := l.scanUser(now, r)
	if err != nil {
		return entry{}, err
	}
	switch {
	case len(own) > 0:
		e := entry{req: r, key: own[0].key, exists: true, cas: own[0].cas, prev: own[0].state, slot: true}
		for _, o := range own {
			e.debt = r.g.add(e.debt, r.g.debt(o.state, now))
		}
		e.merged = own[1:]
		return e, nil
	case claim.found:
		overflow, err := l.readBucket(now, r, overflowKey(r.key))
		if err != nil {
			return entry{}, err
		}
		return entry{
			req: r, key: claim.key, exists: claim.exists, cas: claim.cas, prev: claim.state,
			slot: true, claim: true,
			debt:      overflow.debt,
			inherited: slotRef{key: overflow.key, cas: overflow.cas},
		}, nil
	default:
		e, err := l.readBucket(now, r, overflowKey(r.key))
		e.overflow = true
		return e, err
	}
}

// decide evaluates every entry and combines the outcomes.
func decide(entries []entry) Decision {
	d := Decision{Allowed: true}
	for i := range entries {
		e := &entries[i]
		e.out = e.req.g.take(e.debt, e.req.tokens)
		d.Overflowed = d.Overflowed || e.overflow
		if !e.out.Allowed {
			d.Allowed = false
			d.Rejected = append(d.Rejected, e.req.bucket.Kind)
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
	d.Tightest = Status{Bucket: t.req.bucket, Remaining: t.out.Remaining, ResetAfter: t.out.ResetAfter}
	if !d.Allowed {
		d.RetryAfter = t.out.Wait
	}
	return d
}

// commit writes every entry of an allowed attempt in order. On a lost
// race it refunds what it wrote and reports conflict; on another store
// error it refunds and returns the error.
func (l *SharedLimiter) commit(now int64, entries []entry) (conflict bool, err error) {
	for i := range entries {
		written, err := l.write(now, &entries[i])
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
// until the refund).
func (l *SharedLimiter) write(now int64, e *entry) (written int, err error) {
	e.written = e.req.g.next(e.prev, now, e.out.newDebt)
	var value []byte
	if e.slot {
		value = encodeSlot(e.req.user.owner, e.written)
	} else {
		value = encodeBucket(e.written)
	}
	if e.exists {
		err = l.store.Set(e.key, value, e.cas)
	} else {
		err = l.create(e.key, value)
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
		own, _, err := l.scanUser(now, e.req)
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
func (l *SharedLimiter) settleClaim(now int64, e *entry) (restart bool) {
	g := e.req.g
	value, cas, err := l.store.Get(e.inherited.key)
	switch {
	case errors.Is(err, ErrNotFound):
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
	for range maxRefundTries {
		value, cas, err := l.store.Get(e.key)
		if err != nil {
			break
		}
		owner, s, ok := decodeSlot(value, g)
		if !ok || owner != e.req.user.owner {
			return true // reclaimed: the next attempt claims again
		}
		s = g.next(s, now, g.add(g.debt(s, now), extra))
		err = l.store.Set(e.key, encodeSlot(owner, s), cas)
		if err == nil {
			l.stats.settled.Add(1)
			return true
		}
		if !errors.Is(err, ErrCASMismatch) {
			break
		}
	}
	l.stats.settlesAbandoned.Add(1)
	return true
}

// rollback refunds the tokens of written entries.
func (l *SharedLimiter) rollback(written []entry) {
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
func (l *SharedLimiter) refund(e *entry) bool {
	g := e.req.g
	for range maxRefundTries {
		value, cas, err := l.store.Get(e.key)
		if err != nil {
			return false
		}
		var s State
		var ok bool
		if e.slot {
			var owner digest
			owner, s, ok = decodeSlot(value, g)
			if ok && owner != e.req.user.owner {
				return true
			}
		} else {
			s, ok = decodeBucket(value, g)
		}
		if !ok {
			return true
		}
		s, refunded := g.refund(s, e.written, e.req.tokens)
		if !refunded {
			return true
		}
		if e.slot {
			value = encodeSlot(e.req.user.owner, s)
		} else {
			value = encodeBucket(s)
		}
		err = l.store.Set(e.key, value, cas)
		if err == nil {
			return true
		}
		if !errors.Is(err, ErrCASMismatch) {
			return false
		}
	}
	return false
}

// sentinelValue is what create writes to the sentinel key.
var sentinelValue = []byte{1}

// maxSentinelTries bounds the compare-and-swap loop on the sentinel.
const maxSentinelTries = 8

// create writes value under a key that did not exist when it was read, and
// fails with ErrCASMismatch if somebody else has created it since.
//
// proxy-wasm shared data has no create-if-absent: a Set on a missing key
// succeeds whatever CAS it carries, and a Set with CAS 0 overwrites an
// existing key (proxy-wasm-cpp-host src/shared_data.cc, SharedData::set).
// Two workers that both found the key missing would both "create" it and
// one debit would be lost. The CAS values come from one counter of the
// process (SharedData::nextCas), each value given to exactly one write.
// So create rewrites the namespace's sentinel key, reads its CAS c back (a
// value that the sentinel holds, hence no other key holds), and writes
// the key with CAS c: if the key is still missing the write succeeds; if
// somebody created it in between, its CAS differs from c and the write
// fails with ErrCASMismatch, and the take reads the key again.
//
// The sentinel is rewritten with the CAS it was read with, not with CAS 0:
// the SDK's host emulator (proxy-wasm-go-sdk proxywasm/proxytest/root.go)
// keeps a counter per key and treats CAS 0 as a CAS like any other, and
// the filter's native tests run on it.
//
// Residual risk: the counter is 32 bits and wraps (skipping 0). The key's
// CAS and c were both issued after this take read the key missing, so
// they can only be equal if 2^32-1 shared-data writes happened in the
// process between two consecutive host calls of this take; the check would
// then overwrite the key and lose its debits once.
func (l *SharedLimiter) create(key string, value []byte) error {
	sentinel := l.keys.sentinel()
	cas, err := l.touchSentinel(sentinel)
	if err != nil {
		return err
	}
	return l.store.Set(key, value, cas)
}

// touchSentinel rewrites the sentinel key and returns the CAS it holds
// after that.
func (l *SharedLimiter) touchSentinel(sentinel string) (uint32, error) {
	for range maxSentinelTries {
		_, cas, err := l.store.Get(sentinel)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return 0, fmt.Errorf("read %s: %w", sentinel, err)
		}
		err = l.store.Set(sentinel, sentinelValue, cas)
		if errors.Is(err, ErrCASMismatch) {
			continue // another worker touched it in between
		}
		if err != nil {
			return 0, fmt.Errorf("write %s: %w", sentinel, err)
		}
		_, cas, err = l.store.Get(sentinel)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", sentinel, err)
		}
		return cas, nil
	}
	return 0, fmt.Errorf("write %s: contended: %w", sentinel, ErrCASMismatch)
}

// saltSize is the length of a new salt.
const saltSize = 32

// getHasher returns the user hasher keyed with the namespace's salt,
// creating the salt on first use. Once read the salt never changes: Envoy
// drops the shared data of a vm_id only with its last VM, and this
// limiter lives in one of them. Concurrent first calls may both read (or
// race to create) it; create lets only one salt win, so they agree.
func (l *SharedLimiter) getHasher() (*userHasher, error) {
	if h := l.hasher.Load(); h != nil {
		return h, nil
	}
	salt, err := l.readSalt()
	if err != nil {
		return nil, err
	}
	h := newUserHasher(salt)
	l.hasher.Store(h)
	return h, nil
}

// readSalt reads the namespace's salt, creating it if it is missing.
func (l *SharedLimiter) readSalt() ([]byte, error) {
	key := l.keys.salt()
	for range 3 {
		value, _, err := l.store.Get(key)
		if err == nil {
			return value, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("bucket: read %s: %w", key, err)
		}
		fresh := make([]byte, saltSize)
		if _, err := io.ReadFull(l.opts.Random, fresh); err != nil {
			return nil, fmt.Errorf("bucket: generate salt: %w", err)
		}
		err = l.create(key, fresh)
		if err == nil {
			return fresh, nil
		}
		if !errors.Is(err, ErrCASMismatch) {
			return nil, fmt.Errorf("bucket: write %s: %w", key, err)
		}
	}
	return nil, fmt.Errorf("bucket: salt %s: still contended after 3 attempts", key)
}

// keyCacheKey identifies a bucket's key: the fields that name it.
type keyCacheKey struct {
	kind  Kind
	tool  string
	limit Limit
}

// maxCachedKeys bounds the key cache: callers may demand buckets of any
// tool name, and the cache must not grow with them.
const maxCachedKeys = 1024

// bucketKey returns the key of a bucket (for a per-user bucket, the key
// prefix of its table), from a bounded cache: building it takes several
// allocations and a filter asks for the same few buckets on every call.
func (l *SharedLimiter) bucketKey(b Bucket) string {
	ck := keyCacheKey{kind: b.Kind, limit: b.Limit}
	if b.Kind.hasTool() {
		ck.tool = b.Tool
	}
	l.keyMu.Lock()
	defer l.keyMu.Unlock()
	if key, ok := l.keyCache[ck]; ok {
		return key
	}
	if l.keyCache == nil || len(l.keyCache) >= maxCachedKeys {
		l.keyCache = make(map[keyCacheKey]string)
	}
	key := l.keys.bucket(b.Kind, b.Tool, b.Limit, l.opts.MaxTrackedUsers)
	l.keyCache[ck] = key
	return key
}
