package filter

import (
	"errors"
	"fmt"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/internal/stdbase64"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/jsonrpc"
)

// This file connects the filter to Redis: the limiter of a plugin with a
// "redis" configuration, the webdis transport over proxy_http_call (stock
// Envoy lets a Wasm filter reach the outside only by an HTTP or gRPC call
// to a configured cluster), the Redis metrics, and the 503 reply of
// failureMode "closed".

// Redis metric names (after "mcp_ratelimit.<namespace>.").
const (
	metricRedisDecisions = "redis.decisions"
	metricRedisFallbacks = "redis.fallbacks"
	metricRedisLatency   = "redis.latency_us"
	metricRedisErrors    = "redis.errors." // + redis.ErrorKind
	metricRedisLeaseErrs = "redis.lease_errors"
	metricRedisLocal     = "redis.local_rejections"
)

// redisMetricNames lists the Redis metric names.
func redisMetricNames() []string {
	names := []string{metricRedisDecisions, metricRedisFallbacks, metricRedisLatency, metricRedisLeaseErrs, metricRedisLocal}
	for kind := range redis.NumErrorKinds {
		names = append(names, metricRedisErrors+kind.String())
	}
	return names
}

// JSON-RPC reply of a tools/call refused because Redis could not decide
// and failureMode is "closed".
const (
	statusUnavailable  = 503
	messageUnavailable = "Rate limit store unavailable"
)

// newLimiter is the production limiterFactory: shared data, or Redis with
// the shared-data limiter as the fallback of failureMode "local".
func newLimiter(store bucket.Store, namespace string, cfg *config.Config) (bucket.Limiter, error) {
	local, err := newStoreLimiter(store, namespace, cfg)
	if err != nil || cfg.Redis == nil {
		return local, err
	}
	r := cfg.Redis
	mode := map[config.RedisFailureMode]redis.FailureMode{
		config.RedisFailLocal: redis.FailLocal, config.RedisFailOpen: redis.FailOpen, config.RedisFailClosed: redis.FailClosed,
	}[r.FailureMode]
	transport, protocol, err := redisTransportFor(r)
	if err != nil {
		return nil, err
	}
	limiter, err := redis.NewLimiter(redis.Options{
		Transport:   transport,
		Protocol:    protocol,
		Namespace:   namespace,
		KeyPrefix:   r.KeyPrefix,
		Timeout:     r.Timeout,
		FailureMode: mode,
		Fallback:    local,
		Clock:       time.Now,
		Observer:    newRedisObserver(metricPrefix + metricSegment(namespace) + "."),

		RejectLocallyFor: r.RejectLocallyFor,
	})
	if err != nil {
		return nil, fmt.Errorf("build redis limiter: %w", err)
	}
	return limiter, nil
}

// redisTransportFor returns how a plugin reaches Redis: webdis through
// proxy_http_call, which every Envoy provides. The Higress build
// (higress.go) replaces it with Higress's native Redis calls.
var redisTransportFor = func(r *config.Redis) (redis.Transport, redis.Protocol, error) {
	authorization := ""
	if r.Username != "" {
		authorization = "Basic " + stdbase64.Encode([]byte(r.Username+":"+r.Password))
	}
	return newWebdisTransport(r.Cluster, r.Authority, authorization), redis.ProtocolWebdis, nil
}

// webdisTransport posts webdis commands with proxy_http_call.
type webdisTransport struct {
	cluster string
	// headers are the callout's headers, the same for every command.
	headers [][2]string
	// idle are answered callouts' memory, for the next commands.
	idle *webdisCallout
}

// webdisCallout is one command in flight. Its memory, with the callback
// the SDK holds for it, made once, is kept for the next command: a
// callback per command would be an allocation, and in a Wasm VM every
// allocation brings the next garbage collection, a pause of the worker's
// requests, nearer.
type webdisCallout struct {
	t        *webdisTransport
	done     func(int, []byte, error)
	response func(numHeaders, bodySize, numTrailers int) // answered, the SDK's callback
	next     *webdisCallout
}

func newWebdisTransport(cluster, authority, authorization string) *webdisTransport {
	headers := [][2]string{
		{":method", "POST"}, {":path", "/"}, {":authority", authority},
		{"content-type", "text/plain"},
	}
	if authorization != "" {
		headers = append(headers, [2]string{"authorization", authorization})
	}
	return &webdisTransport{cluster: cluster, headers: headers}
}

// errNoResponse: Envoy called back without a response (timeout, reset,
// no healthy upstream).
var errNoResponse = errors.New("no response from the webdis cluster")

