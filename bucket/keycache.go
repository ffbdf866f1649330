package bucket

// keyCacheKey identifies a bucket's key: the fields that name it.
type keyCacheKey struct {
	kind  Kind
	tool  string
	limit Limit
}

// is reports whether k names the bucket (kind, tool, *limit), as == on a
// keyCacheKey of those fields would. Unlike ==, it makes no call in a
// Wasm VM when the tool names are empty, as those of the shared and
// per-user buckets are (== on a struct with a string calls the struct's
// equality function, and that calls runtime.memequal), and it needs no
// keyCacheKey built to compare with: bucketKey builds one only when the
// recent keys do not hold the bucket's (in a Wasm VM under wazero
// clearing a variable of this size is a loop of memory copies). The limit
// by pointer: in a Wasm VM a struct passed by value is a copy, a call.
func (k *keyCacheKey) is(kind Kind, tool string, limit *Limit) bool {
	return k.kind == kind && k.limit == *limit && len(k.tool) == len(tool) && (tool == "" || k.tool == tool)
}

// maxCachedKeys bounds the key cache: callers may demand buckets of any
// tool name, and the cache must not grow with them.
const maxCachedKeys = 1024

// recentKeys is the number of keys bucketKey finds without hashing: a
// filter asks for the same few buckets on every call, and comparing a few
// entries costs less inside a Wasm VM than hashing a string for the map.
const recentKeys = 8

// recentKey is an entry of the recent keys.
type recentKey struct {
	ck  keyCacheKey
	key string
}

// bucketKey returns the key of a bucket (for a per-user bucket, the key
// prefix of its table), from a bounded cache: building it takes several
// allocations and a filter asks for the same few buckets on every call.
// b is read in place (see keyCacheKey.is).
func (l *StoreLimiter) bucketKey(b *Bucket) string {
	var tool string
	if b.Kind.HasName() {
		tool = b.Tool
	}
	l.keyMu.Lock()
	for i := range l.recentKeys {
		if r := &l.recentKeys[i]; r.key != "" && r.ck.is(b.Kind, tool, &b.Limit) {
			key := r.key
			l.keyMu.Unlock()
			return key
		}
	}
	ck := keyCacheKey{kind: b.Kind, tool: tool, limit: b.Limit}
	key, ok := l.keyCache[ck]
	if !ok {
		if l.keyCache == nil || len(l.keyCache) >= maxCachedKeys {
			l.keyCache = make(map[keyCacheKey]string)
		}
		key = l.keys.bucket(b.Kind, b.Tool, b.Limit, l.opts.MaxTrackedUsers)
		l.keyCache[ck] = key
	}
	l.recentKeys[l.nextRecent] = recentKey{ck: ck, key: key}
	l.nextRecent = (l.nextRecent + 1) % recentKeys
	l.keyMu.Unlock()
	return key
}
