package bucket

// The limiter's synchronisation inside a Wasm VM: plain fields.
//
// The proxy-wasm host calls a VM from one thread, and the filter starts
// no goroutine, so one take runs at a time and only the Go runtime's own
// goroutines (the collector's) can run while a take is under way; they
// never touch a limiter. There sync.Mutex and sync/atomic are calls that
// guard nothing, two calls each per operation (docs/benchmarks.md, "Locks
// and atomics as plain fields"). A program that calls one limiter from
// several goroutines of one VM must lock around it itself.

// mutex guards a limiter's caches; in a VM there is nothing to guard.
type mutex struct{}

func (*mutex) Lock()   {}
func (*mutex) Unlock() {}

// counter is one of a limiter's statistics.
type counter struct{ n uint64 }

func (c *counter) Add(delta uint64) uint64 {
	c.n += delta
	return c.n
}

func (c *counter) Load() uint64 { return c.n }

func (c *counter) Store(v uint64) { c.n = v }

// pointer is a value a limiter swaps whole: its hasher, its take memory,
// a user's last slot key.
type pointer[T any] struct{ p *T }

func (p *pointer[T]) Load() *T { return p.p }

func (p *pointer[T]) Store(v *T) { p.p = v }

func (p *pointer[T]) Swap(v *T) *T {
	old := p.p
	p.p = v
	return old
}
