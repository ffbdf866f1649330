package bucket

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// This file is the bucket arithmetic: pure functions of a bucket's stored
// State, its Limit and the current time, with no store and no clock of
// their own, so that every storage back end (shared data, or a store
// behind a network round trip) makes exactly the same decisions.
//
// The algorithm is GCRA, the generic cell rate algorithm (ITU-T I.371),
// which is exactly a continuous token bucket of capacity MaxTokens refilled
// at MaxTokens per RefillPeriod that starts full, stored as one number: the
// theoretical arrival time TAT, the instant at which the bucket is full
// again. With the emission interval T = RefillPeriod/MaxTokens, the debt of
// a bucket at time now is max(TAT-now, 0), its tokens are
// MaxTokens - debt/T, and taking n tokens is
//
//	newTAT = max(TAT, now) + n*T, allowed iff newTAT - now <= MaxTokens*T.
//
// T is rarely a whole number of nanoseconds (60s/7 is not), and rounding it
// either way would break the bucket: rounded down, a bucket admits more
// than its capacity over time; rounded up, a full bucket of 7 refuses its
// 7th token. So the arithmetic is exact: times are fixed-point numbers
// whole + Frac/MaxTokens nanoseconds, and n*T = n*RefillPeriod/MaxTokens is
// computed with 128-bit intermediates. Nothing is ever rounded except the
// durations reported to callers, which are rounded up (never promise a
// token early).

// MaxRefillPeriod is the longest RefillPeriod a Limit may have: 100 years.
// It keeps now+RefillPeriod within int64 nanoseconds until the year 2162.
const MaxRefillPeriod = 100 * 365 * 24 * time.Hour

// Errors of the bucket arithmetic.
var (
	// ErrInvalidLimit reports a Limit with MaxTokens < 1, or a RefillPeriod
	// that is not positive or longer than MaxRefillPeriod.
	ErrInvalidLimit = errors.New("bucket: invalid limit")
	// ErrInvalidState reports a State whose Frac is outside [0, MaxTokens).
	ErrInvalidState = errors.New("bucket: invalid state")
	// ErrTimeRange reports a time before the Unix epoch, or so late that
	// now+RefillPeriod does not fit in int64 nanoseconds.
	ErrTimeRange = errors.New("bucket: time out of range")
	// ErrInvalidTokens reports a negative number of tokens.
	ErrInvalidTokens = errors.New("bucket: invalid number of tokens")
)

// Validate reports whether l describes a usable bucket: MaxTokens >= 1 and
// 0 < RefillPeriod <= MaxRefillPeriod.
func (l Limit) Validate() error {
	// The error is built apart, so that this test inlines: a take checks
	// every limit it draws from, and a call costs more in a Wasm VM.
	if l.MaxTokens < 1 || l.RefillPeriod <= 0 || l.RefillPeriod > MaxRefillPeriod {
		return l.invalid()
	}
	return nil
}

// invalid describes what makes l invalid.
func (l Limit) invalid() error {
	if l.MaxTokens < 1 {
		return fmt.Errorf("%w: maxTokens must be >= 1, got %d", ErrInvalidLimit, l.MaxTokens)
	}
	return fmt.Errorf("%w: refillPeriod must be > 0 and <= %v, got %v",
		ErrInvalidLimit, MaxRefillPeriod, l.RefillPeriod)
}

// State is what a store keeps for one bucket.
//
// The zero State is a full bucket.
type State struct {
	// TAT and Frac are the theoretical arrival time, the instant at which
	// the bucket is full again: TAT + Frac/MaxTokens nanoseconds since the
	// Unix epoch, with 0 <= Frac < MaxTokens.
	TAT  int64
	Frac int64
	// Latest is the latest now of the takes that wrote the state, and
	// Restarts counts (modulo 2^32) those that found the bucket full and
	// so restarted its schedule at their own now. Refunds need both (see
	// Limit.Refund).
	Latest   int64
	Restarts uint32
}

// Outcome is the result of Limit.Take.
type Outcome struct {
	// Allowed is true when the bucket had the tokens.
	Allowed bool
	// Next is the state to store when Allowed (the given state otherwise).
	Next State
	// Wait is, when !Allowed, the time until the bucket holds the tokens
	// demanded, rounded up to the nanosecond; 0 when Allowed. When
	// OverCapacity it is the time until the bucket is full.
	Wait time.Duration
	// OverCapacity is true when more tokens were demanded than MaxTokens:
	// such a take is never allowed.
	OverCapacity bool
	// Remaining is the number of whole tokens in the bucket after the take
	// (before it, when not allowed).
	Remaining int64
	// ResetAfter is the time until the bucket is full again after the take
	// (before it, when not allowed), rounded up to the nanosecond.
	ResetAfter time.Duration
}

