package bucket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Calendar quotas
//
// A quota admits at most MaxCalls calls in each calendar window (a day, an
// ISO week from Monday, a month) of a time zone, and starts again at zero
// at the window's first instant. Unlike a bucket it never refills in
// between: a rejected call must wait for the next window. Its state is the
// start of the window it counts (Unix nanoseconds) and the count; a state
// of an earlier window counts zero. A quota demand counts calls (Demand
// Tokens), one per call whatever the call's cost.
//
// Quotas take part in the all-or-nothing take: StoreLimiter.Take first
// counts the calls against every demanded quota (all of them or none, with
// compare-and-swap as for buckets), then takes the buckets' tokens, and
// gives the counts back when a bucket rejects or the take fails. A count
// being given back may make another take see a quota one call fuller for
// an instant; that can reject a call that could have passed, never admit
// one too many.
//
// Per-user quotas live in per-user tables like per-user buckets (see
// table.go): a slot holds the owner's digest, the window and the count. A
// slot is reclaimable when it is free, never written, or counts an
// earlier window (its owner's count is zero: evicting it loses nothing).
// A user without a slot counts in the table's overflow quota; a claimed
// slot starts with the overflow quota's count of the current window, so
// that a user who counted in the overflow cannot start afresh.
//
// Keys, next to the bucket keys of keys.go:
//
//	mcprl1/<ns>/quota/<kind>[/<name>]/<maxCalls>/<period>/<zone>[/<tableSize>/slot/<i> | /<tableSize>/overflow]
//
// with <zone> the escaped IANA zone name, so a reconfiguration keeps the
// count of every quota whose parameters are unchanged.
//
// The Redis store (bucket/redis, take.lua) takes the same decision in one
// script run: the caller computes each quota's window with Quota.Window
// (the zone arithmetic stays in Go), the script keeps the window and its
// count per key (README.md, "Calendar quotas and concurrency caps").

// Period is the calendar window of a quota.
type Period uint8

// Periods.
const (
	PeriodDay Period = iota + 1
	PeriodWeek
	PeriodMonth
)

// String names the period: "day", "week" or "month".
func (p Period) String() string {
	switch p {
	case PeriodDay:
		return "day"
	case PeriodWeek:
		return "week"
	case PeriodMonth:
		return "month"
	}
	return "period" + strconv.Itoa(int(p))
}

// Quota is a calendar quota's parameters.
type Quota struct {
	MaxCalls int64
	Period   Period
	// Location is the time zone of the calendar (nil: UTC).
	Location *time.Location
}

// ErrInvalidQuota reports a Quota with MaxCalls < 1 or an unknown Period.
var ErrInvalidQuota = errors.New("bucket: invalid quota")

// Validate reports whether q describes a usable quota.
func (q Quota) Validate() error {
	if q.MaxCalls < 1 {
		return fmt.Errorf("%w: maxCalls must be >= 1, got %d", ErrInvalidQuota, q.MaxCalls)
	}
	if q.Period < PeriodDay || q.Period > PeriodMonth {
		return fmt.Errorf("%w: unknown period %d", ErrInvalidQuota, q.Period)
	}
	return nil
}

func (q Quota) location() *time.Location {
	if q.Location == nil {
		return time.UTC
	}
	return q.Location
}

// Window returns the calendar window holding now, [start, end), in the
// quota's time zone: from local midnight to the next (a day of 23 or 25
// hours across a daylight-saving change), from Monday's midnight to the
// next Monday's, from the first of the month to the first of the next. A
// midnight that does not exist (a zone that changes its clocks at 00:00)
// starts the window at the first instant of that date (see firstInstant).
func (q Quota) Window(now time.Time) (start, end time.Time) {
	loc := q.location()
	t := now.In(loc)
	y, m, d := t.Date()
	switch q.Period {
	case PeriodWeek:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		return firstInstant(y, m, d-back, loc), firstInstant(y, m, d-back+7, loc)
	case PeriodMonth:
		return firstInstant(y, m, 1, loc), firstInstant(y, m+1, 1, loc)
	default:
		return firstInstant(y, m, d, loc), firstInstant(y, m, d+1, loc)
	}
}