// Post implements redis.Transport. Of the response it reads the status
// and the body only; the body is in memory the next response reuses.
func (t *webdisTransport) Post(body []byte, timeout time.Duration, done func(int, []byte, error)) error {
	c := t.idle
	if c != nil {
		t.idle = c.next
	} else {
		c = &webdisCallout{t: t}
		c.response = c.answered
	}
	c.done, c.next = done, nil
	millis := uint32(min((timeout+time.Millisecond-1)/time.Millisecond, 1<<31))
	if _, err := proxywasm.DispatchHttpCall(t.cluster, t.headers, body, nil, millis, c.response); err != nil {
		t.keep(c)
		return fmt.Errorf("proxy_http_call to cluster %q: %w", t.cluster, err)
	}
	return nil
}

// keep keeps an answered callout's memory for the next command.
func (t *webdisTransport) keep(c *webdisCallout) {
	c.done, c.next, t.idle = nil, t.idle, c
}

// answered is the SDK's callback of a callout: it reads the response and
// hands it to done.
func (c *webdisCallout) answered(numHeaders, bodySize, _ int) {
	done := c.done
	c.t.keep(c) // before done, which may post again
	if numHeaders == 0 {
		done(0, nil, errNoResponse)
		return
	}
	status, err := calloutStatus()
	if err != nil {
		done(0, nil, fmt.Errorf("read webdis reply headers: %w", err))
		return
	}
	var reply []byte
	if bodySize > 0 {
		var got hostStatus
		reply, got = calloutBody(bodySize)
		if got != statusOK {
			done(0, nil, fmt.Errorf("read webdis reply: %w", got.err()))
			return
		}
	}
	done(status, reply, nil)
}

// redisObserver counts what the Redis limiter does.
type redisObserver struct {
	decisions, fallbacks metricCounter
	leaseErrors, local   metricCounter
	errors               [redis.NumErrorKinds]metricCounter
	latency              metricHistogram
}

func newRedisObserver(prefix string) *redisObserver {
	o := &redisObserver{
		decisions:   defineCounter(prefix + metricRedisDecisions),
		fallbacks:   defineCounter(prefix + metricRedisFallbacks),
		leaseErrors: defineCounter(prefix + metricRedisLeaseErrs),
		local:       defineCounter(prefix + metricRedisLocal),
		latency:     defineHistogram(prefix + metricRedisLatency),
	}
	for kind := range redis.NumErrorKinds {
		o.errors[kind] = defineCounter(prefix + metricRedisErrors + kind.String())
	}
	return o
}

func (o *redisObserver) Decided()  { o.decisions.Increment(1) }
func (o *redisObserver) FellBack() { o.fallbacks.Increment(1) }

// RejectedLocally counts a rejection of Redis's repeated without a call.
func (o *redisObserver) RejectedLocally() { o.local.Increment(1) }

func (o *redisObserver) Failed(kind redis.ErrorKind, err error) {
	if kind < redis.NumErrorKinds {
		o.errors[kind].Increment(1)
	}
	proxywasm.LogWarnf("mcp-ratelimit: redis %s: %v", kind, err)
}

// LeaseFailed counts a failed release or renewal: the leases then expire
// after their TTL.
func (o *redisObserver) LeaseFailed(op string, err error) {
	o.leaseErrors.Increment(1)
	proxywasm.LogWarnf("mcp-ratelimit: redis lease %s failed (the leases expire after %v): %v", op, bucket.DefaultLeaseTTL, err)
}

func (o *redisObserver) Latency(d time.Duration) { o.latency.Record(uint64(max(d.Microseconds(), 0))) }

// unavailable answers a request Redis could not decide under failureMode
// "closed": 503 with a JSON-RPC internal error per request with an id
// (like a rejection, a batch gets an array).
func (h *httpContext) unavailable(request *examined) {
	h.settings.metrics.storeErrors.Increment(1)
	var body []byte
	switch {
	case !request.batch:
		var id []byte
		if len(request.replyIDs) > 0 {
			id = request.replyIDs[0]
		}
		body = jsonrpc.ErrorResponse(id, codeInternalError, messageUnavailable, nil)
	case len(request.replyIDs) > 0:
		body = append(body, '[')
		for i, id := range request.replyIDs {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, jsonrpc.ErrorResponse(id, codeInternalError, messageUnavailable, nil)...)
		}
		body = append(body, ']')
	}
	var headers [][2]string
	if len(body) > 0 {
		headers = append(headers, [2]string{"content-type", "application/json"})
	}
	h.send(statusUnavailable, headers, body)
}
