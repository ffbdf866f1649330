package bucket

import "time"

// Internals exported to the external tests of package bucket_test, which
// use buckettest.MemoryStore (an internal test cannot import it: cycle).

// BucketKeyOf is the key of a bucket that is not per user.
func BucketKeyOf(l *StoreLimiter, b Bucket) string {
	return l.keys.bucket(b.Kind, b.Tool, b.Limit, l.opts.MaxTrackedUsers)
}

// OverflowKeyOf is the key of the overflow bucket of a per-user bucket's table.
func OverflowKeyOf(l *StoreLimiter, b Bucket) string {
	return overflowKey(BucketKeyOf(l, b))
}

// SentinelKeyOf and SaltKeyOf are the namespace's own keys.
func SentinelKeyOf(l *StoreLimiter) string { return l.keys.sentinel() }

// SaltKeyOf is the key of the namespace's salt.
func SaltKeyOf(l *StoreLimiter) string { return l.keys.salt() }

// CandidateSlotKeys lists the keys of b.User's candidate slots in b's
// table, in probe order (reading or creating the salt).
func CandidateSlotKeys(l *StoreLimiter, b Bucket) ([]string, error) {
	h, err := l.getHasher()
	if err != nil {
		return nil, err
	}
	table := BucketKeyOf(l, b)
	u := h.locate(table, b.User, l.opts.MaxTrackedUsers, l.opts.Probes)
	var keys []string
	for _, i := range u.slots() {
		keys = append(keys, slotKey(table, i))
	}
	return keys, nil
}

// SlotInfo describes a slot value for b's table: whether it decodes,
// whether b.User owns it, whether it is free, and its state.
func SlotInfo(l *StoreLimiter, b Bucket, value []byte) (ok, owned, free bool, s State) {
	h, err := l.getHasher()
	if err != nil {
		return false, false, false, State{}
	}
	u := h.locate(BucketKeyOf(l, b), b.User, l.opts.MaxTrackedUsers, l.opts.Probes)
	owner, s, ok := decodeSlot(value, gcraOf(b.Limit))
	return ok, ok && owner == u.owner, ok && owner == digest{}, s
}

// BucketState decodes a bucket value.
func BucketState(b Bucket, value []byte) (State, bool) {
	return decodeBucket(value, gcraOf(b.Limit))
}

// EncodeBucketState encodes a bucket value.
func EncodeBucketState(s State) []byte { return encodeBucket(s) }

// TakeMany decides demands on the general path of a take, which a take
// of one bucket that is not per-user skips (takeOne), so that tests can
// compare the two. It counts no Takes in Stats.
func TakeMany(l *StoreLimiter, now time.Time, demands []Demand) (Decision, error) {
	nowNs, err := unixNanos(now)
	if err != nil {
		return Decision{}, err
	}
	var d Decision
	err = l.takeWith(new(takeScratch), nowNs, demands, &d)
	return d, err
}
