package bucket

import (
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"
)

// t0 is an arbitrary current time for tests: 2026-01-01T00:00:00Z.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func TestLimitValidate(t *testing.T) {
	tests := []struct {
		name  string
		limit Limit
		ok    bool
	}{
		{"one per nanosecond", Limit{1, 1}, true},
		{"typical", Limit{100, time.Minute}, true},
		{"largest", Limit{math.MaxInt64, MaxRefillPeriod}, true},
		{"zero tokens", Limit{0, time.Minute}, false},
		{"negative tokens", Limit{-1, time.Minute}, false},
		{"zero period", Limit{1, 0}, false},
		{"negative period", Limit{1, -time.Second}, false},
		{"period too long", Limit{1, MaxRefillPeriod + 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limit.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate(%+v) = %v, want ok=%v", tt.limit, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidLimit) {
				t.Fatalf("error %v is not ErrInvalidLimit", err)
			}
		})
	}
}

// step is one take in a scripted sequence.
type step struct {
	at         int64 // ns after t0
	tokens     int64
	allowed    bool
	wait       time.Duration
	remaining  int64
	resetAfter time.Duration
	over       bool
}

func TestTakeSequences(t *testing.T) {
	const sec = int64(time.Second)
	// 60s/7 = 8571428571.428... ns: not a whole number of nanoseconds.
	const seventh = 8571428571
	tests := []struct {
		name  string
		limit Limit
		steps []step
	}{
		{"starts full and empties exactly", Limit{3, 3 * time.Second}, []step{
			{at: 0, tokens: 1, allowed: true, remaining: 2, resetAfter: time.Second},
			{at: 0, tokens: 1, allowed: true, remaining: 1, resetAfter: 2 * time.Second},
			{at: 0, tokens: 1, allowed: true, remaining: 0, resetAfter: 3 * time.Second},
			{at: 0, tokens: 1, wait: time.Second, remaining: 0, resetAfter: 3 * time.Second},
			{at: sec - 1, tokens: 1, wait: 1, remaining: 0, resetAfter: 2*time.Second + 1},
			{at: sec, tokens: 1, allowed: true, remaining: 0, resetAfter: 3 * time.Second},
		}},
		{"refill is continuous and capped", Limit{2, 2 * time.Second}, []step{
			{at: 0, tokens: 2, allowed: true, remaining: 0, resetAfter: 2 * time.Second},
			{at: 100 * sec, tokens: 2, allowed: true, remaining: 0, resetAfter: 2 * time.Second},
			{at: 100 * sec, tokens: 1, wait: time.Second, remaining: 0, resetAfter: 2 * time.Second},
		}},
		{"non-integral interval admits exactly the capacity", Limit{7, time.Minute}, []step{
			{at: 0, tokens: 6, allowed: true, remaining: 1, resetAfter: 6*seventh + 3}, // 51428571428.57
			{at: 0, tokens: 1, allowed: true, remaining: 0, resetAfter: time.Minute},
			{at: 0, tokens: 1, wait: seventh + 1, remaining: 0, resetAfter: time.Minute},
			{at: seventh, tokens: 1, wait: 1, remaining: 0, resetAfter: time.Minute - seventh},
			{at: seventh + 1, tokens: 1, allowed: true, remaining: 0, resetAfter: time.Minute}, // 59999999999.43
		}},
		{"more than the capacity never passes", Limit{5, time.Second}, []step{
			{at: 0, tokens: 6, over: true, wait: 0, remaining: 5, resetAfter: 0},
			{at: 0, tokens: 5, allowed: true, remaining: 0, resetAfter: time.Second},
			{at: 0, tokens: 6, over: true, wait: time.Second, remaining: 0, resetAfter: time.Second},
		}},
		{"a cost of several tokens waits for all of them", Limit{10, 100 * time.Second}, []step{
			{at: 0, tokens: 4, allowed: true, remaining: 6, resetAfter: 40 * time.Second},
			{at: 0, tokens: 4, allowed: true, remaining: 2, resetAfter: 80 * time.Second},
			// 2 tokens left, 4 wanted: 2 more take 20s; one would take 10s.
			{at: 0, tokens: 4, wait: 20 * time.Second, remaining: 2, resetAfter: 80 * time.Second},
			{at: 0, tokens: 1, allowed: true, remaining: 1, resetAfter: 90 * time.Second},
			{at: 19 * sec, tokens: 4, wait: 11 * time.Second, remaining: 2, resetAfter: 71 * time.Second},
			{at: 30 * sec, tokens: 4, allowed: true, remaining: 0, resetAfter: 100 * time.Second},
		}},
		{"zero tokens always pass", Limit{1, time.Second}, []step{
			{at: 0, tokens: 1, allowed: true, remaining: 0, resetAfter: time.Second},
			{at: 0, tokens: 0, allowed: true, remaining: 0, resetAfter: time.Second},
		}},
		{"one token per nanosecond", Limit{1, 1}, []step{
			{at: 0, tokens: 1, allowed: true, remaining: 0, resetAfter: 1},
			{at: 0, tokens: 1, wait: 1, remaining: 0, resetAfter: 1},
			{at: 1, tokens: 1, allowed: true, remaining: 0, resetAfter: 1},
		}},
		{"huge bucket", Limit{math.MaxInt64, MaxRefillPeriod}, []step{
			{at: 0, tokens: math.MaxInt64, allowed: true, remaining: 0, resetAfter: MaxRefillPeriod},
			{at: 0, tokens: 1, wait: 1, remaining: 0, resetAfter: MaxRefillPeriod},
			// 1ns refills 2.92 tokens.
			{at: 1, tokens: 1, allowed: true, remaining: 1, resetAfter: MaxRefillPeriod},
		}},
		{"fractional refill of a huge bucket", Limit{math.MaxInt64, time.Second}, []step{
			{at: 0, tokens: math.MaxInt64, allowed: true, remaining: 0, resetAfter: time.Second},
			// 1ns refills MaxInt64/1e9 = 9223372036.85 tokens.
			{at: 1, tokens: 9223372037, wait: 1, remaining: 9223372036, resetAfter: time.Second - 1},
			{at: 1, tokens: 9223372036, allowed: true, remaining: 0, resetAfter: time.Second},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s State
			for i, st := range tt.steps {
				out, err := tt.limit.Take(s, t0+st.at, st.tokens)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if out.Allowed != st.allowed || out.Wait != st.wait || out.Remaining != st.remaining ||
					out.ResetAfter != st.resetAfter || out.OverCapacity != st.over {
					t.Fatalf("step %d: got allowed=%v wait=%d remaining=%d resetAfter=%d over=%v, "+
						"want allowed=%v wait=%d remaining=%d resetAfter=%d over=%v", i,
						out.Allowed, out.Wait, out.Remaining, out.ResetAfter, out.OverCapacity,
						st.allowed, st.wait, st.remaining, st.resetAfter, st.over)
				}
				if !out.Allowed && out.Next != s {
					t.Fatalf("step %d: a rejected take changed the state", i)
				}
				s = out.Next
			}
		})
	}
}

