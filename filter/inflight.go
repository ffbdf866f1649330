package filter

import (
	"sync"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
)

// Concurrency caps ("concurrency"): an admitted call holds a lease in
// every cap that applies to it from admission until its stream ends,
// however it ends (response complete, SSE stream closed, client reset,
// upstream error, a later filter's local reply): Envoy then calls
// proxy_on_done (OnHttpStreamDone), which releases the lease. While the
// stream runs, the plugin's tick renews the leases of this VM's streams
// every leaseRenewPeriod; a lease whose VM is gone (restarted, crashed)
// is no longer renewed and expires bucket.DefaultLeaseTTL (30s) after its
// last renewal, so a slot never leaks longer than that.
//
// With redis, a lease lives in Redis (bucket/redis/lease.go) and its
// release and renewal are calls to Redis. The SDK delivers a callout's
// reply only while the context that sent it lives, and Envoy deletes a
// stream's context when the stream ends; so the stream's end only
// queues the release, and the plugin's tick, every releaseFlushPeriod,
// sends the queue (one call for all the releases of the period) from
// the plugin context, whose callouts live as long as the plugin. A slot
// thus comes back at most releaseFlushPeriod after its stream ended.
// Renewal is one call for all the leases of the VM. A lease taken by
// the local fallback (failureMode "local") is released at once in shared
// data, as without redis.

// leaseRenewPeriod is the tick period that renews held leases, well
// under bucket.DefaultLeaseTTL so that a slow tick never lets a live
// call's lease expire.
const leaseRenewPeriod = bucket.DefaultLeaseTTL / 3

// releaseFlushPeriod is the tick period with redis and a cap: the most a
// released slot waits before its release is sent to Redis.
const releaseFlushPeriod = 100 * time.Millisecond

// leaseFlusher is a limiter that queues releases (bucket/redis): Flush
// sends them.
type leaseFlusher interface {
	Flush() bool
}

// leaseBatchRenewer renews many leases in one call (bucket/redis).
type leaseBatchRenewer interface {
	RenewAll(now time.Time, leases []bucket.Lease)
}

// messageTooManyConcurrent is the message of a concurrency rejection.
const messageTooManyConcurrent = "Too many concurrent calls"

// inflight are the leases held by the streams of one plugin context.
type inflight struct {
	mu      sync.Mutex
	streams map[uint32]bucket.Lease
	// renewed is when the leases were last renewed.
	renewed time.Time
}

// addCapDemands appends the calls in flight one call holds under a cap:
// the cap of kind (with name for the named kinds) and, when user is set,
// the per-user cap of userKind.
func addCapDemands(list []bucket.Demand, c *config.Concurrency, kind, userKind bucket.Kind, name, user string) []bucket.Demand {
	if c == nil {
		return list
	}
	add := func(b bucket.Bucket, max int64) {
		for i := range list {
			if list[i].MaxInFlight == max && list[i].Bucket == b {
				list[i].Tokens++
				return
			}
		}
		list = append(list, bucket.Demand{Bucket: b, Tokens: 1, MaxInFlight: max})
	}
	if c.Shared > 0 {
		add(bucket.Bucket{Kind: kind, Tool: name}, c.Shared)
	}
	if user != "" && c.PerUser > 0 {
		add(bucket.Bucket{Kind: userKind, Tool: name, User: user}, c.PerUser)
	}
	return list
}

// hasConcurrency reports whether any concurrency cap is configured.
func hasConcurrency(cfg *config.Config) bool {
	if cfg.Concurrency != nil {
		return true
	}
	for _, list := range [][]config.Named{cfg.Tools, cfg.Methods, cfg.Prompts, cfg.Resources} {
		for _, entry := range list {
			if entry.Concurrency != nil {
				return true
			}
		}
	}
	return false
}

