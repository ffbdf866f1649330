// Package bucket implements the token buckets that limit MCP tools/call
// requests: the GCRA arithmetic, the all-or-nothing take across several
// buckets over a key-value Store with compare-and-swap (StoreLimiter), the
// names of their keys and the bounded per-user table.
//
// It is plain Go with no proxy-wasm SDK import, so all of it is tested
// directly; the filter package adapts Envoy shared data to Store. Files:
// bucket.go the types; gcra.go the arithmetic; limiter.go the StoreLimiter
// and its take loop, read.go, commit.go, create.go, salt.go and keycache.go
// its steps; quota.go the calendar quotas and inflight.go the concurrency
// caps, taken all or nothing with the buckets; remote.go the decision of a
// store that runs the take itself (Redis); table.go the per-user tables;
// keys.go and codec.go the key names and value encodings. README.md
// explains the design and its guarantees.
package bucket

import (
	"errors"
	"time"
)

// Limit is a token bucket's parameters: MaxTokens is the burst (the bucket
// starts full), refilled continuously at MaxTokens per RefillPeriod.
type Limit struct {
	MaxTokens    int64
	RefillPeriod time.Duration
}

// Kind says which of the four bucket families a bucket belongs to.
type Kind uint8

const (
	// KindShared is the server-wide bucket.
	KindShared Kind = iota
	// KindTool is the server-wide bucket of one tool.
	KindTool
	// KindUser is one user's bucket across all tools.
	KindUser
	// KindUserTool is one user's bucket for one tool.
	KindUserTool
	// KindMethod is the server-wide bucket of one JSON-RPC method other
	// than tools/call; KindUserMethod one user's bucket for it.
	KindMethod
	KindUserMethod
	// KindPrompt is the server-wide bucket of one prompt (prompts/get);
	// KindUserPrompt one user's bucket for it.
	KindPrompt
	KindUserPrompt
	// KindResource is the server-wide bucket of one resource URI
	// (resources/read); KindUserResource one user's bucket for it.
	KindResource
	KindUserResource

	// lastKind is the largest valid Kind.
	lastKind = KindUserResource
)

// A KindSet is a set of bucket kinds: the kinds that rejected a take,
// held without an allocation.
type KindSet uint16

// A KindSet has a bit for every kind: this fails to compile otherwise.
const _ uint = 15 - uint(lastKind)

// KindsOf returns the set of kinds.
func KindsOf(kinds ...Kind) KindSet {
	var s KindSet
	for _, k := range kinds {
		s = s.With(k)
	}
	return s
}

// With returns s with k added.
func (s KindSet) With(k Kind) KindSet { return s | 1<<k }

// Has reports whether k is in s.
func (s KindSet) Has(k Kind) bool { return k <= lastKind && s&(1<<k) != 0 }

