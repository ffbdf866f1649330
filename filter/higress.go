//go:build higress

package filter

import (
	"errors"
	"fmt"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
)

// The Higress build (`make build-higress`, build/mcp-ratelimit-higress.wasm)
// talks RESP to Redis itself through the host calls only Higress's Envoy
// provides: proxy_redis_init(cluster, username, password, timeout) once per
// plugin, proxy_redis_call(cluster, query, &calloutID) per command, and the
// callback proxy_on_redis_call_response(pluginContextID, calloutID, status,
// responseSize) with the reply in buffer type 9. redis.cluster then names
// the Redis cluster of Higress's configuration (no webdis), and
// username/password are Redis's own credentials. Stock Envoy refuses to
// load this module: it imports functions Envoy does not provide.

func init() {
	redisTransportFor = newHigressTransport
}

// higressTransport is redis.Transport over proxy_redis_call.
type higressTransport struct {
	cluster string
}

// pendingRedisCall is a call waiting for proxy_on_redis_call_response.
type pendingRedisCall struct {
	done func(int, []byte, error)
}

// pendingRedisCalls are the calls in flight of this VM, by callout id. A
// call whose reply never comes (the host dropped it) stays until the VM
// ends; the limiter's own timeout has long decided its request by then.
var pendingRedisCalls = map[uint32]pendingRedisCall{}

// maxPendingRedisCalls bounds pendingRedisCalls: beyond it a call is
// refused at once (the failure mode decides), so that replies a host never
// delivers cannot grow the VM's memory without bound.
const maxPendingRedisCalls = 4096

// errRedisCallFailed: the host reported a failed call (not connected,
// timeout, reset).
var errRedisCallFailed = errors.New("proxy_redis_call failed")

func newHigressTransport(r *config.Redis) (redis.Transport, redis.Protocol, error) {
	millis := uint32(min((r.Timeout+time.Millisecond-1)/time.Millisecond, 1<<31))
	if status := redisInit(r.Cluster, r.Username, r.Password, millis); status != 0 {
		return nil, 0, fmt.Errorf("proxy_redis_init of cluster %q: status %d", r.Cluster, status)
	}
	return &higressTransport{cluster: r.Cluster}, redis.ProtocolRESP, nil
}

// Post implements redis.Transport. The timeout is the one given to
// proxy_redis_init: the host enforces it per call.
func (t *higressTransport) Post(query []byte, _ time.Duration, done func(int, []byte, error)) error {
	if len(pendingRedisCalls) >= maxPendingRedisCalls {
		return fmt.Errorf("%d Redis calls in flight", len(pendingRedisCalls))
	}
	id, status := redisCall(t.cluster, query)
	if status != 0 {
		return fmt.Errorf("proxy_redis_call to cluster %q: status %d", t.cluster, status)
	}
	pendingRedisCalls[id] = pendingRedisCall{done: done}
	return nil
}

// onRedisCallResponse delivers a reply (proxy_on_redis_call_response).
func onRedisCallResponse(calloutID, status uint32, reply func() ([]byte, error)) {
	call, ok := pendingRedisCalls[calloutID]
	if !ok {
		return
	}
	delete(pendingRedisCalls, calloutID)
	if status != 0 {
		call.done(0, nil, fmt.Errorf("%w: status %d", errRedisCallFailed, status))
		return
	}
	data, err := reply()
	call.done(0, data, err)
}