// firstInstant is the first instant whose date in loc is the given date
// (normalised like time.Date) or later. It is local midnight, except where
// the clocks jump over midnight (Havana's summer time starts at 00:00) or
// a date is skipped (Samoa skipped 30 December 2011): time.Date may then
// answer an instant of the day before, and the window starts instead at
// the jump.
func firstInstant(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	want := time.Date(y, m, d, 0, 0, 0, 0, time.UTC) // the date, normalised
	before := func(u time.Time) bool {
		uy, um, ud := u.In(loc).Date()
		return time.Date(uy, um, ud, 0, 0, 0, 0, time.UTC).Before(want)
	}
	if !before(t) {
		return t
	}
	// Binary search for the jump: before(lo), !before(hi). Clocks never
	// jump by more than a day and a half (Samoa's 24 hours are the most).
	lo, hi := t, t.Add(48*time.Hour)
	for hi.Sub(lo) > time.Nanosecond {
		mid := lo.Add(hi.Sub(lo) / 2)
		if before(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// QuotaState is what a store keeps for one quota: the start of the window
// it counts (Unix nanoseconds) and the calls counted in it.
type QuotaState struct {
	Window int64
	Count  int64
}

// countIn is the state's count in the window starting at start.
func (s QuotaState) countIn(start int64) int64 {
	if s.Window != start {
		return 0
	}
	return s.Count
}

// windowFrom is the start of the window a take whose clock puts it in the
// window [start, end) counts in: its own, or the stored one if that is the
// next. Workers' clocks differ slightly, and one that has crossed a
// boundary has already started the next window; a take whose clock still
// reads the end of the last one counts in the new window instead of
// resetting the count to the old one: windows only move forward. A stored
// window further ahead (a clock far off) is not followed.
func (s QuotaState) windowFrom(start, end int64) int64 {
	if s.Window > start && s.Window <= end {
		return s.Window
	}
	return start
}

// quotaKey is the key of a quota (the prefix of its table when per user).
func (k keys) quota(kind Kind, name string, q Quota, tableSize int) string {
	key := k.prefix + "quota/" + kindWord(kind)
	if kind.HasName() {
		key += "/" + EscapeKeyPart(name)
	}
	key += "/" + strconv.FormatInt(q.MaxCalls, 10) + "/" + q.Period.String() + "/" + EscapeKeyPart(q.location().String())
	if kind.PerUser() {
		key += "/" + strconv.Itoa(tableSize)
	}
	return key
}

// Value format of a quota: byte 0 is 3 (a quota) or 4 (a quota slot,
// followed by the owner's 16-byte digest), then the window start and the
// count, big-endian int64 each.
const (
	formatQuota     = 3
	formatQuotaSlot = 4
	quotaStateSize  = 16
)

func encodeQuota(s QuotaState) []byte {
	b := make([]byte, 1+quotaStateSize)
	b[0] = formatQuota
	putQuotaState(b[1:], s)
	return b
}

func encodeQuotaSlot(owner digest, s QuotaState) []byte {
	b := make([]byte, 1+digestSize+quotaStateSize)
	b[0] = formatQuotaSlot
	putDigest(b[1:], owner)
	putQuotaState(b[1+digestSize:], s)
	return b
}

func putQuotaState(b []byte, s QuotaState) {
	binary.BigEndian.PutUint64(b[0:8], uint64(s.Window))
	binary.BigEndian.PutUint64(b[8:16], uint64(s.Count))
}

func readQuotaState(b []byte) (QuotaState, bool) {
	s := QuotaState{Window: int64(binary.BigEndian.Uint64(b[0:8])), Count: int64(binary.BigEndian.Uint64(b[8:16]))}
	return s, s.Count >= 0
}

// decodeQuota decodes a quota value; a corrupt one counts zero.
func decodeQuota(v []byte) (QuotaState, bool) {
	if len(v) != 1+quotaStateSize || v[0] != formatQuota {
		return QuotaState{}, false
	}
	return readQuotaState(v[1:])
}

// decodeQuotaSlot decodes a quota slot; a corrupt one is free.
func decodeQuotaSlot(v []byte) (owner digest, s QuotaState, ok bool) {
	if len(v) != 1+digestSize+quotaStateSize || v[0] != formatQuotaSlot {
		return digest{}, QuotaState{}, false
	}
	owner = readDigest(v[1:])
	s, ok = readQuotaState(v[1+digestSize:])
	if !ok {
		return digest{}, QuotaState{}, false
	}
	return owner, s, true
}

// quotaRequest is one quota a take counts against, after merging.
type quotaRequest struct {
	kind       Kind
	quota      Quota
	calls      int64
	key        string // the quota's key, or its table's prefix
	start, end int64  // the current window
	user       *userSlots
}

// quotaEntry is a quota request as read in one attempt.
type quotaEntry struct {
	req    *quotaRequest
	key    string // the key written
	exists bool
	cas    uint32
	// start and end are the window counted in: the request's, or a later
	// one already stored (see windowFrom).
	start, end int64
	count      int64 // the count in that window before the take
	base       int64 // the stored count the write adds to (the slot's own, or the inherited overflow count)
	slot       bool
	claim      bool
	// inherited is how the overflow quota was read for a claim: the new
	// slot starts with its count (see settleQuotaClaim).
	inherited struct {
		exists bool
		cas    uint32
	}
	// written is what the take wrote, for giving it back.
	written QuotaState
}

// quotaReservation is what an admitted quota take wrote, given back when
// the buckets reject.
type quotaReservation struct {
	entries []quotaEntry
}

// splitQuotaDemands separates quota demands from bucket demands.
func splitQuotaDemands(demands []Demand) (buckets, quotas []Demand) {
	for _, d := range demands {
		if d.Quota != nil {
			quotas = append(quotas, d)
		} else {
			buckets = append(buckets, d)
		}
	}
	return buckets, quotas
}

// takeWithQuotas is take with the quota demands counted first: if a quota
// rejects, no bucket is touched; if a bucket rejects or the take fails,
// the quota counts are given back.
//
// Concurrency caps (inflight.go) come between the quotas and the buckets
// in the same way; an admitted take's Decision.Lease holds them.
//
// The decision is written into *d, which must be zero; on an error *d is
// left zero.
func (l *StoreLimiter) takeWithQuotas(now time.Time, demands []Demand, d *Decision) error {
	if !AnyCountsCalls(demands) {
		// Token buckets only, the common case: nothing to split.
		return l.take(now, demands, d)
	}
	rest, capDemands := splitInFlight(demands)
	bucketDemands, quotaDemands := splitQuotaDemands(rest)
	if len(quotaDemands) == 0 && len(capDemands) == 0 {
		return l.take(now, demands, d)
	}
	nowNs, err := unixNanos(now)
	if err != nil {
		return err
	}
	quotas, err := l.prepareQuotas(now, quotaDemands)
	if err != nil {
		return err
	}
	caps, err := l.prepareCaps(capDemands)
	if err != nil {
		return err
	}
	reservation, rejection, err := l.takeQuotas(nowNs, quotas)
	if err != nil {
		return err
	}
	if rejection != nil {
		*d = *rejection
		return nil
	}
	lease, rejection, err := l.takeCaps(nowNs, caps)
	if err != nil || rejection != nil {
		l.releaseQuotas(reservation)
		if rejection != nil {
			*d = *rejection
			return nil
		}
		return err
	}
	err = l.take(now, bucketDemands, d)
	if err != nil || !d.Allowed {
		l.releaseQuotas(reservation)
		l.Release(lease)
		return err
	}
	d.Lease = lease
	return nil
}

// prepareQuotas validates and merges quota demands and locates the user.
func (l *StoreLimiter) prepareQuotas(now time.Time, demands []Demand) ([]*quotaRequest, error) {
	var reqs []*quotaRequest
	var user string
	for i, d := range demands {
		b, q := d.Bucket, *d.Quota
		switch {
		case d.Tokens < 0:
			return nil, fmt.Errorf("bucket: quota demand %d: %w: %d", i, ErrInvalidTokens, d.Tokens)
		case d.Tokens == 0:
			continue
		case b.Kind > lastKind:
			return nil, fmt.Errorf("bucket: quota demand %d: unknown kind %d", i, b.Kind)
		case b.Kind.HasName() && b.Tool == "":
			return nil, fmt.Errorf("bucket: quota demand %d: %s quota without a name", i, b.Kind)
		}
		if err := q.Validate(); err != nil {
			return nil, fmt.Errorf("bucket: quota demand %d: %w", i, err)
		}
		var err error
		if user, err = l.userOf("quota demand", "quota", i, b, user); err != nil {
			return nil, err
		}
		key := l.keys.quota(b.Kind, b.Tool, q, l.opts.MaxTrackedUsers)
		if j := slices.IndexFunc(reqs, func(r *quotaRequest) bool { return r.key == key }); j >= 0 {
			reqs[j].calls += d.Tokens
			continue
		}
		start, end := q.Window(now)
		reqs = append(reqs, &quotaRequest{kind: b.Kind, quota: q, calls: d.Tokens, key: key,
			start: start.UnixNano(), end: end.UnixNano()})
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

// takeQuotas counts the calls against every quota, all or nothing. It
// returns the reservation when admitted, or the rejection.
func (l *StoreLimiter) takeQuotas(now int64, reqs []*quotaRequest) (quotaReservation, *Decision, error) {
	if len(reqs) == 0 {
		return quotaReservation{}, nil, nil
	}
	for range l.opts.MaxAttempts {
		entries := make([]quotaEntry, 0, len(reqs))
		for _, r := range reqs {
			e, err := l.readQuota(now, r)
			if err != nil {
				return quotaReservation{}, nil, err
			}
			entries = append(entries, e)
		}
		rejection := decideQuotas(now, entries)
		if rejection != nil {
			return quotaReservation{}, rejection, nil
		}
		conflict, err := l.commitQuotas(now, entries)
		if err != nil {
			return quotaReservation{}, nil, err
		}
		if !conflict {
			return quotaReservation{entries: entries}, nil, nil
		}
		l.stats.conflicts.Add(1)
	}
	l.stats.contended.Add(1)
	return quotaReservation{}, &Decision{RetryAfter: l.opts.ContendedRetryAfter, Contended: true}, nil
}

// decideQuotas returns the rejection of the first attempt's reads, or nil
// when every quota has room for its calls.
func decideQuotas(now int64, entries []quotaEntry) *Decision {
	var d *Decision
	for _, e := range entries {
		if e.count+e.req.calls <= e.req.quota.MaxCalls {
			continue
		}
		if d == nil {
			d = &Decision{QuotaExceeded: true}
		}
		d.Rejected = d.Rejected.With(e.req.kind)
		wait := time.Duration(e.end - now)
		if wait > d.RetryAfter {
			d.RetryAfter = wait
			// For RateLimit headers: the quota as a bucket of MaxCalls
			// refilled over its window.
			window := Limit{MaxTokens: e.req.quota.MaxCalls, RefillPeriod: time.Duration(e.end - e.start)}
			d.Tightest = Status{Bucket: Bucket{Kind: e.req.kind, Limit: window}, Remaining: max(e.req.quota.MaxCalls-e.count, 0), ResetAfter: wait}
		}
		if e.req.calls > e.req.quota.MaxCalls {
			d.OverCapacity = true
		}
	}
	return d
}

// readQuota reads one quota, or the user's slot of a per-user quota.
func (l *StoreLimiter) readQuota(now int64, r *quotaRequest) (quotaEntry, error) {
	if r.user == nil {
		return l.readQuotaKey(r, r.key)
	}
	own, claim, err := l.scanQuotaUser(r)
	if err != nil {
		return quotaEntry{}, err
	}
	switch {
	case len(own) > 0:
		start := r.start
		for _, o := range own {
			start = max(start, o.state.windowFrom(r.start, r.end))
		}
		e := quotaEntry{req: r, key: own[0].key, exists: true, cas: own[0].cas, slot: true, base: own[0].state.countIn(start)}
		e.setWindow(start)
		for _, o := range own {
			e.count += o.state.countIn(start)
		}
		return e, nil
	case claim.found:
		overflow, err := l.readQuotaKey(r, r.key+"/overflow")
		if err != nil {
			return quotaEntry{}, err
		}
		e := quotaEntry{req: r, key: claim.key, exists: claim.exists, cas: claim.cas, slot: true, claim: true,
			start: overflow.start, end: overflow.end, count: overflow.count, base: overflow.count}
		e.inherited.exists, e.inherited.cas = overflow.exists, overflow.cas
		return e, nil
	default:
		return l.readQuotaKey(r, r.key+"/overflow")
	}
}

// readQuotaKey reads a quota that is not a slot.
func (l *StoreLimiter) readQuotaKey(r *quotaRequest, key string) (quotaEntry, error) {
	e := quotaEntry{req: r, key: key, start: r.start, end: r.end}
	value, cas, err := l.store.Get(key)
	switch {
	case notFound(err):
		return e, nil
	case err != nil:
		return quotaEntry{}, fmt.Errorf("bucket: read %s: %w", key, err)
	}
	e.exists, e.cas = true, cas
	s, ok := decodeQuota(value)
	if !ok {
		l.stats.corrupt.Add(1)
	}
	e.setWindow(s.windowFrom(r.start, r.end))
	e.count = s.countIn(e.start)
	e.base = e.count
	return e, nil
}

// setWindow sets the window the entry counts in, starting at start: the
// request's, or a later one (whose end the quota's calendar gives).
func (e *quotaEntry) setWindow(start int64) {
	e.start, e.end = e.req.start, e.req.end
	if start != e.req.start {
		s, end := e.req.quota.Window(time.Unix(0, start))
		e.start, e.end = s.UnixNano(), end.UnixNano()
	}
}

// quotaSlotRef is a quota slot read in a scan.
type quotaSlotRef struct {
	key   string
	cas   uint32
	state QuotaState
}

// quotaClaimable is a slot a user may claim.
type quotaClaimable struct {
	quotaSlotRef
	found, exists bool
}

// scanQuotaUser reads the user's candidate slots up to the first never
// written, as scanUser does for buckets: the slots the user owns, and the
// first it may claim (never written, free, or counting an earlier window).
func (l *StoreLimiter) scanQuotaUser(r *quotaRequest) (own []quotaSlotRef, claim quotaClaimable, err error) {
	pos := r.user.start
	for i := range r.user.n {
		if i > 0 {
			pos = r.user.after(pos)
		}
		key := slotKey(r.key, int(pos))
		value, cas, err := l.store.Get(key)
		if notFound(err) {
			if !claim.found {
				claim = quotaClaimable{quotaSlotRef: quotaSlotRef{key: key}, found: true}
			}
			break
		}
		if err != nil {
			return nil, quotaClaimable{}, fmt.Errorf("bucket: read %s: %w", key, err)
		}
		owner, s, ok := decodeQuotaSlot(value)
		if !ok {
			l.stats.corrupt.Add(1)
		}
		switch {
		case owner == r.user.owner:
			own = append(own, quotaSlotRef{key: key, cas: cas, state: s})
		case !claim.found && (owner == digest{} || s.countIn(s.windowFrom(r.start, r.end)) == 0):
			claim = quotaClaimable{quotaSlotRef: quotaSlotRef{key: key, cas: cas, state: s}, found: true, exists: true}
		}
	}
	return own, claim, nil
}

// commitQuotas writes every entry in order; on a lost race it gives back
// what it wrote and reports conflict.
func (l *StoreLimiter) commitQuotas(now int64, entries []quotaEntry) (conflict bool, err error) {
	for i := range entries {
		e := &entries[i]
		e.written = QuotaState{Window: e.start, Count: e.base + e.req.calls}
		var value []byte
		if e.slot {
			value = encodeQuotaSlot(e.req.user.owner, e.written)
		} else {
			value = encodeQuota(e.written)
		}
		if e.exists {
			err = l.store.Set(e.key, value, e.cas)
		} else {
			err = l.create(e.key, value)
		}
		written := i
		if err == nil {
			written = i + 1
		}
		if err == nil && e.req.user != nil && (e.claim || !e.slot) {
			// Another take of the same user may have claimed a slot
			// meanwhile (while this one claimed another, or counted in the
			// overflow): start over, counting both.
			own, _, scanErr := l.scanQuotaUser(e.req)
			switch {
			case scanErr != nil:
				err = scanErr
			case slices.ContainsFunc(own, func(o quotaSlotRef) bool { return o.key != e.key }):
				err = fmt.Errorf("bucket: another take claimed a slot in %s meanwhile: %w", e.req.key, ErrCASMismatch)
			case e.claim && l.settleQuotaClaim(e):
				err = fmt.Errorf("bucket: the overflow quota of %s changed during a claim: %w", e.req.key, ErrCASMismatch)
			}
		}
		if err != nil {
			l.releaseQuotas(quotaReservation{entries: entries[:written]})
			if errors.Is(err, ErrCASMismatch) {
				return true, nil
			}
			return false, fmt.Errorf("bucket: write %s: %w", e.key, err)
		}
	}
	return false, nil
}

// settleQuotaClaim completes a claim right after its write, as
// settleClaim does for buckets. If the overflow quota has been written since
// the take read the count the new slot inherits, the slot takes on the
// overflow quota's current count (plus this take's calls, which the restart
// gives back) and settleQuotaClaim returns true: the take starts over and
// decides on the slot with that count.
//
// The race it closes: one take of a user counted in the overflow quota (X)
// while another of the same user claimed a slot (Y), a slot that became
// claimable in between (its count given back to zero). X re-scans after its
// write and Y re-reads the overflow quota after its write, so at least one
// sees the other; without this step a user could get one call more than
// its quota. Taking on the whole overflow count (Y cannot tell X's share
// from other overflowed users') errs towards admitting less.
func (l *StoreLimiter) settleQuotaClaim(e *quotaEntry) (restart bool) {
	value, cas, err := l.store.Get(e.req.key + "/overflow")
	switch {
	case notFound(err):
		return false // still never written: unchanged
	case err != nil:
		l.stats.settlesAbandoned.Add(1)
		return true
	case e.inherited.exists && cas == e.inherited.cas:
		return false
	}
	overflow, _ := decodeQuota(value)
	raised := overflow.countIn(e.start) + e.req.calls
	settled := l.editKey(e.key, func(value []byte, found bool) ([]byte, editOutcome) {
		owner, s, ok := decodeQuotaSlot(value)
		switch {
		case !found || !ok || owner != e.req.user.owner || s.Window != e.written.Window:
			return nil, editAbandon
		case s.Count >= raised:
			return nil, editDone
		}
		s.Count = raised
		return encodeQuotaSlot(owner, s), editWrite
	})
	if settled {
		l.stats.settled.Add(1)
	} else {
		l.stats.settlesAbandoned.Add(1)
	}
	return true
}

// releaseQuotas gives back the calls of written entries (a count of the
// same window only: a later window starts at zero anyway).
func (l *StoreLimiter) releaseQuotas(r quotaReservation) {
	for i := len(r.entries) - 1; i >= 0; i-- {
		if !l.releaseQuota(&r.entries[i]) {
			l.stats.refundsAbandoned.Add(1)
		}
	}
}

func (l *StoreLimiter) releaseQuota(e *quotaEntry) bool {
	return l.editKey(e.key, func(value []byte, found bool) ([]byte, editOutcome) {
		if !found {
			return nil, editAbandon
		}
		var s QuotaState
		var owner digest
		var ok bool
		if e.slot {
			owner, s, ok = decodeQuotaSlot(value)
			if ok && owner != e.req.user.owner {
				return nil, editDone
			}
		} else {
			s, ok = decodeQuota(value)
		}
		if !ok || s.Window != e.written.Window {
			return nil, editDone
		}
		s.Count = max(s.Count-e.req.calls, 0)
		if e.slot {
			return encodeQuotaSlot(owner, s), editWrite
		}
		return encodeQuota(s), editWrite
	})
}
