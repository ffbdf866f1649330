package filter

import (
	"errors"
	"fmt"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// hostKVStore is bucket.Store over Envoy shared data
// (proxy_get_shared_data / proxy_set_shared_data). Envoy keeps one store per
// vm_id in the process, shared by the VMs of every worker, with a global CAS
// counter (proxy-wasm-cpp-host src/shared_data.cc).
type hostKVStore struct{}

// Get returns a copy of the value of key and its CAS, or bucket.ErrNotFound.
// The copy keeps the caller from holding (or writing into) memory the host
// handed over.
func (hostKVStore) Get(key string) ([]byte, uint32, error) {
	value, cas, err := proxywasm.GetSharedData(key)
	switch {
	case errors.Is(err, types.ErrorStatusNotFound):
		return nil, 0, bucket.ErrNotFound
	case err != nil:
		return nil, 0, fmt.Errorf("get shared data %q: %w", key, err)
	}
	return append([]byte(nil), value...), cas, nil
}

// Set writes value under key if cas matches (0: unconditionally), else
// returns bucket.ErrCASMismatch.
func (s hostKVStore) Set(key string, value []byte, cas uint32) error {
	err := proxywasm.SetSharedData(key, value, cas)
	if cas == 0 && errors.Is(err, types.ErrorStatusCasMismatch) {
		// Envoy never answers a cas-0 write with a mismatch (cas 0 means
		// "no check", proxy-wasm-cpp-host src/shared_data.cc). The SDK's
		// proxytest emulator does whenever the key exists; write with the
		// key's current CAS then, which is what an unconditional write
		// amounts to.
		err = s.overwrite(key, value)
	}
	switch {
	case errors.Is(err, types.ErrorStatusCasMismatch):
		return bucket.ErrCASMismatch
	case err != nil:
		return fmt.Errorf("set shared data %q: %w", key, err)
	}
	return nil
}

// maxOverwriteTries bounds overwrite's read-and-write loop.
const maxOverwriteTries = 8

// overwrite writes value under key whatever it holds, with the CAS of the
// value it replaces; it retries when another writer comes in between.
func (hostKVStore) overwrite(key string, value []byte) error {
	var err error
	for range maxOverwriteTries {
		var cas uint32
		_, cas, err = proxywasm.GetSharedData(key)
		if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
			return err
		}
		err = proxywasm.SetSharedData(key, value, cas)
		if !errors.Is(err, types.ErrorStatusCasMismatch) {
			return err
		}
	}
	return err
}
