package redis

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/internal/random"
)

// This file plans one decision for the script (take.lua, decide): the
// calendar quotas and concurrency caps of a take beside its buckets, their
// keys and arguments, and the Decision derived from the script's reply.

// QuotaExpiryMarginMillis is added to a quota window's end to give its
// key's expiry, and to a lease's TTL to give its cap key's expiry: a
// proxy whose clock lags the others' by less still finds the count of
// the window it is in.
const QuotaExpiryMarginMillis = 60_000

// maxScriptNumber bounds every number the script returns: Lua numbers are
// doubles, exact below 2^53.
const maxScriptNumber = 1 << 53

// quotaReq is one calendar quota of a take, after merging.
type quotaReq struct {
	bucket     bucket.Bucket
	quota      bucket.Quota
	calls      int64
	start, end time.Time // the caller's window
}

// capReq is one concurrency cap of a take, after merging.
type capReq struct {
	bucket bucket.Bucket
	max    int64
	calls  int64
}

// takePlan is one decision: quotas, caps and buckets.
type takePlan struct {
	quotas  []quotaReq
	caps    []capReq
	buckets []bucket.RemoteBucket
	leaseID string // names this take's lease in every cap
	// bucketArray holds the buckets of a take of a few, in the plan's own
	// allocation: buckets may point into it, so a planned takePlan is
	// used through a pointer, never copied.
	bucketArray [4]bucket.RemoteBucket
}

func (p *takePlan) empty() bool { return len(p.quotas)+len(p.caps)+len(p.buckets) == 0 }

// planTake validates and merges demands taken at now (the caller's clock,
// which places the quotas' windows) into p.
func planTake(p *takePlan, now time.Time, demands []bucket.Demand) error {
	// p may hold an earlier take's plan (see call): its lists' memory is
	// reused.
	p.quotas, p.caps, p.leaseID = p.quotas[:0], p.caps[:0], ""
	rest, err := p.addQuotasAndCaps(now, demands)
	if err != nil {
		return err
	}
	if p.buckets, err = bucket.AppendPlanRemote(p.bucketArray[:0], rest); err != nil {
		return err
	}
	if len(p.caps) > 0 {
		p.leaseID = newLeaseID()
	}
	return nil
}

// addQuotasAndCaps validates and merges the quota and cap demands into p
// and returns the others, the buckets': demands itself when it holds no
// quota or cap, so that a take of buckets alone copies nothing.
func (p *takePlan) addQuotasAndCaps(now time.Time, demands []bucket.Demand) ([]bucket.Demand, error) {
	if !bucket.AnyCountsCalls(demands) {
		return demands, nil
	}
	var rest []bucket.Demand
	for i, d := range demands {
		if !d.CountsCalls() {
			rest = append(rest, d)
			continue
		}
		b := d.Bucket
		switch {
		case d.Tokens < 0:
			return nil, fmt.Errorf("redis: demand %d: %w: %d", i, bucket.ErrInvalidTokens, d.Tokens)
		case d.Tokens == 0:
			continue
		case d.Quota != nil && d.MaxInFlight > 0:
			return nil, fmt.Errorf("redis: demand %d is both a quota and a concurrency cap", i)
		case b.Kind.HasName() && b.Tool == "":
			return nil, fmt.Errorf("redis: demand %d: %s limit without a name", i, b.Kind)
		case b.Kind.PerUser() && b.User == "":
			return nil, fmt.Errorf("redis: demand %d: %s limit without a user", i, b.Kind)
		case d.Tokens >= 1<<31:
			return nil, fmt.Errorf("redis: demand %d: %d calls", i, d.Tokens)
		}
		// The limit of a quota or cap is not a bucket's: keep it out of
		// the merge key.
		b.Limit = bucket.Limit{}
		if d.Quota != nil {
			if err := d.Quota.Validate(); err != nil {
				return nil, fmt.Errorf("redis: demand %d: %w", i, err)
			}
			merged := false
			for j := range p.quotas {
				if q := &p.quotas[j]; q.bucket == b && q.quota == *d.Quota {
					q.calls = min(q.calls+d.Tokens, 1<<31)
					merged = true
				}
			}
			if !merged {
				start, end := d.Quota.Window(now)
				p.quotas = append(p.quotas, quotaReq{bucket: b, quota: *d.Quota, calls: d.Tokens, start: start, end: end})
			}
			continue
		}
		if d.MaxInFlight > bucket.MaxInFlightLimit {
			return nil, fmt.Errorf("redis: demand %d: cap %d above %d", i, d.MaxInFlight, bucket.MaxInFlightLimit)
		}
		merged := false
		for j := range p.caps {
			if c := &p.caps[j]; c.bucket == b && c.max == d.MaxInFlight {
				c.calls = min(c.calls+d.Tokens, 1<<31)
				merged = true
			}
		}
		if !merged {
			p.caps = append(p.caps, capReq{bucket: b, max: d.MaxInFlight, calls: d.Tokens})
		}
	}
	return rest, nil
}

// leaseIDs numbers the leases of this VM after a random prefix: unique
// across proxies and VMs without coordination.
var leaseIDs struct {
	prefix string
	next   uint64
}

func newLeaseID() string {
	if leaseIDs.prefix == "" {
		var b [8]byte
		if _, err := io.ReadFull(random.Reader, b[:]); err != nil {
			binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
		}
		leaseIDs.prefix = hex.EncodeToString(b[:])
	}
	leaseIDs.next++
	return leaseIDs.prefix + "." + strconv.FormatUint(leaseIDs.next, 36)
}

// member is a lease's member in a cap's sorted set.
func member(id string, calls int64) string { return id + ":" + strconv.FormatInt(calls, 10) }