// hold keeps an admitted call's lease until its stream ends.
func (h *httpContext) hold(lease bucket.Lease) {
	if lease == nil || lease.Empty() {
		return
	}
	h.leased = true
	in := &h.settings.inflight
	in.mu.Lock()
	if in.streams == nil {
		in.streams = make(map[uint32]bucket.Lease)
	}
	in.streams[h.contextID] = lease
	in.mu.Unlock()
}

// endStream releases the stream's lease, if it holds one. Small enough to
// inline: most streams hold none.
func (h *httpContext) endStream() {
	if h.leased {
		h.releaseStreamLease()
	}
}

// releaseStreamLease releases the lease of a stream that took one.
func (h *httpContext) releaseStreamLease() {
	in := &h.settings.inflight
	in.mu.Lock()
	lease, held := in.streams[h.contextID]
	delete(in.streams, h.contextID)
	in.mu.Unlock()
	if held {
		h.settings.release(lease)
	}
}

// release gives a lease back to its caps.
func (s *settings) release(lease bucket.Lease) {
	if lease == nil || lease.Empty() {
		return
	}
	if keeper, ok := s.limiter.(bucket.LeaseKeeper); ok {
		keeper.Release(lease)
	}
}

// renewLeases renews the leases of every stream in flight.
func (s *settings) renewLeases() {
	keeper, ok := s.limiter.(bucket.LeaseKeeper)
	if !ok {
		return
	}
	s.inflight.mu.Lock()
	leases := make([]bucket.Lease, 0, len(s.inflight.streams))
	for _, lease := range s.inflight.streams {
		leases = append(leases, lease)
	}
	s.inflight.mu.Unlock()
	now := s.now()
	if batch, ok := s.limiter.(leaseBatchRenewer); ok {
		batch.RenewAll(now, leases)
		return
	}
	for _, lease := range leases {
		keeper.Renew(now, lease)
	}
}

// OnTick implements types.PluginContext: it sends the queued releases
// (redis) and renews the leases of the calls in flight every
// leaseRenewPeriod.
func (p *pluginContext) OnTick() {
	s := p.settings
	if s == nil {
		return
	}
	if f, ok := s.limiter.(leaseFlusher); ok {
		f.Flush()
	}
	now := s.now()
	if now.Sub(s.inflight.renewed) < leaseRenewPeriod-releaseFlushPeriod/2 {
		return
	}
	s.inflight.renewed = now
	s.renewLeases()
}

// startLeaseRenewal starts the tick when a cap is configured.
func (p *pluginContext) startLeaseRenewal(cfg *config.Config) {
	if !hasConcurrency(cfg) {
		return
	}
	period := leaseRenewPeriod
	if cfg.Redis != nil {
		period = releaseFlushPeriod
	}
	if err := proxywasm.SetTickPeriodMilliSeconds(uint32(period.Milliseconds())); err != nil {
		proxywasm.LogWarnf("mcp-ratelimit: cannot start the tick that renews concurrency leases (they expire after %v): %v",
			bucket.DefaultLeaseTTL, err)
	}
}

// rejectConcurrent answers a call rejected by a concurrency cap: status
// rejectStatus, the JSON-RPC error errorCode "Too many concurrent calls"
// without data, and no Retry-After: the proxy cannot know when a call in
// flight ends, and a made-up wait would mislead clients that honour it.
func (h *httpContext) rejectConcurrent(request *examined) types.Action {
	s := h.settings
	s.metrics.rejectedConcur.Increment(request.toolCalls())
	for _, call := range request.calls {
		if call.tool != nil {
			call.tool.rejected.Increment(1)
		}
		if call.method != nil {
			call.method.rejected.Increment(1)
		}
	}
	body := errorResponses(request, s.cfg.ErrorCode, messageTooManyConcurrent, nil)
	var headers [][2]string
	if len(body) > 0 {
		headers = [][2]string{{"content-type", "application/json"}}
	}
	h.send(uint32(s.cfg.RejectStatus), headers, body)
	return types.ActionPause
}
