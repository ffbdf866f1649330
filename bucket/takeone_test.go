package bucket_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/buckettest"
)

// storeFault is what goes wrong in the store during one take.
type storeFault int

const (
	faultNone         storeFault = iota
	faultLostRace                // another worker writes the key before each of the take's writes
	faultCorrupt                 // the key holds a value that does not decode
	faultGetError                // reading the key fails
	faultSetError                // writing the key fails
	faultRaceThenDown            // the first write loses a race, then reads fail
	faultCount
)

// faultyStore is a MemoryStore whose hook plays one storeFault on one key.
type faultyStore struct {
	*buckettest.MemoryStore
	key    string
	fault  storeFault
	races  int // faultLostRace: writes still to lose
	down   bool
	inside bool
}

func newFaultyStore() *faultyStore {
	s := &faultyStore{MemoryStore: buckettest.NewMemoryStore()}
	s.SetHook(func(op buckettest.Op) error {
		if s.inside || op.Key != s.key {
			return nil
		}
		switch {
		case s.fault == faultGetError && op.Kind == buckettest.OpGet,
			s.fault == faultSetError && op.Kind == buckettest.OpSet,
			s.down && op.Kind == buckettest.OpGet:
			return errors.New("store down")
		case s.fault == faultRaceThenDown && op.Kind == buckettest.OpSet && op.CAS != 0:
			s.races, s.fault, s.down = 1, faultLostRace, true
			fallthrough
		case s.fault == faultLostRace && op.Kind == buckettest.OpSet && op.CAS != 0 && s.races > 0:
			s.races--
			s.inside = true
			defer func() { s.inside = false }()
			value, _, err := s.Get(s.key)
			if err != nil {
				return err
			}
			return s.Set(s.key, value, 0)
		}
		return nil
	})
	return s
}

// arm sets the fault of the next take, on key.
func (s *faultyStore) arm(key string, fault storeFault, races int) {
	s.key, s.fault, s.races, s.down = key, fault, races, false
	if fault == faultCorrupt {
		s.inside = true
		if err := s.Set(key, []byte("not a bucket"), 0); err != nil {
			panic(err)
		}
		s.inside = false
	}
}

// TestTakeOneMatchesTake runs the same takes of one bucket that is not
// per-user through Take, which decides them on its own path (takeOne),
// and through the general path (TakeMany), each over its own store, with
// the same store faults: lost races (contention included), corrupt
// values, failing reads and writes. Decisions, errors, the stores'
// contents and the limiters' conflict counts must be the same.
func TestTakeOneMatchesTake(t *testing.T) {
	opts := bucket.Options{Namespace: "ns", MaxAttempts: 3, ContendedRetryAfter: 2 * time.Second}
	buckets := []bucket.Bucket{
		shared(limit(3, time.Minute)),
		shared(limit(7, 60*time.Second)),
		tool("search", limit(2, time.Second)),
		tool("fetch", limit(1000, time.Hour)),
	}
	// seen counts the kinds of outcome, so that the test fails if its
	// takes stop reaching one of them.
	seen := map[string]int{}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			oneStore, manyStore := newFaultyStore(), newFaultyStore()
			oneL, manyL := newLimiter(t, oneStore, opts), newLimiter(t, manyStore, opts)
			now := t0
			for step := range 400 {
				b := buckets[rng.IntN(len(buckets))]
				tokens := rng.Int64N(b.Limit.MaxTokens + 2)
				if rng.IntN(20) == 0 {
					tokens = -1
				}
				now = now.Add(time.Duration(rng.Int64N(int64(b.Limit.RefillPeriod)/b.Limit.MaxTokens*2)) - time.Millisecond)
				fault, races := faultNone, 0
				if rng.IntN(3) == 0 {
					fault, races = storeFault(1+rng.IntN(int(faultCount)-1)), 1+rng.IntN(opts.MaxAttempts+1)
				}
				key := bucket.BucketKeyOf(oneL, b)
				oneStore.arm(key, fault, races)
				manyStore.arm(key, fault, races)
				demands := []bucket.Demand{{Bucket: b, Tokens: tokens}}
				gotD, gotErr := tryTake(t, oneL, now, demands)
				wantD, wantErr := bucket.TakeMany(manyL, now, demands)
				oneStore.arm("", faultNone, 0)
				manyStore.arm("", faultNone, 0)
				what := fmt.Sprintf("step %d: %d tokens of %+v at %v, fault %d (%d races)", step, tokens, b, now, fault, races)
				if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Fatalf("%s: error %v, general path %v", what, gotErr, wantErr)
				}
				if !reflect.DeepEqual(gotD, wantD) {
					t.Fatalf("%s: decision\n%+v\ngeneral path\n%+v", what, gotD, wantD)
				}
				for _, k := range manyStore.Keys() {
					got, _, _ := oneStore.Get(k)
					want, _, _ := manyStore.Get(k)
					if string(got) != string(want) {
						t.Fatalf("%s: key %q holds %x, general path %x", what, k, got, want)
					}
				}
				if len(oneStore.Keys()) != len(manyStore.Keys()) {
					t.Fatalf("%s: keys %q, general path %q", what, oneStore.Keys(), manyStore.Keys())
				}
				switch {
				case wantErr != nil:
					seen["error"]++
				case wantD.Contended:
					seen["contended"]++
				case wantD.OverCapacity:
					seen["over capacity"]++
				case wantD.Allowed:
					seen["admitted"]++
				default:
					seen["rejected"]++
				}
				got, want := oneL.Stats(), manyL.Stats()
				if got.Conflicts != want.Conflicts || got.Contended != want.Contended || got.CorruptValues != want.CorruptValues {
					t.Fatalf("%s: stats %+v, general path %+v", what, got, want)
				}
			}
		})
	}
	for _, outcome := range []string{"admitted", "rejected", "over capacity", "contended", "error"} {
		if seen[outcome] == 0 {
			t.Errorf("no take ended %s: %v", outcome, seen)
		}
	}
}
