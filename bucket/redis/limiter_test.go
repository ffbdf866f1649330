package redis

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// fakeTransport answers each Post from a script of replies, at once.
type fakeTransport struct {
	replies []fakeReply
	bodies  []string
	clock   *fakeClock
}

type fakeReply struct {
	status  int
	body    string
	err     error
	refuse  error         // Post itself fails
	elapsed time.Duration // the clock advances this much before the reply
}

func (f *fakeTransport) Post(body []byte, timeout time.Duration, done func(int, []byte, error)) error {
	f.bodies = append(f.bodies, string(body))
	if len(f.replies) == 0 {
		return errors.New("no reply scripted")
	}
	r := f.replies[0]
	f.replies = f.replies[1:]
	if r.refuse != nil {
		return r.refuse
	}
	f.clock.now = f.clock.now.Add(r.elapsed)
	done(r.status, []byte(r.body), r.err)
	return nil
}

type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

// recorder is an Observer that records events.
type recorder struct {
	decided, fellBack, leaseFailed, local int
	failed                                []ErrorKind
	latencies                             int
}

func (r *recorder) Decided()                       { r.decided++ }
func (r *recorder) FellBack()                      { r.fellBack++ }
func (r *recorder) LeaseFailed(string, error)      { r.leaseFailed++ }
func (r *recorder) Failed(kind ErrorKind, _ error) { r.failed = append(r.failed, kind) }
func (r *recorder) Latency(time.Duration)          { r.latencies++ }
func (r *recorder) RejectedLocally()               { r.local++ }

// fixedLimiter is a fallback that always answers the same.
type fixedLimiter struct {
	decision bucket.Decision
	calls    int
}

func (f *fixedLimiter) Take(_ time.Time, _ []bucket.Demand, done bucket.Decider) {
	f.calls++
	done.Decided(f.decision, nil)
}

var oneShared = []bucket.Demand{{Bucket: bucket.Bucket{Kind: bucket.KindShared,
	Limit: bucket.Limit{MaxTokens: 5, RefillPeriod: time.Minute}}, Tokens: 1}}

// okReply is the script's answer admitting one bucket with no debt.
const okEval, okEvalSHA = `{"EVAL":[1,0,0,0]}`, `{"EVALSHA":[1,0,0,0]}`

