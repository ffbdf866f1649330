package bucket

import (
	"errors"
	"fmt"
)

// sentinelValue is what create writes to the sentinel key.
var sentinelValue = []byte{1}

// maxSentinelTries bounds the compare-and-swap loop on the sentinel.
const maxSentinelTries = 8

// create writes value under a key that did not exist when it was read, and
// fails with ErrCASMismatch if somebody else has created it since.
//
// proxy-wasm shared data has no create-if-absent: a Set on a missing key
// succeeds whatever CAS it carries, and a Set with CAS 0 overwrites an
// existing key (proxy-wasm-cpp-host src/shared_data.cc, SharedData::set).
// Two workers that both found the key missing would both "create" it and
// one debit would be lost. The CAS values come from one counter of the
// process (SharedData::nextCas), each value given to exactly one write.
// So create rewrites the namespace's sentinel key, reads its CAS c back (a
// value that the sentinel holds, hence no other key holds), and writes
// the key with CAS c: if the key is still missing the write succeeds; if
// somebody created it in between, its CAS differs from c and the write
// fails with ErrCASMismatch, and the take reads the key again.
//
// The sentinel is rewritten with the CAS it was read with, not with CAS 0:
// the SDK's host emulator (proxy-wasm-go-sdk proxywasm/proxytest/root.go)
// keeps a counter per key and treats CAS 0 as a CAS like any other, and
// the filter's native tests run on it.
//
// Residual risk: the counter is 32 bits and wraps (skipping 0). The key's
// CAS and c were both issued after this take read the key missing, so
// they can only be equal if 2^32-1 shared-data writes happened in the
// process between two consecutive host calls of this take; the check would
// then overwrite the key and lose its debits once.
func (l *StoreLimiter) create(key string, value []byte) error {
	var sentinel uint32
	return l.createWith(key, value, &sentinel)
}

// createWith is create with the sentinel's CAS kept in *sentinel (0: not
// touched yet), so that the creates of one attempt of a take touch the
// sentinel once. That is as safe as a touch per key: the CAS was issued
// to the sentinel's write after the attempt read all its keys missing,
// and no other key ever holds it (a key created with it gets a CAS of its
// own), so each key written with it is still refused if anybody created
// it since the attempt read it.
func (l *StoreLimiter) createWith(key string, value []byte, sentinel *uint32) error {
	if *sentinel == 0 {
		cas, err := l.touchSentinel(l.keys.sentinel())
		if err != nil {
			return err
		}
		*sentinel = cas
	}
	return l.store.Set(key, value, *sentinel)
}

// touchSentinel rewrites the sentinel key and returns the CAS it holds
// after that.
func (l *StoreLimiter) touchSentinel(sentinel string) (uint32, error) {
	for range maxSentinelTries {
		_, cas, err := l.store.Get(sentinel)
		if err != nil && !notFound(err) {
			return 0, fmt.Errorf("read %s: %w", sentinel, err)
		}
		err = l.store.Set(sentinel, sentinelValue, cas)
		if errors.Is(err, ErrCASMismatch) {
			continue // another worker touched it in between
		}
		if err != nil {
			return 0, fmt.Errorf("write %s: %w", sentinel, err)
		}
		_, cas, err = l.store.Get(sentinel)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", sentinel, err)
		}
		return cas, nil
	}
	return 0, fmt.Errorf("write %s: contended: %w", sentinel, ErrCASMismatch)
}