// writeDecide writes the script run of p's decide (take.lua): KEYS are
// the quotas', the caps' and the buckets' keys; ARGV the operation, the
// counts, the lease's TTL and id, the quotas' margin, four numbers per
// quota, two per cap, the buckets' expiry margin and six numbers per
// bucket.
func writeDecide(w argWriter, eval bool, k keys, p *takePlan, leaseTTL time.Duration) {
	w.begin(eval, len(p.quotas)+len(p.caps)+len(p.buckets),
		6+4*len(p.quotas)+2*len(p.caps)+1+6*len(p.buckets))
	for _, q := range p.quotas {
		w.str(k.quota(q.bucket, q.quota))
	}
	for _, c := range p.caps {
		w.str(k.cap(c.bucket, c.max))
	}
	for _, r := range p.buckets {
		w.str(k.of(r.Bucket))
	}
	id := p.leaseID
	if id == "" {
		id = "-"
	}
	w.str(opDecide)
	w.int(int64(len(p.quotas)))
	w.int(int64(len(p.caps)))
	w.int(leaseTTL.Milliseconds())
	w.str(id)
	w.int(QuotaExpiryMarginMillis)
	for _, q := range p.quotas {
		w.int(q.calls)
		w.int(q.quota.MaxCalls)
		w.int(q.start.UnixMilli())
		w.int(q.end.UnixMilli())
	}
	for _, c := range p.caps {
		w.int(c.calls)
		w.int(c.max)
	}
	w.int(ExpiryMarginMillis)
	for _, r := range p.buckets {
		for _, n := range planArgs(r) {
			w.int(n)
		}
	}
}

// decision derives the Decision from the script's reply to p's decide at
// now (the caller's clock): quotas first, then caps, then buckets, as
// the shared-data limiter decides. It checks every number.
func decision(now time.Time, k keys, p *takePlan, values []int64) (bucket.Decision, error) {
	n := 1 + 2*len(p.quotas) + len(p.caps) + 3*len(p.buckets)
	if len(values) != n {
		return bucket.Decision{}, fmt.Errorf("%w: %d values for %d quotas, %d caps and %d buckets",
			errReply, len(values), len(p.quotas), len(p.caps), len(p.buckets))
	}
	for i, v := range values {
		if v < 0 || v >= maxScriptNumber {
			return bucket.Decision{}, fmt.Errorf("%w: value %d is %d", errReply, i, v)
		}
	}
	if values[0] > 1 {
		return bucket.Decision{}, fmt.Errorf("%w: allowed is %d", errReply, values[0])
	}
	allowed := values[0] == 1
	at := 1
	var d *bucket.Decision
	for _, q := range p.quotas {
		count, endMs := values[at], values[at+1]
		at += 2
		// The window counted in is the caller's or a later one, at most
		// the next (proxies' clocks differ by far less than a period).
		if endMs < q.end.UnixMilli() || endMs > q.end.Add(2*q.end.Sub(q.start)).UnixMilli() {
			return bucket.Decision{}, fmt.Errorf("%w: quota window ends at %d ms, the caller's at %d", errReply, endMs, q.end.UnixMilli())
		}
		if count+q.calls <= q.quota.MaxCalls {
			continue
		}
		if d == nil {
			d = &bucket.Decision{QuotaExceeded: true}
		}
		d.Rejected = d.Rejected.With(q.bucket.Kind)
		end := time.UnixMilli(endMs)
		wait := max(end.Sub(now), 0)
		if wait >= d.RetryAfter {
			d.RetryAfter = wait
			window := bucket.Limit{MaxTokens: q.quota.MaxCalls, RefillPeriod: q.end.Sub(q.start)}
			d.Tightest = bucket.Status{Bucket: bucket.Bucket{Kind: q.bucket.Kind, Tool: q.bucket.Tool, User: q.bucket.User, Limit: window},
				Remaining: max(q.quota.MaxCalls-count, 0), ResetAfter: wait}
		}
		if q.calls > q.quota.MaxCalls {
			d.OverCapacity = true
		}
	}
	var capsRejection *bucket.Decision
	for _, c := range p.caps {
		live := values[at]
		at++
		if live+c.calls <= c.max {
			continue
		}
		if capsRejection == nil {
			capsRejection = &bucket.Decision{ConcurrencyExceeded: true}
		}
		capsRejection.Rejected = capsRejection.Rejected.With(c.bucket.Kind)
		capsRejection.OverCapacity = capsRejection.OverCapacity || c.calls > c.max
	}
	if d == nil {
		d = capsRejection
	}
	var spans [4]bucket.Span
	debts, err := debtsOf(spans[:0], values[at:], p.buckets)
	if err != nil {
		return bucket.Decision{}, err
	}
	bd, err := bucket.DecideRemote(p.buckets, debts)
	if err != nil {
		return bucket.Decision{}, err
	}
	if d == nil {
		d = &bd
	}
	if d.Allowed != allowed {
		return bucket.Decision{}, fmt.Errorf("%w: the script admitted=%t, the arithmetic admitted=%t", errReply, allowed, d.Allowed)
	}
	if allowed && len(p.caps) > 0 {
		l := &Lease{}
		for _, c := range p.caps {
			l.keys = append(l.keys, k.cap(c.bucket, c.max))
			l.members = append(l.members, member(p.leaseID, c.calls))
		}
		d.Lease = l
	}
	return *d, nil
}

// Lease is the bucket.Lease of a take decided by the Limiter: its member
// in each cap's sorted set in Redis, or, when the failure mode "local"
// decided the take, the fallback limiter's lease (released and renewed
// there).
type Lease struct {
	keys, members []string
	local         bucket.Lease
}

// Empty implements bucket.Lease.
func (l *Lease) Empty() bool {
	return l == nil || len(l.keys) == 0 && (l.local == nil || l.local.Empty())
}
