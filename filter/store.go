package filter

import (
	"fmt"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// hostKVStore is bucket.Store over Envoy shared data
// (proxy_get_shared_data / proxy_set_shared_data). Envoy keeps one store per
// vm_id in the process, shared by the VMs of every worker, with a global CAS
// counter (proxy-wasm-cpp-host src/shared_data.cc).
// Its methods have pointer receivers: a value in an interface would
// have Go call them through a wrapper, one call more in the VM each time.
type hostKVStore struct{}

// Get returns the value of key and its CAS, or bucket.ErrNotFound. The
// value is memory the filter reuses for the next read, as bucket.Store
// allows, never memory the host or its emulator keeps (see
// getSharedData).
func (*hostKVStore) Get(key string) ([]byte, uint32, error) {
	value, cas, status := getSharedData(key)
	switch status {
	case statusOK:
		return value, cas, nil
	case statusNotFound:
		return nil, 0, bucket.ErrNotFound
	}
	return nil, 0, fmt.Errorf("get shared data %q: %w", key, status.err())
}

// Set writes value under key if cas matches (0: unconditionally), else
// returns bucket.ErrCASMismatch.
func (s *hostKVStore) Set(key string, value []byte, cas uint32) error {
	status := setSharedData(key, value, cas)
	if cas == 0 && status == statusCASMismatch {
		// Envoy never answers a cas-0 write with a mismatch (cas 0 means
		// "no check", proxy-wasm-cpp-host src/shared_data.cc). The SDK's
		// proxytest emulator does whenever the key exists; write with the
		// key's current CAS then, which is what an unconditional write
		// amounts to.
		status = s.overwrite(key, value)
	}
	switch status {
	case statusOK:
		return nil
	case statusCASMismatch:
		return bucket.ErrCASMismatch
	}
	return fmt.Errorf("set shared data %q: %w", key, status.err())
}

// maxOverwriteTries bounds overwrite's read-and-write loop.
const maxOverwriteTries = 8

// overwrite writes value under key whatever it holds, with the CAS of the
// value it replaces; it retries when another writer comes in between.
func (*hostKVStore) overwrite(key string, value []byte) hostStatus {
	var status hostStatus
	for range maxOverwriteTries {
		_, cas, got := getSharedData(key)
		if got != statusOK && got != statusNotFound {
			return got
		}
		status = setSharedData(key, value, cas)
		if status != statusCASMismatch {
			return status
		}
	}
	return status
}