// Take evaluates taking tokens from a bucket in state s at now (Unix
// nanoseconds). It returns an error for an invalid limit, state, token
// count or time, and never panics.
func (l Limit) Take(s State, now int64, tokens int64) (Outcome, error) {
	g, err := newGCRA(l, now)
	if err != nil {
		return Outcome{}, err
	}
	if err := g.checkState(s); err != nil {
		return Outcome{}, err
	}
	if tokens < 0 {
		return Outcome{}, fmt.Errorf("%w: %d", ErrInvalidTokens, tokens)
	}
	var out takeResult
	g.take(g.debt(s, now), uint64(tokens), &out)
	if out.Allowed {
		out.Next = g.next(s, now, out.newDebt)
	} else {
		out.Next = s
	}
	return out.Outcome, nil
}

// Refund gives back the tokens of a take that wrote the state written and
// must be undone (another bucket of its request lost a race), from the
// bucket's current state. It never gives back more than the take's
// effect on the bucket, so the bucket never admits more than if the take
// had not happened:
//
//   - when a later take restarted the schedule (the bucket was full at its
//     now), the tokens had flowed back with time already: nothing is
//     refunded and refunded is false;
//   - otherwise the refund moves TAT back by the part of the take's cost
//     that lies after the latest now of the takes written since
//     (written.TAT - current.Latest, clamped to [0, tokens*T]). Later takes
//     queued their tokens after this one; without it, a take whose now
//     was later than this one's start would have started at its own now,
//     so only what lies beyond every later now can be given back. When no
//     later take's now is past the refunded take's start (a frozen clock,
//     or a refund right after the write, for instance), that is the whole
//     cost: the refund is exact.
func (l Limit) Refund(current, written State, tokens int64) (next State, refunded bool, err error) {
	if err := l.Validate(); err != nil {
		return current, false, err
	}
	g := gcraOf(l)
	if err := g.checkState(current); err != nil {
		return current, false, err
	}
	if err := g.checkState(written); err != nil {
		return current, false, err
	}
	if tokens < 0 || uint64(tokens) > g.m {
		return current, false, fmt.Errorf("%w: refund of %d from a bucket of %d", ErrInvalidTokens, tokens, l.MaxTokens)
	}
	next, refunded = g.refund(current, written, uint64(tokens))
	return next, refunded, nil
}

// gcra is a validated Limit in the form the arithmetic uses: m tokens per
// p nanoseconds, both >= 1 and < 2^63.
type gcra struct {
	m, p uint64
}

// gcraOf converts a Limit already validated.
func gcraOf(l Limit) gcra {
	return gcra{m: uint64(l.MaxTokens), p: uint64(l.RefillPeriod)}
}

// newGCRA validates l and now: now >= 0 and now+RefillPeriod fits int64,
// so every state a take writes is representable.
func newGCRA(l Limit, now int64) (gcra, error) {
	if err := l.Validate(); err != nil {
		return gcra{}, err
	}
	if now < 0 || now > math.MaxInt64-int64(l.RefillPeriod) {
		return gcra{}, fmt.Errorf("%w: %d ns with a refill period of %v", ErrTimeRange, now, l.RefillPeriod)
	}
	return gcraOf(l), nil
}

func (g gcra) checkState(s State) error {
	if s.Frac < 0 || uint64(s.Frac) >= g.m {
		return fmt.Errorf("%w: frac %d with maxTokens %d", ErrInvalidState, s.Frac, g.m)
	}
	if s.Latest < 0 {
		return fmt.Errorf("%w: latest %d before the epoch", ErrInvalidState, s.Latest)
	}
	return nil
}

// span is a non-negative duration whole + frac/m nanoseconds, with
// 0 <= frac < m and whole <= math.MaxInt64 (sums saturate there).
type span struct {
	whole, frac uint64
}

// maxSpan is where sums of spans saturate: about 292 years, longer than
// any debt a valid bucket can owe, so saturation only ever errs towards
// more debt, never less.
var maxSpan = span{whole: math.MaxInt64}

// cost is n*T = n*p/m. n must be <= m, so the quotient is <= p.
func (g gcra) cost(n uint64) span {
	hi, lo := bits.Mul64(n, g.p)
	// hi < m because n*p < m*2^63; Div64 cannot panic.
	q, r := bits.Div64(hi, lo, g.m)
	return span{whole: q, frac: r}
}

// add returns a+b, saturating at maxSpan.
func (g gcra) add(a, b span) span {
	frac := a.frac + b.frac // both < m < 2^63: no overflow
	carry := uint64(0)
	if frac >= g.m {
		frac -= g.m
		carry = 1
	}
	whole, over := bits.Add64(a.whole, b.whole, carry)
	if over != 0 || whole > math.MaxInt64 {
		return maxSpan
	}
	return span{whole: whole, frac: frac}
}

