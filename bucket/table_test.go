package bucket

import (
	"fmt"
	"strings"
	"testing"
)

func TestLocateUserCandidates(t *testing.T) {
	salt := []byte("salt")
	for _, size := range []int{1, 2, 3, 4, 31, 32, 33, 64, 100, 1000, 1 << 16, 9973, 10000} {
		for _, probes := range []int{1, 8, 32} {
			for u := range 50 {
				slots := locateUser(salt, "table", fmt.Sprint("user", u), size, probes)
				list := slots.slots()
				if len(list) != min(size, probes) {
					t.Fatalf("size %d probes %d: %d candidates", size, probes, len(list))
				}
				seen := map[int]bool{}
				for _, s := range list {
					if s < 0 || s >= size || seen[s] {
						t.Fatalf("size %d probes %d: candidates %v out of range or repeated", size, probes, list)
					}
					seen[s] = true
				}
				if slots.owner == (digest{}) {
					t.Fatal("zero owner digest")
				}
			}
		}
	}
}

func TestLocateUserIsKeyed(t *testing.T) {
	a := locateUser([]byte("salt"), "table", "alice", 1000, 32)
	tests := []struct {
		name string
		b    userSlots
	}{
		{"other user", locateUser([]byte("salt"), "table", "bob", 1000, 32)},
		{"other salt", locateUser([]byte("pepper"), "table", "alice", 1000, 32)},
		{"other table", locateUser([]byte("salt"), "table2", "alice", 1000, 32)},
		{"table/user boundary", locateUser([]byte("salt"), "tablea", "lice", 1000, 32)},
	}
	for _, tt := range tests {
		if tt.b.owner == a.owner {
			t.Errorf("%s: same owner digest", tt.name)
		}
	}
	if again := locateUser([]byte("salt"), "table", "alice", 1000, 32); again != a {
		t.Fatal("locateUser is not deterministic")
	}
}

func TestLocateUserSpreadsStarts(t *testing.T) {
	// The first candidates of 10000 users cover a 100-slot table evenly
	// (each slot gets 100 on average; none gets none or three times that).
	counts := make([]int, 100)
	for u := range 10000 {
		counts[locateUser([]byte("s"), "t", fmt.Sprint(u), 100, 32).slots()[0]]++
	}
	for i, c := range counts {
		if c < 50 || c > 300 {
			t.Fatalf("slot %d is the first candidate of %d users", i, c)
		}
	}
}

func TestGCD(t *testing.T) {
	for _, tt := range []struct{ a, b, want uint64 }{{12, 18, 6}, {7, 13, 1}, {0, 5, 5}, {5, 0, 5}, {1, 1, 1}} {
		if got := gcd(tt.a, tt.b); got != tt.want {
			t.Errorf("gcd(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// The cache of locate answers what compute does, for every table, size and
// probe count, and stays within maxLocatedUsers.
func TestLocateCache(t *testing.T) {
	h := newUserHasher([]byte("salt"))
	for round := range 2 { // the second round answers from the cache
		for u := range maxLocatedUsers + 100 {
			user := fmt.Sprint("user", u)
			for _, c := range []struct {
				table        string
				size, probes int
			}{{"t1", 100, 32}, {"t2", 100, 32}, {"t1", 1000, 32}, {"t1", 100, 8}} {
				if got, want := h.locate(c.table, user, c.size, c.probes).userSlots, h.compute(c.table, user, c.size, c.probes); got != want {
					t.Fatalf("round %d: locate(%s, %s, %d, %d) = %+v, want %+v", round, c.table, user, c.size, c.probes, got, want)
				}
			}
			if n := len(h.users); n > maxLocatedUsers {
				t.Fatalf("cache holds %d users, more than %d", n, maxLocatedUsers)
			}
		}
	}
	// Long identities: the cache is bounded by bytes too.
	for u := range 200 {
		user := fmt.Sprint(u, strings.Repeat("x", 8<<10))
		if got, want := h.locate("t1", user, 100, 32).userSlots, h.compute("t1", user, 100, 32); got != want {
			t.Fatalf("long user %d: locate = %+v, want %+v", u, got, want)
		}
		if h.locatedBytes > maxLocatedBytes {
			t.Fatalf("cache counts %d bytes, more than %d", h.locatedBytes, maxLocatedBytes)
		}
	}
	// An identity that fills the cache with one table: a second, longer
	// table of the same user starts the cache over and would not fit even
	// then, so it is not kept.
	user := strings.Repeat("y", maxLocatedBytes-locatedUserBytes-locatedTableBytes-len("t1"))
	for _, table := range []string{"t1", "t22"} {
		if got, want := h.locate(table, user, 100, 32).userSlots, h.compute(table, user, 100, 32); got != want {
			t.Fatalf("user filling the cache, table %s: locate = %+v, want %+v", table, got, want)
		}
		if h.locatedBytes > maxLocatedBytes {
			t.Fatalf("table %s: cache counts %d bytes, more than %d", table, h.locatedBytes, maxLocatedBytes)
		}
	}
}
