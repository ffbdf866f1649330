package bucket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/internal/random"
)

// Defaults of Options.
const (
	DefaultMaxAttempts         = 10
	DefaultContendedRetryAfter = time.Second
	DefaultReclaimGrace        = time.Second
	// MaxTrackedUsersLimit is the largest Options.MaxTrackedUsers.
	MaxTrackedUsersLimit = 1 << 24
)

// userOf checks demand i of a take (label "demand", "quota demand" or
// "cap demand"; noun its limit's word) against the take's user so far:
// a per-user demand needs a user and a table, and one take serves one
// user. It returns the take's user.
func (l *StoreLimiter) userOf(label, noun string, i int, b Bucket, user string) (string, error) {
	if !b.Kind.PerUser() {
		return user, nil
	}
	switch {
	case b.User == "":
		return "", fmt.Errorf("bucket: %s %d: %s %s without a user", label, i, b.Kind, noun)
	case l.opts.MaxTrackedUsers == 0:
		return "", fmt.Errorf("bucket: %s %d: %s %s with maxTrackedUsers 0", label, i, b.Kind, noun)
	case user != "" && b.User != user:
		return "", fmt.Errorf("bucket: %s %d: the demands of one take name two users", label, i)
	}
	return b.User, nil
}

// maxRefundTries bounds the compare-and-swap loop of one refund. A refund
// that gives up leaves its tokens taken (counted in
// Stats.RefundsAbandoned): the limiter then errs towards admitting less.
const maxRefundTries = 32

// editOutcome is what an edit of editKey decides for the value it read.
type editOutcome int

const (
	editWrite   editOutcome = iota // write the new value
	editDone                       // nothing to write: the edit holds
	editAbandon                    // nothing to write: give up
)

// editKey rewrites key in a compare-and-swap loop of at most
// maxRefundTries rounds: edit gets the value read (nil and found false
// when the key is missing) and returns the value to write and what to do.
// editKey reports whether the edit holds: written or not needed. It gives
// up when edit abandons, the store fails, or every write loses a race.
func (l *StoreLimiter) editKey(key string, edit func(value []byte, found bool) ([]byte, editOutcome)) bool {
	for range maxRefundTries {
		value, cas, err := l.store.Get(key)
		found := err == nil
		if err != nil && !notFound(err) {
			return false
		}
		next, outcome := edit(value, found)
		switch outcome {
		case editDone:
			return true
		case editAbandon:
			return false
		}
		err = l.store.Set(key, next, cas)
		if err == nil {
			return true
		}
		if !errors.Is(err, ErrCASMismatch) {
			return false
		}
	}
	return false
}

// Options configures a StoreLimiter.
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
	// (default: cryptographically secure bytes, from WASI random_get on
	// wasip1 and crypto/rand.Reader elsewhere).
	Random io.Reader
	// LeaseTTL is how long a concurrency cap's lease lasts without
	// renewal (default DefaultLeaseTTL): the longest a call whose end
	// nobody saw holds its place (see inflight.go).
	LeaseTTL time.Duration
}

// Stats are cumulative counters of a StoreLimiter, for metrics.
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
	// debt (or the overflow quota's count) again because it changed during
	// the claim (see settleClaim, settleQuotaClaim); ClaimsUnsettled those
	// where that write failed.
	ClaimsSettled, ClaimsUnsettled uint64
}

// StoreLimiter is the Limiter over a Store with the semantics of
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
// succeed. Natively a StoreLimiter is safe for concurrent use; in a Wasm
// VM, where takes never overlap, it is for one goroutine (sync_wasip1.go).
// Take calls done before it returns.
type StoreLimiter struct {
	store Store
	opts  Options
	keys  keys

	// hasher caches the user hasher keyed with the namespace's salt,
	// once read.
	hasher pointer[userHasher]
	// keyCache caches the keys of buckets (see bucketKey).
	keyMu      mutex
	keyCache   map[keyCacheKey]string
	recentKeys [recentKeys]recentKey
	nextRecent int

	leaseIDs leaseIDs

	// scratch is the memory of the last take (see takeScratch), for the
	// next: a take takes it, or makes its own while another holds it.
	scratch pointer[takeScratch]

	stats struct {
		admitted, rejected, errors, conflicts, contended      counter
		refundsAbandoned, corrupt, claims, merged, overflowed counter
		settled, settlesAbandoned                             counter
	}
}

var _ Limiter = (*StoreLimiter)(nil)

// NewStoreLimiter returns a StoreLimiter over store, with defaults
// applied to opts. It reports an error for a nil store or an option out
// of range.
func NewStoreLimiter(store Store, opts Options) (*StoreLimiter, error) {
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
		opts.Random = random.Reader
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	l := &StoreLimiter{store: store, opts: opts, keys: newKeys(opts.Namespace)}
	var base [8]byte
	if _, err := io.ReadFull(opts.Random, base[:]); err != nil {
		return nil, fmt.Errorf("bucket: lease ids: %w", err)
	}
	l.leaseIDs.base.Store(binary.BigEndian.Uint64(base[:]))
	return l, nil
}