// less reports a < b.
func (a span) less(b span) bool {
	return a.whole < b.whole || (a.whole == b.whole && a.frac < b.frac)
}

// sub returns a-b, or zero when b >= a.
func (g gcra) sub(a, b span) span {
	if !b.less(a) {
		return span{}
	}
	whole := a.whole - b.whole
	frac := a.frac
	if frac < b.frac {
		frac += g.m
		whole--
	}
	return span{whole: whole, frac: frac - b.frac}
}

// capacity is m*T = p.
func (g gcra) capacity() span { return span{whole: g.p} }

// ceil rounds a span up to a whole Duration.
func (a span) ceil() time.Duration {
	whole := a.whole
	if a.frac > 0 && whole < math.MaxInt64 {
		whole++
	}
	return time.Duration(whole)
}

// debt is how long the bucket in state s needs at now to be full:
// max(TAT-now, 0). now >= 0, so TAT-now cannot overflow.
func (g gcra) debt(s State, now int64) span {
	switch {
	case s.TAT > now:
		return span{whole: uint64(s.TAT - now), frac: uint64(s.Frac)}
	case s.TAT == now:
		return span{frac: uint64(s.Frac)}
	default:
		return span{}
	}
}

// restarts reports whether a take at now restarts the schedule of s: the
// bucket was full with time to spare, so max(TAT, now) picked now.
func restarts(s State, now int64) bool { return s.TAT < now }

// next is the state a take at now writes when the bucket, previously in
// state prev, owes newDebt after it. now+newDebt saturates at the largest
// time (only for debts larger than the capacity, which only conservative
// merges produce).
func (g gcra) next(prev State, now int64, newDebt span) State {
	out := State{Latest: max(prev.Latest, now), Restarts: prev.Restarts}
	if restarts(prev, now) {
		out.Restarts++
	}
	tat, over := bits.Add64(uint64(now), newDebt.whole, 0)
	if over != 0 || tat > math.MaxInt64 {
		out.TAT = math.MaxInt64
		return out
	}
	out.TAT, out.Frac = int64(tat), int64(newDebt.frac)
	return out
}

// refund gives back n tokens of the take that wrote written from the
// current state (see Limit.Refund), stopping at the epoch (a TAT at or
// before any valid now means a full bucket).
func (g gcra) refund(current, written State, n uint64) (State, bool) {
	if current.Restarts != written.Restarts {
		return current, false
	}
	back := g.cost(n)
	// Only the part of the cost after every later now: written - Latest.
	if written.TAT < current.Latest || written.TAT == current.Latest && written.Frac == 0 {
		return current, false
	}
	if after := g.debt(written, current.Latest); after.less(back) {
		back = after
	}
	if current.TAT <= 0 {
		return current, true
	}
	at := g.sub(span{whole: uint64(current.TAT), frac: uint64(current.Frac)}, back)
	next := current
	next.TAT, next.Frac = int64(at.whole), int64(at.frac)
	return next, true
}

// remaining is the number of whole tokens in a bucket owing debt:
// floor((p - debt) * m / p), 0 when the debt exceeds the capacity.
func (g gcra) remaining(debt span) int64 {
	if g.capacity().less(debt) {
		return 0
	}
	left := g.sub(g.capacity(), debt)
	hi, lo := bits.Mul64(left.whole, g.m)
	var carry uint64
	lo, carry = bits.Add64(lo, left.frac, 0)
	hi += carry
	// left*m <= p*m < p*2^64, so hi < p: Div64 cannot panic.
	q, _ := bits.Div64(hi, lo, g.p)
	return int64(q)
}

// takeResult is an Outcome plus the debt after an allowed take.
type takeResult struct {
	Outcome
	newDebt span
}

// take decides taking n tokens from a bucket owing debt into *out. It
// fills every field of Outcome but Next, which it sets to zero. In place:
// in a Wasm VM a result this size returned by value is a copy, a call.
// Field by field, not cleared first: under wazero clearing it is a loop
// of memory copies (docs/benchmarks.md).
func (g *gcra) take(debt span, n uint64, out *takeResult) {
	out.Allowed, out.Next, out.Wait, out.OverCapacity, out.newDebt = false, State{}, 0, false, span{}
	if n > g.m {
		out.OverCapacity = true
		out.Wait = debt.ceil()
		out.Remaining = g.remaining(debt)
		out.ResetAfter = debt.ceil()
		return
	}
	after := g.add(debt, g.cost(n))
	if !g.capacity().less(after) {
		out.Allowed = true
		out.Remaining = g.remaining(after)
		out.ResetAfter = after.ceil()
		out.newDebt = after
		return
	}
	out.Wait = g.sub(after, g.capacity()).ceil()
	out.Remaining = g.remaining(debt)
	out.ResetAfter = debt.ceil()
}
