package bucket

import (
	"encoding/binary"
	"sync"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/internal/sha256"
)

// Per-user tables
//
// Shared-data keys can never be deleted, so per-user state cannot live
// under one key per user: a stream of new identities would grow the store
// without bound. Each per-user bucket definition (the KindUser bucket, and
// the KindUserTool bucket of each tool) has instead a table of
// Options.MaxTrackedUsers slots, plus one overflow bucket with the same
// Limit. A slot holds its owner's digest and the owner's bucket state.
//
// The digest is HMAC-SHA-256 of the table's key prefix and the identity,
// keyed with a random salt kept in the namespace (key "<ns>/salt", created
// once per store): the store never holds an identity, and nobody can
// compute which slots an identity will use, so nobody can choose
// identities that crowd a victim out of its slots. Its first 16 bytes are
// the owner digest (a 2^-64 chance that two of a billion users share one),
// the rest pick the user's candidate slots: a probe sequence of
// min(Options.Probes, MaxTrackedUsers) distinct slots by double hashing
// (start + i*step modulo the table size, step coprime with it), the whole
// table when it has no more slots than probes.
//
// A take scans the user's candidate slots in order until the first slot
// that was never written (keys are never deleted, so every slot before it
// stays written forever) or the end of the sequence:
//
//   - the slots the user owns are its bucket. Normally there is exactly
//     one; two workers claiming a slot for the same new user at the same
//     moment can each claim one, so the user's debt is the sum over all
//     the slots it owns, and an admitted take writes the sum into the first
//     of them and frees the others. This is why the scan never stops at
//     the user's own slot: no token taken through any of its slots is lost;
//   - if it owns none, it claims the first reclaimable slot: never written,
//     free, or owned by a user whose bucket has been full for
//     Options.ReclaimGrace (1s) at now (evicting a full bucket loses
//     nothing: the evicted user starts full again, exactly as if it had
//     kept the slot; the grace covers workers whose clocks read slightly
//     earlier). Claims only go to a slot at or before the first one never
//     written, which keeps every owned slot within the scan;
//   - if every candidate slot belongs to a user whose bucket is not full,
//     the user draws from the table's overflow bucket, shared by every user
//     in that situation, and Decision.Overflowed is set. Nobody is ever
//     admitted unlimited.
//
// A new slot starts with the overflow bucket's current debt (zero unless
// the table was recently full): the table cannot tell whether this user
// was one of those who drew from the overflow bucket, and starting full
// would hand such a user a second burst. Every user thus stays within its
// limit (capacity plus refill over any interval); the price, only right
// after the table was full, is that a user new to the table may wait for
// the overflow bucket to refill.
//
// Sizing: a user lands in overflow while the table has room elsewhere only
// when all its candidate slots are held by users active within one refill
// period. With a fraction a of the table so held, that probability is
// about a^probes: with the default 32 probes, 0.5^32 (2e-10) at half full,
// 0.75^32 (1e-4) at three quarters, 0.9^32 (3%) at 90%. Size
// maxTrackedUsers to at least twice the number of users expected to call
// within one refill period (the default 10000 fits 5000). Each slot is one
// key of about 70 bytes with a 45-byte value, in the memory of the
// Envoy process (not of the Wasm VMs): 10000 slots are ~1.3 MB per table.
// A take reads up to `probes` slots per per-user bucket: fewer probes make
// takes cheaper and overflow likelier.

// defaultProbes is the default length of a user's probe sequence.
const defaultProbes = 32

// userSlots is one user's place in one per-user table.
type userSlots struct {
	owner digest
	start uint64
	step  uint64
	size  uint64
	n     int // number of candidate slots
}

// userHasher computes users' digests with one salt. It is safe for
// concurrent use as its limiter is (sync_other.go, sync_wasip1.go) and,
// after warming up, allocates nothing.
type userHasher struct {
	mac  *sha256.HMAC // keyed with the salt; safe for concurrent use
	pool sync.Pool    // of *[]byte, buffers for the HMAC's input

	// users caches what locate computed, by user, so that a user's next
	// take costs a map look-up instead of an HMAC per table (four SHA-256
	// blocks, about 9 µs inside a Wasm VM). A take's per-user buckets all
	// have one user: last, the user located last, answers the take's
	// other tables without a look-up. Keyed by the user alone, the map
	// hashes a few bytes, where a key of table and user hashed both (a
	// Wasm VM has no hardware hash). Bounded by maxLocatedUsers users and
	// maxLocatedBytes: when full it starts over.
	mu           mutex
	users        map[string]*locatedUser
	last         *locatedUser
	locatedBytes int
}

// maxLocatedUsers and maxLocatedBytes bound userHasher's cache: a user
// costs its identity plus about 60 bytes, and each of its tables about
// 150 bytes plus the table's prefix (the place, and the key of the slot
// the user owns), and identities can be long, so the bytes are bounded
// too: at most ~600 KiB of a VM's memory, about 1 100 users of two
// tables.
const (
	maxLocatedUsers = 2048
	maxLocatedBytes = 512 << 10
)