func TestTakeErrors(t *testing.T) {
	ok := Limit{10, time.Minute}
	tests := []struct {
		name   string
		limit  Limit
		state  State
		now    int64
		tokens int64
		want   error
	}{
		{"invalid limit", Limit{0, time.Minute}, State{}, t0, 1, ErrInvalidLimit},
		{"negative time", ok, State{}, -1, 1, ErrTimeRange},
		{"time too late for the period", ok, State{}, math.MaxInt64 - int64(time.Minute) + 1, 1, ErrTimeRange},
		{"negative frac", ok, State{Frac: -1}, t0, 1, ErrInvalidState},
		{"frac too large", ok, State{Frac: 10}, t0, 1, ErrInvalidState},
		{"negative tokens", ok, State{}, t0, -1, ErrInvalidTokens},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.limit.Take(tt.state, tt.now, tt.tokens)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Take = %v, want %v", err, tt.want)
			}
		})
	}
	// The latest valid time is accepted.
	if _, err := ok.Take(State{}, math.MaxInt64-int64(time.Minute), 1); err != nil {
		t.Fatalf("Take at the latest valid time: %v", err)
	}
}

func TestTakeExtremeStates(t *testing.T) {
	l := Limit{10, time.Minute}
	tests := []struct {
		name    string
		state   State
		allowed bool
		wait    time.Duration
	}{
		{"TAT at the epoch is full", State{TAT: 0}, true, 0},
		{"TAT before the epoch is full", State{TAT: math.MinInt64}, true, 0},
		{"TAT at the end of time owes centuries", State{TAT: math.MaxInt64, Frac: 9}, false,
			time.Duration(math.MaxInt64-t0) - time.Minute + 6*time.Second + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := l.Take(tt.state, t0, 1)
			if err != nil {
				t.Fatal(err)
			}
			if out.Allowed != tt.allowed || out.Wait != tt.wait {
				t.Fatalf("got allowed=%v wait=%d, want allowed=%v wait=%d", out.Allowed, out.Wait, tt.allowed, tt.wait)
			}
		})
	}
}

