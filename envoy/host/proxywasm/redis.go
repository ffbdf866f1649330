package proxywasm

import (
	"fmt"
	"time"
)

// Higress's Redis host calls, which only Higress's Envoy build provides
// (the proxy-wasm extension of Higress; argument lists as its Go SDK,
// higress-group/proxy-wasm-go-sdk, declares them):
//
//	proxy_redis_init(cluster, username, password, timeout_ms) -> status
//	proxy_redis_call(cluster, query, &callout_id) -> status
//	proxy_on_redis_call_response(root_id, callout_id, status, size)
//
// the query and the reply are RESP, and the reply is read from buffer type
// 9 during the callback. The host provides them in the "higress" profile
// only: stock Envoy refuses a module that imports them.

// HigressVersion is the EnvoyVersion that selects the Higress profile.
const HigressVersion = "higress"

// bufRedisCallResponse is Higress's buffer type of a Redis reply.
const bufRedisCallResponse = 9

// higressProfile is the harshest Envoy profile (1.33) plus the Redis calls.
func higressProfile() (Profile, error) {
	p, err := ProfileFor(DefaultEnvoyVersion)
	if err != nil {
		return Profile{}, err
	}
	p.Name = HigressVersion
	p.HigressRedis = true
	return p, nil
}

// RedisCallout is one RESP command a module sends with proxy_redis_call,
// with what proxy_redis_init set up for its cluster.
type RedisCallout struct {
	Cluster            string
	Username, Password string
	Timeout            time.Duration
	Query              []byte
}

// redisState is a root context's Redis clusters and calls in flight.
type redisState struct {
	clusters map[string]RedisCallout // by cluster, Query empty
	calls    map[uint32]bool
	reply    []byte // set during proxy_on_redis_call_response
	inReply  bool
}

func (r *RootContext) redisOf() *redisState {
	if r.redis == nil {
		r.redis = &redisState{clusters: map[string]RedisCallout{}, calls: map[uint32]bool{}}
	}
	return r.redis
}

func redisFunctions() []hostFunc {
	return []hostFunc{
		{"proxy_redis_init", types(i32, i32, i32, i32, i32, i32, i32), types(i32), abiRedisInit},
		{"proxy_redis_call", types(i32, i32, i32, i32, i32), types(i32), abiRedisCall},
	}
}

func abiRedisInit(vm *VM, s []uint64) {
	cluster, ok1 := vm.read(uint32(s[0]), uint32(s[1]))
	user, ok2 := vm.read(uint32(s[2]), uint32(s[3]))
	password, ok3 := vm.read(uint32(s[4]), uint32(s[5]))
	if !ok1 || !ok2 || !ok3 {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	r := vm.rootOf(vm.contextOf())
	if r == nil || vm.env.HasCluster == nil || !vm.env.HasCluster(string(cluster)) {
		ok(s, ResultBadArgument)
		return
	}
	r.redisOf().clusters[string(cluster)] = RedisCallout{Cluster: string(cluster), Username: string(user),
		Password: string(password), Timeout: time.Duration(uint32(s[6])) * time.Millisecond}
	ok(s, ResultOK)
}

func abiRedisCall(vm *VM, s []uint64) {
	cluster, ok1 := vm.read(uint32(s[0]), uint32(s[1]))
	query, ok2 := vm.read(uint32(s[2]), uint32(s[3]))
	tokenPtr := uint32(s[4])
	if !ok1 || !ok2 || !vm.putU32(tokenPtr, 0) {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	r := vm.rootOf(vm.contextOf())
	if r == nil || vm.env.RedisCall == nil {
		ok(s, ResultBadArgument)
		return
	}
	state := r.redisOf()
	c, initialised := state.clusters[string(cluster)]
	if !initialised {
		ok(s, ResultBadArgument)
		return
	}
	c.Query = append([]byte(nil), query...)
	vm.nextCalloutID++
	token := vm.nextCalloutID
	state.calls[token] = true
	go vm.env.RedisCall(c, func(reply []byte, err error) { r.deliverRedis(token, reply, err) })
	vm.putU32(tokenPtr, token)
	ok(s, ResultOK)
}

// deliverRedis runs proxy_on_redis_call_response for a finished call:
// status 0 with the reply in buffer 9, or a non-zero status and no reply.
func (r *RootContext) deliverRedis(token uint32, reply []byte, err error) {
	vm := r.vm
	vm.mu.Lock()
	defer vm.mu.Unlock()
	state := r.redisOf()
	if !state.calls[token] {
		return
	}
	delete(state.calls, token)
	if vm.failed != nil || vm.closed || r.deleted {
		return
	}
	status := uint64(0)
	if err != nil {
		vm.env.log(LogDebug, fmt.Sprintf("[wasm] redis call %d failed: %v", token, err))
		status, reply = 1, nil
	}
	state.reply, state.inReply = reply, true
	_, _, _ = vm.call(r.id, "proxy_on_redis_call_response", uint64(r.id), uint64(token), status, uint64(len(reply)))
	state.reply, state.inReply = nil, false
}

// redisBuffer is buffer 9 of context id: the reply being delivered.
func (vm *VM) redisBuffer(id uint32) (bufferView, bool) {
	r := vm.rootOf(id)
	if r == nil || r.redis == nil || !r.redis.inReply {
		return bufferView{}, false
	}
	return bufferView{data: r.redis.reply, readOnly: true}, true
}