// Bytes userHasher's cache counts: locatedUserBytes plus the identity per
// user, locatedTableBytes plus the table's prefix per table of a user.
const (
	locatedUserBytes  = 64
	locatedTableBytes = 144
)

// locatedUser is one user's places in the tables its takes touched.
type locatedUser struct {
	user   string
	tables []*located
}

// located is one user's place in one per-user table. Only owned changes
// once it is made.
type located struct {
	userSlots
	table        string
	size, probes int
	// owned is the key of the slot the user was last found owning (see
	// ownedKey).
	owned pointer[string]
}

// ownedKey returns key, the key of a slot the user owns in memory the
// caller reuses, as a string: the one kept from the last time the user
// was found in that slot, or a copy, kept for the next time. A user keeps
// its slot, so a take of a known user copies no key.
func (l *located) ownedKey(key []byte) string {
	if kept := l.owned.Load(); kept != nil && *kept == string(key) {
		return *kept
	}
	k := string(key)
	l.owned.Store(&k)
	return k
}

func newUserHasher(salt []byte) *userHasher {
	h := &userHasher{mac: sha256.NewHMAC(salt)}
	h.pool.New = func() any { return new([]byte) }
	return h
}

// locate returns a user's owner digest and candidate slots in the table
// whose key prefix is table, from the cache or computed (and cached).
func (h *userHasher) locate(table, user string, size, probes int) *located {
	h.mu.Lock()
	u := h.last
	if u == nil || u.user != user {
		u = h.users[user]
		h.last = u
	}
	if u != nil {
		for _, l := range u.tables {
			if l.table == table && l.size == size && l.probes == probes {
				h.mu.Unlock()
				return l
			}
		}
	}
	h.mu.Unlock()
	l := &located{userSlots: h.compute(table, user, size, probes), table: table, size: size, probes: probes}
	h.keep(user, l)
	return l
}

// keep adds l, user's place in a table, to the cache, unless the two
// alone, in a cache started over, would exceed maxLocatedBytes (an
// identity that long is hashed at each take). Takes that computed one
// place at the same time (natively: a VM runs one take at a time) each
// add theirs; the first added answers later takes.
func (h *userHasher) keep(user string, l *located) {
	userCost, tableCost := locatedUserBytes+len(user), locatedTableBytes+len(l.table)
	if userCost+tableCost > maxLocatedBytes {
		return
	}
	h.mu.Lock()
	u := h.users[user]
	cost := tableCost
	if u == nil {
		cost += userCost
	}
	if h.users == nil || u == nil && len(h.users) >= maxLocatedUsers || h.locatedBytes+cost > maxLocatedBytes {
		h.users, h.locatedBytes, u, cost = make(map[string]*locatedUser), 0, nil, userCost+tableCost
	}
	if u == nil {
		u = &locatedUser{user: user}
		h.users[user] = u
	}
	u.tables = append(u.tables, l)
	h.locatedBytes += cost
	h.last = u
	h.mu.Unlock()
}

// compute is locate without the cache.
func (h *userHasher) compute(table, user string, size, probes int) userSlots {
	input := h.pool.Get().(*[]byte)
	*input = append(append(append((*input)[:0], table...), 0), user...)
	var buf [sha256.Size]byte
	sum := h.mac.Append(buf[:0], *input)
	h.pool.Put(input)

	var u userSlots
	u.owner = readDigest(sum[:digestSize])
	if u.owner == (digest{}) {
		u.owner.lo = 1 // the zero digest marks a free slot
	}
	u.size = uint64(size)
	u.n = min(probes, size)
	u.start = binary.BigEndian.Uint64(sum[16:24]) % u.size
	if u.size > 1 {
		u.step = 1 + binary.BigEndian.Uint64(sum[24:32])%(u.size-1)
		for gcd(u.step, u.size) != 1 {
			u.step++
			if u.step == u.size {
				u.step = 1
			}
		}
	}
	return u
}

// locateUser is locate with a hasher of its own.
func locateUser(salt []byte, table, user string, size, probes int) userSlots {
	return newUserHasher(salt).locate(table, user, size, probes).userSlots
}

// after returns the slot that follows pos in the user's sequence.
func (u userSlots) after(pos uint64) uint64 {
	pos += u.step // pos, step < size: no overflow
	if pos >= u.size {
		pos -= u.size
	}
	return pos
}

// slots lists the user's candidate slots in order. The step is coprime
// with the size, so they are distinct.
func (u userSlots) slots() []int {
	out := make([]int, u.n)
	pos := u.start
	for i := range out {
		out[i] = int(pos)
		pos = u.after(pos)
	}
	return out
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
