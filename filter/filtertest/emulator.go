package filtertest

import (
	"sync"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
)

// The SDK keeps its host emulator and VM state in package variables: only
// one emulator can be live, and proxytest.NewHostEmulator waits until the
// previous one is released. NewHostEmulator is the one guard over that
// state for the tests of this repository.
var (
	emulatorMu  sync.Mutex
	liveRelease func()
)

// NewHostEmulator releases the emulator it started before, if it is still
// live, then starts a proxytest host emulator with opt. release ends it and
// may be called more than once.
func NewHostEmulator(opt *proxytest.EmulatorOption) (host proxytest.HostEmulator, release func()) {
	emulatorMu.Lock()
	defer emulatorMu.Unlock()
	if liveRelease != nil {
		liveRelease()
	}
	host, reset := proxytest.NewHostEmulator(opt)
	var once sync.Once
	release = func() { once.Do(reset) }
	liveRelease = release
	return host, release
}