func TestNextSaturates(t *testing.T) {
	g := gcra{m: 10, p: uint64(time.Minute)}
	s := g.next(State{}, math.MaxInt64-5, span{whole: 10})
	if s.TAT != math.MaxInt64 {
		t.Fatalf("TAT = %d, want saturation at MaxInt64", s.TAT)
	}
	if got := g.add(maxSpan, span{whole: 1}); got != maxSpan {
		t.Fatalf("add saturates to %+v, want %+v", got, maxSpan)
	}
	if got := g.add(span{whole: 1, frac: 9}, span{whole: 2, frac: 3}); got != (span{whole: 4, frac: 2}) {
		t.Fatalf("add carries to %+v", got)
	}
	if got := (span{whole: math.MaxInt64, frac: 1}).ceil(); got != math.MaxInt64 {
		t.Fatalf("ceil saturates to %d", got)
	}
}

// take2 takes n tokens at t0+at, which must be allowed.
func take2(t *testing.T, l Limit, s State, at int64, n int64) State {
	t.Helper()
	out, err := l.Take(s, t0+at, n)
	if err != nil || !out.Allowed {
		t.Fatalf("take %d at %d: %+v %v", n, at, out, err)
	}
	return out.Next
}

func TestRefund(t *testing.T) {
	l := Limit{7, time.Minute}
	take := func(t *testing.T, s State, at int64, n int64) State {
		t.Helper()
		out, err := l.Take(s, t0+at, n)
		if err != nil || !out.Allowed {
			t.Fatalf("take %d at %d: %+v %v", n, at, out, err)
		}
		return out.Next
	}
	t.Run("undoes a take exactly", func(t *testing.T) {
		a := take(t, State{}, 0, 3)
		b := take(t, a, 0, 2)
		got, refunded, err := l.Refund(b, a, 3)
		if err != nil || !refunded {
			t.Fatalf("Refund: %v %v", refunded, err)
		}
		// The same as taking only the 2 tokens.
		want := take(t, State{}, 0, 2)
		if got != want {
			t.Fatalf("after refund %+v, want %+v", got, want)
		}
	})
	t.Run("refunds commute", func(t *testing.T) {
		a := take(t, State{}, 0, 1)
		b := take(t, a, 0, 1)
		c := take(t, b, 0, 1)
		x, _, _ := l.Refund(c, a, 1)
		x, _, _ = l.Refund(x, b, 1)
		y, _, _ := l.Refund(c, b, 1)
		y, _, _ = l.Refund(y, a, 1)
		if x != y || x != take(t, State{}, 0, 1) {
			t.Fatalf("refunds in either order: %+v and %+v", x, y)
		}
	})
	t.Run("nothing to refund after a restart", func(t *testing.T) {
		a := take(t, State{}, 0, 1)
		// The bucket is full again a minute later; this take restarts.
		b := take(t, a, int64(2*time.Minute), 1)
		got, refunded, err := l.Refund(b, a, 1)
		if err != nil || refunded || got != b {
			t.Fatalf("Refund after restart: %+v %v %v, want unchanged", got, refunded, err)
		}
	})
	t.Run("a later take that arrived before the end of the refunded one", func(t *testing.T) {
		l := Limit{20, time.Second} // 50ms a token
		ms := int64(time.Millisecond)
		a := take2(t, l, State{}, 100*ms, 1)
		b := take2(t, l, a, 120*ms, 1) // queued after a, at +150ms
		got, refunded, err := l.Refund(b, a, 1)
		if err != nil || !refunded {
			t.Fatalf("Refund: %v %v", refunded, err)
		}
		// Without a, b would have started at its own now, +120ms: only
		// the 30ms of a's cost after +120ms come back.
		if want := take2(t, l, State{}, 120*ms, 1); got != want {
			t.Fatalf("after refund %+v, want %+v", got, want)
		}
	})
	t.Run("a later take after the end of the refunded one", func(t *testing.T) {
		l := Limit{20, time.Second}
		ms := int64(time.Millisecond)
		a := take2(t, l, State{}, 100*ms, 2)                   // until +200ms
		b := take2(t, l, take2(t, l, a, 100*ms, 1), 210*ms, 1) // a third take, then b at +210ms
		got, refunded, _ := l.Refund(b, a, 2)
		if refunded || got != b {
			t.Fatalf("Refund = %+v %v, want nothing back", got, refunded)
		}
	})
	t.Run("never below the epoch", func(t *testing.T) {
		got, _, err := l.Refund(State{TAT: 5}, State{TAT: 5}, 7)
		if err != nil || got != (State{}) {
			t.Fatalf("Refund = %+v %v", got, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		if _, _, err := l.Refund(State{}, State{}, 8); !errors.Is(err, ErrInvalidTokens) {
			t.Fatalf("refund beyond capacity: %v", err)
		}
		if _, _, err := l.Refund(State{Frac: 7}, State{}, 1); !errors.Is(err, ErrInvalidState) {
			t.Fatalf("refund of an invalid state: %v", err)
		}
		if _, _, err := (Limit{}).Refund(State{}, State{}, 1); !errors.Is(err, ErrInvalidLimit) {
			t.Fatalf("refund with an invalid limit: %v", err)
		}
	})
}

// reference is a continuous token bucket computed with exact rationals:
// the definition the GCRA arithmetic must match decision for decision.
type reference struct {
	m, p   *big.Rat
	tokens *big.Rat
	last   int64
}

func newReference(l Limit, start int64) *reference {
	m := new(big.Rat).SetInt64(l.MaxTokens)
	return &reference{m: m, p: new(big.Rat).SetInt64(int64(l.RefillPeriod)), tokens: new(big.Rat).Set(m), last: start}
}

// take returns allowed, the exact wait (when rejected and n <= m), the
// whole tokens left and the exact time until full.
func (r *reference) take(now, n int64) (bool, *big.Rat, int64, *big.Rat) {
	elapsed := new(big.Rat).SetInt64(now - r.last)
	r.last = now
	refill := new(big.Rat).Mul(elapsed, r.m)
	refill.Quo(refill, r.p)
	r.tokens.Add(r.tokens, refill)
	if r.tokens.Cmp(r.m) > 0 {
		r.tokens.Set(r.m)
	}
	want := new(big.Rat).SetInt64(n)
	allowed := want.Cmp(r.m) <= 0 && want.Cmp(r.tokens) <= 0
	var wait *big.Rat
	if allowed {
		r.tokens.Sub(r.tokens, want)
	} else if want.Cmp(r.m) <= 0 {
		wait = new(big.Rat).Sub(want, r.tokens)
		wait.Mul(wait, r.p).Quo(wait, r.m)
	}
	whole := new(big.Int).Quo(r.tokens.Num(), r.tokens.Denom())
	full := new(big.Rat).Sub(r.m, r.tokens)
	full.Mul(full, r.p).Quo(full, r.m)
	return allowed, wait, whole.Int64(), full
}

// ceilRat rounds a non-negative rational up to a Duration.
func ceilRat(r *big.Rat) time.Duration {
	q, m := new(big.Int).QuoRem(r.Num(), r.Denom(), new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return time.Duration(q.Int64())
}

// checkAgainstReference runs takes (time offsets and token counts) on the
// GCRA arithmetic and the reference and fails on any difference; it also
// checks that no window [t_i, t_j] admitted more than the capacity plus
// the refill of the window.
func checkAgainstReference(t *testing.T, l Limit, at, tokens []int64) {
	t.Helper()
	ref := newReference(l, t0)
	var s State
	admitted := make([]int64, len(at))
	for i := range at {
		now := t0 + at[i]
		out, err := l.Take(s, now, tokens[i])
		if err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
		allowed, wait, remaining, full := ref.take(now, tokens[i])
		if out.Allowed != allowed {
			t.Fatalf("%+v take %d (%d tokens at +%d): allowed=%v, reference %v", l, i, tokens[i], at[i], out.Allowed, allowed)
		}
		if out.Remaining != remaining {
			t.Fatalf("%+v take %d: remaining %d, reference %d", l, i, out.Remaining, remaining)
		}
		if out.ResetAfter != ceilRat(full) {
			t.Fatalf("%+v take %d: resetAfter %d, reference %v", l, i, out.ResetAfter, full)
		}
		if wait != nil && out.Wait != ceilRat(wait) {
			t.Fatalf("%+v take %d: wait %d, reference %v", l, i, out.Wait, wait)
		}
		if out.OverCapacity != (tokens[i] > l.MaxTokens) {
			t.Fatalf("take %d: overCapacity %v", i, out.OverCapacity)
		}
		if out.Allowed {
			admitted[i] = tokens[i]
		}
		s = out.Next
	}
	// Window bound: admitted in [t_i, t_j] <= m + (t_j - t_i) * m / p.
	for i := range at {
		sum := new(big.Int)
		for j := i; j < len(at); j++ {
			sum.Add(sum, big.NewInt(admitted[j]))
			bound := new(big.Int).Mul(big.NewInt(at[j]-at[i]), big.NewInt(l.MaxTokens))
			bound.Quo(bound, big.NewInt(int64(l.RefillPeriod)))
			bound.Add(bound, big.NewInt(l.MaxTokens))
			if sum.Cmp(bound) > 0 {
				t.Fatalf("%+v: window [%d, %d] admitted %v > %v", l, i, j, sum, bound)
			}
		}
	}
}

func TestTakeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	limits := []Limit{
		{1, time.Second}, {3, time.Second}, {7, time.Minute}, {10, 3 * time.Nanosecond},
		{1000, time.Second}, {999983, 7 * time.Hour}, {math.MaxInt64, time.Second},
		{math.MaxInt64 / 3, MaxRefillPeriod}, {13, MaxRefillPeriod},
	}
	for _, l := range limits {
		for range 20 {
			n := 50 + rng.IntN(100)
			at, tokens := make([]int64, n), make([]int64, n)
			var now int64
			period := int64(l.RefillPeriod)
			latest := math.MaxInt64 - period - t0
			for i := range n {
				var dt int64
				switch rng.IntN(4) {
				case 0: // same instant
				case 1:
					dt = rng.Int64N(period/l.MaxTokens + 2)
				case 2:
					dt = rng.Int64N(period + 1)
				case 3:
					dt = rng.Int64N(10)
				}
				if now <= latest-dt {
					now += dt
				}
				at[i] = now
				switch rng.IntN(3) {
				case 0:
					tokens[i] = 1
				case 1:
					tokens[i] = rng.Int64N(l.MaxTokens) + 1
				case 2:
					tokens[i] = rng.Int64N(min(l.MaxTokens, math.MaxInt64-2) + 2)
				}
			}
			checkAgainstReference(t, l, at, tokens)
		}
	}
}

// FuzzTake compares the arithmetic with the rational reference on
// arbitrary limits and take sequences.
func FuzzTake(f *testing.F) {
	f.Add(int64(7), int64(time.Minute), []byte{0, 1, 0, 1, 0, 1, 9, 1, 200, 3})
	f.Add(int64(1), int64(1), []byte{0, 1, 1, 1, 0, 2})
	f.Add(int64(math.MaxInt64), int64(time.Second), []byte{0, 255, 1, 255, 1, 1})
	f.Fuzz(func(t *testing.T, maxTokens, period int64, script []byte) {
		l := Limit{MaxTokens: maxTokens, RefillPeriod: time.Duration(period)}
		if l.Validate() != nil || len(script) > 400 {
			return
		}
		var at, tokens []int64
		var now int64
		for i := 0; i+1 < len(script); i += 2 {
			// A step of up to 255/64 refill periods, and up to 255 tokens
			// scaled to the capacity (so that large buckets are exercised).
			dt := new(big.Int).Mul(big.NewInt(int64(script[i])), big.NewInt(period))
			dt.Quo(dt, big.NewInt(64))
			now += dt.Int64()
			if now > math.MaxInt64/2-t0 {
				return
			}
			n := new(big.Int).Mul(big.NewInt(int64(script[i+1])), big.NewInt(maxTokens))
			n.Quo(n, big.NewInt(200))
			at = append(at, now)
			tokens = append(tokens, max(n.Int64(), int64(script[i+1]&1)))
		}
		checkAgainstReference(t, l, at, tokens)
	})
}
