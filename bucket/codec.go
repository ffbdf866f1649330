package bucket

import "encoding/binary"

// Value format
//
// A bucket's value is 29 bytes:
//
//	byte 0      1 (format of a bucket value)
//	bytes 1-8   State.TAT, big-endian int64
//	bytes 9-16  State.Frac, big-endian int64
//	bytes 17-24 State.Latest, big-endian int64
//	bytes 25-28 State.Restarts, big-endian uint32
//
// A per-user table slot's value is 45 bytes:
//
//	byte 0      2 (format of a slot value)
//	bytes 1-16  the owner's digest (all zero: the slot is free)
//	bytes 17-44 the owner's State, encoded as above
//
// A value that does not decode (wrong length or format, or a Frac outside
// [0, MaxTokens)) is counted in Stats.CorruptValues and treated as a full
// bucket (a free slot), and the next admitted take overwrites it: it can
// only come from a foreign writer in the same key space, and refusing
// every request on that key until Envoy restarts would be worse.

const (
	formatBucket = 1
	formatSlot   = 2

	stateSize       = 8 + 8 + 8 + 4
	bucketValueSize = 1 + stateSize
	slotValueSize   = 1 + digestSize + stateSize
)

// digestSize is the length of the owner digest of a slot.
const digestSize = 16

// digest identifies a user in one per-user table without revealing the
// identity (see table.go). The zero digest marks a free slot. It is held
// as two words, its bytes in big-endian order: a Wasm VM compares two
// words inline, where == on a 16-byte array calls runtime.memequal, which
// compares a byte at a time, and a take compares the owner of every slot
// it reads.
type digest struct{ hi, lo uint64 }

// readDigest returns the digest whose bytes begin b.
func readDigest(b []byte) digest {
	return digest{binary.BigEndian.Uint64(b[0:8]), binary.BigEndian.Uint64(b[8:16])}
}

// putDigest writes d's bytes at the start of b.
func putDigest(b []byte, d digest) {
	binary.BigEndian.PutUint64(b[0:8], d.hi)
	binary.BigEndian.PutUint64(b[8:16], d.lo)
}

func putState(b []byte, s State) {
	binary.BigEndian.PutUint64(b[0:8], uint64(s.TAT))
	binary.BigEndian.PutUint64(b[8:16], uint64(s.Frac))
	binary.BigEndian.PutUint64(b[16:24], uint64(s.Latest))
	binary.BigEndian.PutUint32(b[24:28], s.Restarts)
}

func readState(b []byte, g gcra) (State, bool) {
	s := State{
		TAT:      int64(binary.BigEndian.Uint64(b[0:8])),
		Frac:     int64(binary.BigEndian.Uint64(b[8:16])),
		Latest:   int64(binary.BigEndian.Uint64(b[16:24])),
		Restarts: binary.BigEndian.Uint32(b[24:28]),
	}
	return s, g.checkState(s) == nil
}

func encodeBucket(s State) []byte {
	return appendBucket(make([]byte, 0, bucketValueSize), s)
}

// appendBucket appends the bucket value of s to dst.
func appendBucket(dst []byte, s State) []byte {
	dst = append(dst, formatBucket)
	var b [stateSize]byte
	putState(b[:], s)
	return append(dst, b[:]...)
}

// decodeBucket decodes a bucket value; ok is false when it is corrupt.
func decodeBucket(v []byte, g gcra) (State, bool) {
	if len(v) != bucketValueSize || v[0] != formatBucket {
		return State{}, false
	}
	return readState(v[1:], g)
}

func encodeSlot(owner digest, s State) []byte {
	return appendSlot(make([]byte, 0, slotValueSize), owner, s)
}

// appendSlot appends the slot value of owner and s to dst.
func appendSlot(dst []byte, owner digest, s State) []byte {
	dst = append(dst, formatSlot)
	var b [digestSize + stateSize]byte
	putDigest(b[:], owner)
	putState(b[digestSize:], s)
	return append(dst, b[:]...)
}

// decodeSlot decodes a slot value; ok is false when it is corrupt.
func decodeSlot(v []byte, g gcra) (owner digest, s State, ok bool) {
	if len(v) != slotValueSize || v[0] != formatSlot {
		return digest{}, State{}, false
	}
	owner = readDigest(v[1:])
	s, ok = readState(v[1+digestSize:], g)
	if !ok {
		return digest{}, State{}, false
	}
	return owner, s, true
}
