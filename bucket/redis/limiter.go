// Package redis keeps the token buckets, calendar quotas and concurrency
// caps of package bucket in Redis, so that every proxy of a fleet draws
// from the same ones: one script run per decision checks every quota, cap
// and bucket of a request and writes them all only if all admit, at
// Redis's clock, with exactly the arithmetic and the decisions of the
// shared-data limiter (bucket.PlanRemote and bucket.DecideRemote for the
// buckets). Redis is reached through a Transport (in the filter: an HTTP
// callout to webdis), so the package is plain Go.
//
// Files: limiter.go is the Limiter and what it does when Redis fails;
// breaker.go stops calling a failing Redis for a while; rejections.go
// repeats Redis's rejections of a take while they hold; keys.go names the
// keys; plan.go plans a decision and reads its reply; lease.go releases
// and renews concurrency leases; take.lua and script.go are the script;
// webdis.go and resp.go encode a script run and read its reply.
package redis

import (
	"errors"
	"fmt"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// Transport carries one command to Redis. Post sends body (a webdis
// command, see webdis.go, or a RESP command, see resp.go, as
// Options.Protocol says) with a timeout and calls done once with the
// reply: webdis's HTTP status and body, or the RESP reply (status
// ignored); or with an error when no reply came (refused, reset, timed
// out), before returning or later. An error from Post means nothing was
// sent and done will not be called. Post copies body if it needs it
// later: the limiter reuses that memory for its next command once Post
// returned or called done (proxy_http_call copies it too). In turn done
// keeps nothing of the reply's body, whose memory the transport may reuse
// once done returns.
type Transport interface {
	Post(body []byte, timeout time.Duration, done func(status int, body []byte, err error)) error
}

// FailureMode says how a take is decided when Redis cannot decide it.
type FailureMode uint8

const (
	// FailLocal decides with the fallback limiter (the proxy's own
	// shared-data buckets, same limits).
	FailLocal FailureMode = iota
	// FailOpen admits the request.
	FailOpen
	// FailClosed refuses it: the take ends with bucket.ErrStoreUnavailable.
	FailClosed
)

// String names the mode as the configuration does.
func (m FailureMode) String() string {
	switch m {
	case FailLocal:
		return "local"
	case FailOpen:
		return "open"
	case FailClosed:
		return "closed"
	}
	return fmt.Sprintf("mode%d", uint8(m))
}

// ErrorKind classifies a failed call to Redis, for metrics.
type ErrorKind uint8

const (
	// ErrorTimeout: no reply within the timeout.
	ErrorTimeout ErrorKind = iota
	// ErrorUnreachable: the call could not be sent or was reset.
	ErrorUnreachable
	// ErrorStatus: webdis answered with a status other than 200 (503 when
	// it cannot reach Redis, 403 when its ACL refuses the command).
	ErrorStatus
	// ErrorReply: the reply is not what the script returns.
	ErrorReply
	// ErrorScript: Redis answered with an error.
	ErrorScript
	// NumErrorKinds is the number of kinds.
	NumErrorKinds
)

// String names the kind as in metric names.
func (k ErrorKind) String() string {
	switch k {
	case ErrorTimeout:
		return "timeout"
	case ErrorUnreachable:
		return "unreachable"
	case ErrorStatus:
		return "status"
	case ErrorReply:
		return "reply"
	case ErrorScript:
		return "script"
	}
	return fmt.Sprintf("kind%d", uint8(k))
}

// Observer is told what the limiter does, for metrics. Every method is
// called on the goroutine that runs Take or the transport's done.
type Observer interface {
	// Decided: Redis decided a take.
	Decided()
	// Failed: a call to Redis failed.
	Failed(kind ErrorKind, err error)
	// FellBack: the failure mode decided a take (after a failure, or while
	// the breaker keeps calls away from Redis).
	FellBack()
	// Latency: the time from sending a command to its reply or failure.
	Latency(d time.Duration)
	// LeaseFailed: a release or renewal of concurrency leases (op
	// "release" or "renew") failed; the leases expire by their TTL.
	LeaseFailed(op string, err error)
	// RejectedLocally: the record of Redis's rejections rejected a take
	// again without a call to Redis (see rejections.go).
	RejectedLocally()
}

// Defaults of Options.
const (
	DefaultFailureThreshold = 3
	DefaultBackoff          = time.Second
	DefaultMaxBackoff       = 30 * time.Second
)

// Options configures a Limiter.
type Options struct {
	// Transport reaches Redis. Required.
	Transport Transport
	// Protocol is what Transport carries (default ProtocolWebdis).
	Protocol Protocol
	// Namespace is the plugin's namespace (its root id); KeyPrefix starts
	// every key (see keys.go).
	Namespace, KeyPrefix string
	// Timeout bounds a take's calls to Redis altogether. Required.
	Timeout time.Duration
	// FailureMode decides takes Redis cannot decide.
	FailureMode FailureMode
	// Fallback decides them with FailLocal. Required then.
	Fallback bucket.Limiter
	// LeaseTTL is how long a concurrency lease lives unless renewed
	// (default bucket.DefaultLeaseTTL).
	LeaseTTL time.Duration
	// Clock reads the time (for timeouts, the breaker and latency).
	// Required.
	Clock func() time.Time
	// Observer receives events; nil ignores them.
	Observer Observer
	// RejectLocallyFor is how long a limiter repeats Redis's rejection of
	// a take, without a call to Redis, while the rejection holds (see
	// rejections.go). 0 calls Redis for every take.
	RejectLocallyFor time.Duration
	// FailureThreshold consecutive failures stop calls to Redis for
	// Backoff; each failed probe after that doubles the pause, up to
	// MaxBackoff (defaults: DefaultFailureThreshold, DefaultBackoff,
	// DefaultMaxBackoff).
	FailureThreshold int
	Backoff          time.Duration
	MaxBackoff       time.Duration
}

// Limiter is a bucket.Limiter whose buckets live in Redis. It is meant for
// the single thread of a Wasm VM: it is not safe for concurrent use.
type Limiter struct {
	opts    Options
	keys    keys
	breaker breaker
	// loaded is true once Redis answered a take: EVALSHA then names the
	// script, and only a NOSCRIPT reply sends it again with EVAL.
	loaded bool
	// released are the lease members waiting for Flush.
	released leaseQueue
	// enc holds the body of the last take sent, values the integers of
	// the last reply: both are reused.
	enc    encoder
	values []int64
	// idle are decided takes' memory, for the next takes (see call).
	idle *call
	// rejected records the takes Redis rejected.
	rejected rejections
}

// maxKeptValues bounds the reply integers a Limiter keeps for reuse.
const maxKeptValues = 64

var (
	_ bucket.Limiter     = (*Limiter)(nil)
	_ bucket.LeaseKeeper = (*Limiter)(nil)
)

// NewLimiter checks opts and applies the defaults.
func NewLimiter(opts Options) (*Limiter, error) {
	switch {
	case opts.Transport == nil:
		return nil, errors.New("redis: no transport")
	case opts.Clock == nil:
		return nil, errors.New("redis: no clock")
	case opts.Timeout <= 0:
		return nil, fmt.Errorf("redis: timeout must be > 0, got %v", opts.Timeout)
	case opts.Protocol > ProtocolRESP:
		return nil, fmt.Errorf("redis: unknown protocol %d", opts.Protocol)
	case opts.FailureMode > FailClosed:
		return nil, fmt.Errorf("redis: unknown failure mode %d", opts.FailureMode)
	case opts.FailureMode == FailLocal && opts.Fallback == nil:
		return nil, errors.New("redis: failure mode local without a fallback limiter")
	case opts.FailureThreshold < 0 || opts.Backoff < 0 || opts.MaxBackoff < 0:
		return nil, errors.New("redis: negative breaker option")
	case opts.RejectLocallyFor < 0:
		return nil, fmt.Errorf("redis: RejectLocallyFor must be >= 0, got %v", opts.RejectLocallyFor)
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = bucket.DefaultLeaseTTL
	}
	if opts.FailureThreshold == 0 {
		opts.FailureThreshold = DefaultFailureThreshold
	}
	if opts.Backoff == 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	opts.MaxBackoff = max(opts.MaxBackoff, opts.Backoff)
	l := &Limiter{opts: opts, keys: newKeys(opts.KeyPrefix, opts.Namespace), enc: encoder{proto: opts.Protocol},
		rejected: rejections{ttl: opts.RejectLocallyFor}}
	l.breaker = breaker{threshold: opts.FailureThreshold, base: opts.Backoff, max: opts.MaxBackoff,
		backoff: opts.Backoff, probeTimeout: opts.Timeout + time.Second}
	return l, nil
}

// Take implements bucket.Limiter: one call to Redis decides every demand
// (quotas, caps and buckets, all or nothing), and done is called when its
// reply (or the failure mode) decides. A take that Redis rejected and
// whose rejection still holds is rejected again at once, without a call.
// An invalid demand ends with an error and nothing is sent.
func (l *Limiter) Take(now time.Time, demands []bucket.Demand, done bucket.Decider) {
	c := l.idle
	if c != nil {
		l.idle = c.next
	} else {
		c = &call{l: l}
		c.onReply = c.receive
	}
	c.demands, c.done, c.now, c.next, c.encoded = demands, done, now, nil, false
	if err := planTake(&c.plan, now, demands); err != nil {
		done.Decided(bucket.Decision{}, err)
		l.keep(c)
		return
	}
	if c.plan.empty() {
		done.Decided(bucket.Decision{Allowed: true}, nil)
		l.keep(c)
		return
	}
	// The quotas' windows follow the caller's clock (now); the timeout
	// and the record of rejections run on the limiter's.
	start := l.opts.Clock()
	if c.recordable() && len(l.rejected.takes) > 0 {
		// The EVALSHA command, which send then need not write again.
		l.encode(c, false)
		c.encoded = true
		if d, ok := l.rejected.find(l.enc.buf, start); ok {
			if o := l.opts.Observer; o != nil {
				o.RejectedLocally()
			}
			done.Decided(d, nil)
			l.keep(c)
			return
		}
	}
	probe, ok := l.breaker.allow(now)
	if !ok {
		l.failover(demands, done, errors.New("redis: calls paused after repeated failures"))
		l.keep(c)
		return
	}
	c.start, c.probe = start, probe
	c.send(!l.loaded, c.start)
}

// call is one take in flight. Its memory, with the callback the transport
// gets, made once, is kept for the next take once the take is decided
// (Limiter.keep): a callback per take would be an allocation, and in a
// Wasm VM every allocation brings the next garbage collection, a pause of
// the worker's requests, nearer.
type call struct {
	l       *Limiter
	plan    takePlan
	demands []bucket.Demand
	done    bucket.Decider
	now     time.Time // the caller's clock
	start   time.Time // the limiter's clock at the take
	probe   bool
	// encoded is true while the limiter's encoder holds the take's
	// EVALSHA command.
	encoded bool
	// The command in flight: EVAL or EVALSHA, sent at sent (the
	// limiter's clock) with timeout.
	eval    bool
	sent    time.Time
	timeout time.Duration
	// onReply is receive, the transport's callback.
	onReply func(status int, reply []byte, err error)
	next    *call // in Limiter.idle
}

// keep keeps a decided take's memory for the next take, dropping what
// refers to the caller's.
func (l *Limiter) keep(c *call) {
	c.demands, c.done = nil, nil
	c.next, l.idle = l.idle, c
}

// send posts the take, as EVAL (the whole script) or EVALSHA, at sent
// (the limiter's clock), within what remains of the timeout.
func (c *call) send(eval bool, sent time.Time) {
	l := c.l
	remaining := l.opts.Timeout - sent.Sub(c.start)
	if remaining < time.Millisecond {
		c.fail(ErrorTimeout, errors.New("redis: timeout spent before the call"))
		return
	}
	if eval || !c.encoded {
		l.encode(c, eval)
	}
	c.encoded = false
	c.eval, c.sent, c.timeout = eval, sent, remaining
	if err := l.opts.Transport.Post(l.enc.buf, remaining, c.onReply); err != nil {
		c.fail(ErrorUnreachable, fmt.Errorf("redis: send: %w", err))
	}
}

// encode writes the command of c's take, EVAL or EVALSHA, into the
// limiter's encoder.
func (l *Limiter) encode(c *call, eval bool) {
	l.enc.reset()
	writeDecide(&l.enc, eval, l.keys, &c.plan, l.opts.LeaseTTL)
}

// recordable reports whether Redis's rejection of c's take may be
// repeated: the record is on and the take holds no concurrency cap.
func (c *call) recordable() bool { return c.l.rejected.ttl > 0 && len(c.plan.caps) == 0 }

// receive handles the reply to send.
func (c *call) receive(status int, reply []byte, err error) {
	l := c.l
	latency := l.opts.Clock().Sub(c.sent)
	if o := l.opts.Observer; o != nil {
		o.Latency(latency)
	}
	if err != nil {
		kind := ErrorUnreachable
		if latency >= c.timeout-time.Millisecond {
			kind = ErrorTimeout
		}
		c.fail(kind, fmt.Errorf("redis: no reply after %v: %w", latency, err))
		return
	}
	values, err := parseReply(l.values[:0], l.opts.Protocol, status, reply, c.eval)
	if len(values) <= maxKeptValues {
		l.values = values[:0]
	}
	if errors.Is(err, errNoScript) && !c.eval {
		l.loaded = false
		c.send(true, l.opts.Clock())
		return
	}
	if kind, failed := classify(err); failed {
		c.fail(kind, err)
		return
	}
	decision, err := decision(c.now, l.keys, &c.plan, values)
	if err != nil {
		c.fail(ErrorReply, err)
		return
	}
	l.loaded = true
	l.breaker.success()
	if !decision.Allowed && decision.RetryAfter > 0 && c.recordable() {
		l.encode(c, false)
		l.rejected.add(l.enc.buf, c.sent, decision)
	}
	if o := l.opts.Observer; o != nil {
		o.Decided()
	}
	c.done.Decided(decision, nil)
	l.keep(c)
}

// classify returns the kind of a reply error, and false for nil.
func classify(err error) (ErrorKind, bool) {
	switch {
	case err == nil:
		return 0, false
	case errors.Is(err, errStatus):
		return ErrorStatus, true
	case errors.Is(err, errScript), errors.Is(err, errNoScript):
		return ErrorScript, true
	}
	return ErrorReply, true
}

// fail records a failed call and lets the failure mode decide.
func (c *call) fail(kind ErrorKind, err error) {
	l := c.l
	if o := l.opts.Observer; o != nil {
		o.Failed(kind, err)
	}
	l.breaker.failure(l.opts.Clock(), c.probe)
	l.failover(c.demands, c.done, err)
	l.keep(c)
}

// failover decides a take Redis did not decide, by the failure mode.
func (l *Limiter) failover(demands []bucket.Demand, done bucket.Decider, cause error) {
	if o := l.opts.Observer; o != nil {
		o.FellBack()
	}
	switch l.opts.FailureMode {
	case FailOpen:
		done.Decided(bucket.Decision{Allowed: true}, nil)
	case FailClosed:
		done.Decided(bucket.Decision{}, fmt.Errorf("%w: %v", bucket.ErrStoreUnavailable, cause))
	default:
		l.opts.Fallback.Take(l.opts.Clock(), demands, bucket.DecisionFunc(func(d bucket.Decision, err error) {
			// A lease taken locally is released and renewed locally.
			if d.Lease != nil && !d.Lease.Empty() {
				d.Lease = &Lease{local: d.Lease}
			}
			done.Decided(d, err)
		}))
	}
}
