//go:build !wasip1

package bucket

import (
	"sync"
	"sync/atomic"
)

// The limiter's synchronisation. Natively these are the sync and
// sync/atomic types: a StoreLimiter is safe for concurrent use. In a Wasm
// VM they are plain fields (sync_wasip1.go).

// mutex guards a limiter's caches.
type mutex = sync.Mutex

// counter is one of a limiter's statistics.
type counter = atomic.Uint64

// pointer is a value a limiter swaps whole: its hasher, its take memory,
// a user's last slot key.
type pointer[T any] = atomic.Pointer[T]