// Kinds returns the kinds of s in increasing order.
func (s KindSet) Kinds() []Kind {
	var kinds []Kind
	for k := range lastKind + 1 {
		if s.Has(k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// Bucket names one bucket a call draws from.
type Bucket struct {
	Kind Kind
	// Tool names what a named kind limits: the tool (KindTool,
	// KindUserTool), the method (KindMethod, KindUserMethod), the prompt
	// (KindPrompt, KindUserPrompt) or the resource URI (KindResource,
	// KindUserResource).
	Tool  string
	User  string // the user identity, set for the per-user kinds
	Limit Limit
}

// Demand is the number of tokens a request needs from one bucket or,
// when Quota is set, the number of calls it counts against a calendar
// quota (see quota.go) of Bucket's Kind, Tool and User (Bucket.Limit is
// then unused).
//
// When MaxInFlight is set (> 0) the demand is instead for Tokens calls in
// flight under a concurrency cap of MaxInFlight (see inflight.go): the
// admitted take holds them until Decision.Lease is released.
type Demand struct {
	Bucket      Bucket
	Tokens      int64
	Quota       *Quota
	MaxInFlight int64
}

// CountsCalls reports whether d counts calls against a calendar quota or a
// concurrency cap rather than taking tokens from a bucket. A pointer
// receiver: a take asks it of every demand, and in a Wasm VM a value
// receiver's copy of the Demand is a call into the host even inlined.
func (d *Demand) CountsCalls() bool { return d.Quota != nil || d.MaxInFlight > 0 }

// AnyCountsCalls reports whether any of demands counts calls
// (CountsCalls): a take of token buckets alone needs no quota or cap
// machinery. By index: in a Wasm VM a Demand by value is a copy.
func AnyCountsCalls(demands []Demand) bool {
	for i := range demands {
		if demands[i].CountsCalls() {
			return true
		}
	}
	return false
}

// Status describes a bucket after a decision, for RateLimit headers.
type Status struct {
	Bucket     Bucket
	Remaining  int64         // whole tokens left after the take
	ResetAfter time.Duration // time until the bucket is full again
}

// Decision is the outcome of a Take.
type Decision struct {
	// Allowed is true when every demanded bucket had its tokens and they
	// were all taken. When false, no token was taken from any bucket.
	Allowed bool
	// RetryAfter is, when !Allowed, the time until every rejecting bucket
	// holds the tokens demanded of it again.
	RetryAfter time.Duration
	// Rejected holds the kinds of the buckets that rejected.
	Rejected KindSet
	// Tightest is the demanded bucket with the fewest remaining tokens
	// (after the take; ties go to the longer ResetAfter, then to the
	// earlier demand). When !Allowed it is the rejecting bucket with the
	// longest wait, the one whose wait is RetryAfter, with its Remaining
	// and ResetAfter as they are (nothing was taken).
	Tightest Status
	// Overflowed is true when a per-user demand was served by the
	// table's overflow bucket because the user table had no room.
	Overflowed bool
	// OverCapacity is true when a demand asked a bucket for more tokens
	// than its MaxTokens (a batch larger than the bucket): the request can
	// never be admitted, and RetryAfter is the time until that bucket is
	// full.
	OverCapacity bool
	// ConcurrencyExceeded is true when a concurrency cap rejected: as
	// many calls as it allows are in flight. RetryAfter is then 0 (nobody
	// can know when a call in flight ends) and no quota or bucket was
	// charged.
	ConcurrencyExceeded bool
	// Lease is what an admitted take holds in concurrency caps (nil when
	// none); the caller releases it (LeaseKeeper.Release) when the call
	// ends.
	Lease Lease
	// QuotaExceeded is true when a calendar quota rejected: RetryAfter is
	// then the time until the latest of the rejecting quotas resets, and
	// no bucket was asked.
	QuotaExceeded bool
	// Contended is true when the store stayed contended (every attempt
	// lost a compare-and-swap race) for Options.MaxAttempts attempts: the
	// request is then rejected with RetryAfter =
	// Options.ContendedRetryAfter, Rejected is empty, and nothing is
	// taken. Never admitting a call uncounted is the point of the limiter.
	Contended bool
}

// Limiter decides whether a request may take its tokens.
//
// Take calls done exactly once, either before it returns (a store in the
// same process, such as Envoy shared data) or later (a store behind a
// network round trip); the caller must handle both.
type Limiter interface {
	Take(now time.Time, demands []Demand, done Decider)
}

// Decider receives the decision of a take. An interface rather than a
// function: a caller can pass a pointer it already has (the filter, its
// stream), where a method value would be an allocation per take.
type Decider interface {
	Decided(d Decision, err error)
}

// DecisionFunc is a function that is a Decider.
type DecisionFunc func(Decision, error)

// Decided calls f.
func (f DecisionFunc) Decided(d Decision, err error) { f(d, err) }

// LeaseKeeper is implemented by limiters that enforce concurrency caps:
// the holder of an admitted take's Decision.Lease releases it when its
// call ends, and renews it while the call runs (more often than
// Options.LeaseTTL), else the cap frees the calls when the lease expires.
type LeaseKeeper interface {
	Release(lease Lease)
	Renew(now time.Time, lease Lease)
}

// Store is a key-value store with compare-and-swap, with the semantics of
// proxy-wasm shared data as implemented by proxy-wasm-cpp-host
// (src/shared_data.cc): Get returns the value and its CAS; Set with cas 0
// writes unconditionally; Set with a non-zero cas fails with
// ErrCASMismatch unless it equals the key's current CAS; Set on a key that
// does not exist succeeds whatever cas it is given; keys cannot be deleted.
// Set keeps no reference to value once it returns (the host copies it):
// the limiter reuses that memory. Get's value may likewise be memory the
// store reuses (the filter's shared-data store does, in a Wasm VM): it is
// valid until the caller's next call to the store, and the limiter copies
// what it keeps. Get keeps no reference to key once it returns: the keys
// of the slots a take scans are views of memory the limiter reuses.
type Store interface {
	Get(key string) (value []byte, cas uint32, err error)
	Set(key string, value []byte, cas uint32) error
}

// Errors a Store returns.
var (
	ErrNotFound    = errors.New("bucket: key not found")
	ErrCASMismatch = errors.New("bucket: cas mismatch")
)

// notFound reports whether err is ErrNotFound or wraps it. The error
// itself, which the shared-data store returns, is recognised without
// errors.Is: three calls in a Wasm VM, on every read of a missing key
// (every new user's slots).
func notFound(err error) bool {
	return err == ErrNotFound || err != nil && errors.Is(err, ErrNotFound)
}