// Stats returns the limiter's counters.
func (l *StoreLimiter) Stats() Stats {
	s := &l.stats
	admitted, rejected, errs := s.admitted.Load(), s.rejected.Load(), s.errors.Load()
	return Stats{
		Takes:    admitted + rejected + errs,
		Admitted: admitted, Rejected: rejected,
		Errors: errs, Conflicts: s.conflicts.Load(), Contended: s.contended.Load(),
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
func (l *StoreLimiter) Take(now time.Time, demands []Demand, done Decider) {
	// The decision is filled in place down the take's calls: in a Wasm VM
	// returning it by value is a copy, a call into the host, at each.
	var d Decision
	var err error
	if len(demands) == 1 && takesOneBucket(&demands[0]) {
		err = l.takeOne(now, &demands[0], &d)
	} else {
		err = l.takeWithQuotas(now, demands, &d)
	}
	// Takes is the sum of the three (see Stats): an atomic addition is
	// a call in a Wasm VM.
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
		done.Decided(d, err)
	}
}

// request is one bucket a take draws from, after merging.
type request struct {
	bucket Bucket // as first demanded
	g      gcra
	tokens uint64
	// key is the bucket's key, or the key prefix of its per-user table.
	key string
	// user is set for per-user buckets: the user's place in the table,
	// as the user hasher's cache keeps it.
	user *located
	// probe is memory for the keys of the slots scanUser reads, kept
	// with the request from one take to the next.
	probe []byte
	// claim is scanUser's result for the slot the user may claim.
	claim claimable
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
	// value is memory for the value the take writes (a Store keeps no
	// reference to it), so that a write allocates nothing.
	value [slotValueSize]byte
}

// reset makes e a zero entry, but for value, the memory of the value a
// take writes, which write fills first, and out, which decide writes whole
// (gcra.take) before anything reads it. Field by field: clearing a
// struct of more than 32 bytes is a loop of memory copies in a Wasm VM
// under wazero (docs/benchmarks.md).
func (e *entry) reset() {
	e.req, e.key, e.exists, e.cas, e.prev, e.debt = nil, "", false, 0, State{}, span{}
	e.slot, e.claim, e.overflow, e.merged = false, false, false, nil
	e.inherited.key, e.inherited.cas, e.inherited.state = "", 0, State{}
	e.written = State{}
}

// slotRef names a slot read in an attempt.
type slotRef struct {
	key   string
	cas   uint32
	state State
}

// take decides the bucket demands into *d, which must be zero; on an
// error *d is left zero.
func (l *StoreLimiter) take(now time.Time, demands []Demand, d *Decision) error {
	nowNs, err := unixNanos(now)
	if err != nil {
		return err
	}
	sc := l.scratch.Swap(nil)
	if sc == nil {
		sc = new(takeScratch)
	}
	err = l.takeWith(sc, nowNs, demands, d)
	if cap(sc.reqs) <= maxKeptRequests && cap(sc.entries) <= maxKeptRequests {
		l.scratch.Store(sc)
	}
	return err
}

// maxKeptRequests bounds the memory kept between takes: a large batch's
// take (a request per demand before merging) makes its own.
const maxKeptRequests = 16

// takeScratch is the memory of one take: its requests and their entries,
// kept for the next take instead of allocated for each (a VM's takes
// follow one another; concurrent takes, natively, each get their own).
// Nothing of a decision refers to it. What a take leaves in it (a few
// keys and states) stays until the next take overwrites it.
type takeScratch struct {
	reqs    []request
	entries []entry
	// owned holds, for each request, the one slot a user mostly owns
	// (see readUser); it is written before it is read, so never cleared.
	owned []slotRef
	// value is the memory of the value takeOneWith writes (a Store keeps
	// no reference to it).
	value [bucketValueSize]byte
	// out is takeOneWith's decision of the bucket's arithmetic, which
	// gcra.take writes whole (a variable of it would be cleared first).
	out takeResult
}

// takeWith is take with the memory of sc.
func (l *StoreLimiter) takeWith(sc *takeScratch, nowNs int64, demands []Demand, d *Decision) error {
	reqs, err := l.prepare(nowNs, demands, sc.reqs[:0])
	if err != nil {
		return err
	}
	sc.reqs = reqs
	if len(reqs) == 0 {
		d.Allowed = true
		return nil
	}
	// Room for every entry up front, so that reading never grows it.
	if cap(sc.entries) < len(reqs) {
		sc.entries = make([]entry, 0, len(reqs))
	}
	entries := sc.entries[:0]
	if len(sc.owned) < len(reqs) {
		sc.owned = make([]slotRef, len(reqs))
	}
	for range l.opts.MaxAttempts {
		entries, err = l.read(nowNs, reqs, entries[:0], sc.owned)
		if err != nil {
			*d = Decision{} // an earlier attempt's decision
			return err
		}
		decide(entries, d)
		if !d.Allowed {
			return nil
		}
		conflict, err := l.commit(nowNs, entries)
		if err != nil {
			*d = Decision{}
			return err
		}
		if !conflict {
			for i := range entries {
				if entries[i].claim {
					l.stats.claims.Add(1)
				}
				l.stats.merged.Add(uint64(len(entries[i].merged)))
			}
			return nil
		}
		l.stats.conflicts.Add(1)
	}
	l.stats.contended.Add(1)
	*d = Decision{RetryAfter: l.opts.ContendedRetryAfter, Contended: true}
	for i := range entries {
		e := &entries[i]
		d.Overflowed = d.Overflowed || e.overflow
		s := Status{Bucket: e.req.bucket, Remaining: e.req.g.remaining(e.debt), ResetAfter: e.debt.ceil()}
		if i == 0 || s.Remaining < d.Tightest.Remaining {
			d.Tightest = s
		}
	}
	return nil
}

// unixNanos converts now, which must lie between 1970 and 2262 (the
// Unix times in nanoseconds an int64 holds). It compares seconds and
// nanoseconds: time.Time's Before and After are calls in a Wasm VM.
func unixNanos(now time.Time) (int64, error) {
	const maxSec, maxNsec = math.MaxInt64 / int64(time.Second), math.MaxInt64 % int64(time.Second)
	sec, nsec := now.Unix(), int64(now.Nanosecond())
	if sec < 0 || sec > maxSec || sec == maxSec && nsec > maxNsec {
		return 0, fmt.Errorf("%w: %v", ErrTimeRange, now)
	}
	return sec*int64(time.Second) + nsec, nil
}

// findRequest returns the request of reqs whose key is key, or nil.
func findRequest(reqs []request, key string) *request {
	for i := range reqs {
		if reqs[i].key == key {
			return &reqs[i]
		}
	}
	return nil
}

// checkDemand validates demand i of a take (Tokens not zero) and
// returns its bucket's arithmetic at now.
func checkDemand(i int, d *Demand, now int64) (gcra, error) {
	b := &d.Bucket
	switch {
	case d.Tokens < 0:
		return gcra{}, fmt.Errorf("bucket: demand %d: %w: %d", i, ErrInvalidTokens, d.Tokens)
	case b.Kind > lastKind:
		return gcra{}, fmt.Errorf("bucket: demand %d: unknown kind %d", i, b.Kind)
	}
	g, err := newGCRA(b.Limit, now)
	if err != nil {
		return gcra{}, fmt.Errorf("bucket: demand %d (%s bucket): %w", i, b.Kind, err)
	}
	if b.Kind.HasName() && b.Tool == "" {
		return gcra{}, fmt.Errorf("bucket: demand %d: %s bucket without a name", i, b.Kind)
	}
	return g, nil
}

// prepare validates and merges the demands and locates the user in the
// tables of per-user buckets.
func (l *StoreLimiter) prepare(now int64, demands []Demand, reqs []request) ([]request, error) {
	// Room for every request up front: there are at most len(demands), so
	// reqs never grows and pointers into it stay valid.
	if cap(reqs) < len(demands) {
		reqs = make([]request, 0, len(demands))
	}
	var user string
	for i := range demands {
		d := &demands[i]
		b := d.Bucket
		if d.Tokens == 0 {
			continue
		}
		g, err := checkDemand(i, d, now)
		if err != nil {
			return nil, err
		}
		if user, err = l.userOf("demand", "bucket", i, b, user); err != nil {
			return nil, err
		}
		key := l.bucketKey(&d.Bucket)
		if r := findRequest(reqs, key); r != nil {
			r.tokens = min(r.tokens+uint64(d.Tokens), math.MaxInt64)
			continue
		}
		// Written field by field in reqs' memory, whose probe it keeps:
		// in a Wasm VM a request built and then copied costs a call.
		reqs = reqs[:len(reqs)+1]
		r := &reqs[len(reqs)-1]
		r.bucket, r.g, r.tokens, r.key, r.user = b, g, uint64(d.Tokens), key, nil
	}
	if user == "" {
		return reqs, nil
	}
	hasher, err := l.getHasher()
	if err != nil {
		return nil, err
	}
	for i := range reqs {
		if r := &reqs[i]; r.bucket.Kind.PerUser() {
			r.user = hasher.locate(r.key, user, l.opts.MaxTrackedUsers, l.opts.Probes)
		}
	}
	return reqs, nil
}