func newTestLimiter(t *testing.T, mode FailureMode, replies ...fakeReply) (*Limiter, *fakeTransport, *recorder, *fixedLimiter, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	tr := &fakeTransport{replies: replies, clock: clock}
	rec := &recorder{}
	fallback := &fixedLimiter{decision: bucket.Decision{Allowed: false, RetryAfter: 7 * time.Second}}
	l, err := NewLimiter(Options{Transport: tr, Namespace: "ns", KeyPrefix: "p", Timeout: 50 * time.Millisecond,
		FailureMode: mode, Fallback: fallback, Clock: clock.Now, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	return l, tr, rec, fallback, clock
}

// take runs one Take and returns what done got; it fails the test when
// done is not called exactly once.
func take(t *testing.T, l *Limiter, now time.Time) (bucket.Decision, error) {
	t.Helper()
	calls := 0
	var d bucket.Decision
	var err error
	l.Take(now, oneShared, bucket.DecisionFunc(func(got bucket.Decision, e error) { calls++; d, err = got, e }))
	if calls != 1 {
		t.Fatalf("done called %d times, want 1", calls)
	}
	return d, err
}

func TestLimiterLoadsTheScriptOnceThenCallsBySHA(t *testing.T) {
	l, tr, rec, _, clock := newTestLimiter(t, FailLocal,
		fakeReply{status: 200, body: okEval},
		fakeReply{status: 200, body: okEvalSHA},
		fakeReply{status: 200, body: `{"EVALSHA":[false,"NOSCRIPT No matching script. Please use EVAL."]}`},
		fakeReply{status: 200, body: okEval},
		fakeReply{status: 200, body: okEvalSHA},
	)
	for i := range 4 {
		d, err := take(t, l, clock.now)
		if err != nil || !d.Allowed {
			t.Fatalf("take %d: %+v, %v", i, d, err)
		}
	}
	var verbs []string
	for _, b := range tr.bodies {
		verbs = append(verbs, b[:strings.IndexByte(b, '/')])
	}
	if got := strings.Join(verbs, " "); got != "EVAL EVALSHA EVALSHA EVAL EVALSHA" {
		t.Errorf("commands %s; want the script sent once, then by SHA, and again after NOSCRIPT", got)
	}
	if !strings.HasPrefix(tr.bodies[1], "EVALSHA/"+ScriptSHA1+"/1/p%7Bns%7D%2Fshared%2F5%2F60000000000/decide/0/0/30000/-/60000/1000/5/12/0/0/60/0") {
		t.Errorf("EVALSHA body %s", tr.bodies[1])
	}
	if rec.decided != 4 || len(rec.failed) != 0 || rec.fellBack != 0 {
		t.Errorf("observer %+v", rec)
	}
}

func TestLimiterFailureModes(t *testing.T) {
	failures := []struct {
		name  string
		reply fakeReply
		kind  ErrorKind
	}{
		{"timeout", fakeReply{err: errors.New("reset"), elapsed: 50 * time.Millisecond}, ErrorTimeout},
		{"reset", fakeReply{err: errors.New("reset"), elapsed: time.Millisecond}, ErrorUnreachable},
		{"refused", fakeReply{refuse: errors.New("bad cluster")}, ErrorUnreachable},
		{"webdis 503", fakeReply{status: 503, body: "Service Unavailable"}, ErrorStatus},
		{"webdis 403", fakeReply{status: 403}, ErrorStatus},
		{"garbage", fakeReply{status: 200, body: `<html>`}, ErrorReply},
		{"wrong command", fakeReply{status: 200, body: `{"GET":[1,0,0,0]}`}, ErrorReply},
		{"too few values", fakeReply{status: 200, body: `{"EVAL":[1,0,0]}`}, ErrorReply},
		{"a string", fakeReply{status: 200, body: `{"EVAL":[1,"0",0,0]}`}, ErrorReply},
		{"fraction out of range", fakeReply{status: 200, body: `{"EVAL":[1,0,0,5]}`}, ErrorReply},
		{"nanoseconds out of range", fakeReply{status: 200, body: `{"EVAL":[1,0,1000000000,0]}`}, ErrorReply},
		{"admitted beyond capacity", fakeReply{status: 200, body: `{"EVAL":[1,60,0,0]}`}, ErrorReply},
		{"script error", fakeReply{status: 200, body: `{"EVAL":[false,"ERR user_script:1: boom"]}`}, ErrorScript},
		{"NOSCRIPT to EVAL", fakeReply{status: 200, body: `{"EVAL":[false,"NOSCRIPT"]}`}, ErrorScript},
	}
	for _, f := range failures {
		for _, mode := range []FailureMode{FailLocal, FailOpen, FailClosed} {
			t.Run(f.name+"/"+mode.String(), func(t *testing.T) {
				l, _, rec, fallback, clock := newTestLimiter(t, mode, f.reply)
				d, err := take(t, l, clock.now)
				switch mode {
				case FailLocal:
					if err != nil || d.Allowed || d.RetryAfter != 7*time.Second || fallback.calls != 1 {
						t.Errorf("got %+v, %v; want the fallback's decision", d, err)
					}
				case FailOpen:
					if err != nil || !d.Allowed || fallback.calls != 0 {
						t.Errorf("got %+v, %v; want admitted", d, err)
					}
				case FailClosed:
					if !errors.Is(err, bucket.ErrStoreUnavailable) || fallback.calls != 0 {
						t.Errorf("got %+v, %v; want ErrStoreUnavailable", d, err)
					}
				}
				if fmt.Sprint(rec.failed) != fmt.Sprint([]ErrorKind{f.kind}) || rec.fellBack != 1 || rec.decided != 0 {
					t.Errorf("observer %+v, want one %s failure and one fallback", rec, f.kind)
				}
			})
		}
	}
}

func TestLimiterBreaker(t *testing.T) {
	fail := fakeReply{status: 503}
	l, tr, rec, _, clock := newTestLimiter(t, FailOpen, fail, fail, fail, fail,
		fakeReply{status: 200, body: okEval}, fakeReply{status: 200, body: okEvalSHA})
	for range 3 {
		take(t, l, clock.now)
	}
	if len(tr.bodies) != 3 {
		t.Fatalf("%d calls, want 3", len(tr.bodies))
	}
	// Open: no call for the backoff.
	take(t, l, clock.now.Add(DefaultBackoff-time.Millisecond))
	if len(tr.bodies) != 3 || rec.fellBack != 4 {
		t.Fatalf("%d calls, %d fallbacks while open; want 3, 4", len(tr.bodies), rec.fellBack)
	}
	// The probe fails: the pause doubles.
	clock.now = clock.now.Add(DefaultBackoff)
	take(t, l, clock.now)
	if len(tr.bodies) != 4 {
		t.Fatalf("no probe after the backoff")
	}
	take(t, l, clock.now.Add(2*DefaultBackoff-time.Millisecond))
	if len(tr.bodies) != 4 {
		t.Fatalf("called during the doubled backoff")
	}
	// The next probe succeeds: calls resume.
	clock.now = clock.now.Add(2 * DefaultBackoff)
	if d, err := take(t, l, clock.now); err != nil || !d.Allowed || rec.decided != 1 {
		t.Fatalf("probe: %+v, %v, decided %d", d, err, rec.decided)
	}
	take(t, l, clock.now)
	if len(tr.bodies) != 6 || rec.decided != 2 {
		t.Errorf("%d calls, %d decisions after recovery; want 6, 2", len(tr.bodies), rec.decided)
	}
}

// TestLimiterLostProbe: a probe whose reply never comes (the host drops a
// callout whose stream went away) does not keep Redis paused for ever.
func TestLimiterLostProbe(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	calls := 0
	var lost bool
	tr := transportFunc(func(body []byte, timeout time.Duration, done func(int, []byte, error)) error {
		calls++
		if lost {
			return nil // never answered
		}
		done(503, nil, nil)
		return nil
	})
	l, err := NewLimiter(Options{Transport: tr, Timeout: 50 * time.Millisecond, FailureMode: FailOpen, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		take(t, l, clock.now)
	}
	lost = true
	clock.now = clock.now.Add(DefaultBackoff)
	l.Take(clock.now, oneShared, bucket.DecisionFunc(func(bucket.Decision, error) {}))
	if calls != 4 {
		t.Fatalf("%d calls, want the probe", calls)
	}
	take(t, l, clock.now.Add(time.Second))
	if calls != 4 {
		t.Fatalf("a second probe while the first may still answer")
	}
	l.Take(clock.now.Add(2*time.Second), oneShared, bucket.DecisionFunc(func(bucket.Decision, error) {}))
	if calls != 5 {
		t.Errorf("%d calls: the lost probe blocks Redis for ever", calls)
	}
}

type transportFunc func(body []byte, timeout time.Duration, done func(int, []byte, error)) error

func (f transportFunc) Post(body []byte, timeout time.Duration, done func(int, []byte, error)) error {
	return f(body, timeout, done)
}

func TestLimiterRefusesInvalidDemandsWithoutCalling(t *testing.T) {
	l, tr, _, _, clock := newTestLimiter(t, FailOpen)
	var got error
	l.Take(clock.now, []bucket.Demand{{Bucket: bucket.Bucket{Kind: bucket.KindUser, Limit: oneShared[0].Bucket.Limit}, Tokens: 1}},
		bucket.DecisionFunc(func(_ bucket.Decision, err error) { got = err }))
	if got == nil || len(tr.bodies) != 0 {
		t.Errorf("err %v, %d calls; want an error and no call", got, len(tr.bodies))
	}
	l.Take(clock.now, nil, bucket.DecisionFunc(func(d bucket.Decision, err error) {
		if !d.Allowed || err != nil {
			t.Errorf("no demand: %+v, %v", d, err)
		}
	}))
}

func TestNewLimiterErrors(t *testing.T) {
	tr := transportFunc(func([]byte, time.Duration, func(int, []byte, error)) error { return nil })
	good := Options{Transport: tr, Timeout: time.Second, Clock: time.Now, FailureMode: FailOpen}
	tests := []func(o *Options){
		func(o *Options) { o.Transport = nil },
		func(o *Options) { o.Clock = nil },
		func(o *Options) { o.Timeout = 0 },
		func(o *Options) { o.FailureMode = 9 },
		func(o *Options) { o.FailureMode = FailLocal },
		func(o *Options) { o.Backoff = -1 },
		func(o *Options) { o.RejectLocallyFor = -time.Second },
	}
	if _, err := NewLimiter(good); err != nil {
		t.Fatal(err)
	}
	for i, change := range tests {
		o := good
		change(&o)
		if _, err := NewLimiter(o); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
}

// heldTransport holds each Post's callback until the test answers it.
type heldTransport struct{ held []func(int, []byte, error) }

func (h *heldTransport) Post(_ []byte, _ time.Duration, done func(int, []byte, error)) error {
	h.held = append(h.held, done)
	return nil
}

// Takes in flight at once are each decided on their own plan, whatever
// order their replies come in, and a take decided gives its memory to the
// next without keeping the caller's.
func TestTakesInFlightAtOnce(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	tr := &heldTransport{}
	l, err := NewLimiter(Options{Transport: tr, Namespace: "ns", Timeout: time.Second, FailureMode: FailOpen, Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l.loaded = true // EVALSHA
	shared := bucket.Bucket{Kind: bucket.KindShared, Limit: bucket.Limit{MaxTokens: 5, RefillPeriod: time.Minute}}
	tool := bucket.Bucket{Kind: bucket.KindTool, Tool: "search", Limit: bucket.Limit{MaxTokens: 9, RefillPeriod: time.Minute}}
	takes := []struct {
		demands   []bucket.Demand
		bucket    bucket.Bucket
		remaining int64
	}{
		{[]bucket.Demand{{Bucket: shared, Tokens: 1}}, shared, 4},
		{[]bucket.Demand{{Bucket: tool, Tokens: 2}}, tool, 7},
		{[]bucket.Demand{{Bucket: shared, Tokens: 3}}, shared, 2},
	}
	decisions := make([][]bucket.Decision, len(takes))
	for round := range 2 {
		for i, tt := range takes {
			l.Take(clock.now, tt.demands, bucket.DecisionFunc(func(d bucket.Decision, err error) {
				if err != nil {
					t.Fatalf("round %d, take %d: %v", round, i, err)
				}
				decisions[i] = append(decisions[i], d)
			}))
		}
		if len(tr.held) != len(takes) {
			t.Fatalf("round %d: %d calls in flight, want %d", round, len(tr.held), len(takes))
		}
		for i := len(tr.held) - 1; i >= 0; i-- { // the last sent answered first
			tr.held[i](200, []byte(okEvalSHA), nil)
		}
		tr.held = nil
		for i, tt := range takes {
			if n := len(decisions[i]); n != round+1 {
				t.Fatalf("round %d, take %d: decided %d times", round, i, n)
			}
			d := decisions[i][round]
			if !d.Allowed || d.Tightest.Bucket != tt.bucket || d.Tightest.Remaining != tt.remaining {
				t.Errorf("round %d, take %d: %+v; want admitted on %+v with %d left", round, i, d, tt.bucket, tt.remaining)
			}
		}
		kept := 0
		for c := l.idle; c != nil; c = c.next {
			kept++
			if c.demands != nil || c.done != nil {
				t.Errorf("round %d: a decided take's memory keeps the caller's demands or decider", round)
			}
		}
		if kept != len(takes) {
			t.Errorf("round %d: %d takes' memory kept, want %d", round, kept, len(takes))
		}
	}
}
