package bucket

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// saltSize is the length of a new salt.
const saltSize = 32

// getHasher returns the user hasher keyed with the namespace's salt,
// creating the salt on first use. Once read the salt never changes: Envoy
// drops the shared data of a vm_id only with its last VM, and this
// limiter lives in one of them. Concurrent first calls may both read (or
// race to create) it; create lets only one salt win, so they agree.
func (l *StoreLimiter) getHasher() (*userHasher, error) {
	if h := l.hasher.Load(); h != nil {
		return h, nil
	}
	salt, err := l.readSalt()
	if err != nil {
		return nil, err
	}
	h := newUserHasher(salt)
	l.hasher.Store(h)
	return h, nil
}

// readSalt reads the namespace's salt, creating it if it is missing.
func (l *StoreLimiter) readSalt() ([]byte, error) {
	key := l.keys.salt()
	for range 3 {
		value, _, err := l.store.Get(key)
		if err == nil {
			return bytes.Clone(value), nil // see Store: value may be reused
		}
		if !notFound(err) {
			return nil, fmt.Errorf("bucket: read %s: %w", key, err)
		}
		fresh := make([]byte, saltSize)
		if _, err := io.ReadFull(l.opts.Random, fresh); err != nil {
			return nil, fmt.Errorf("bucket: generate salt: %w", err)
		}
		err = l.create(key, fresh)
		if err == nil {
			return fresh, nil
		}
		if !errors.Is(err, ErrCASMismatch) {
			return nil, fmt.Errorf("bucket: write %s: %w", key, err)
		}
	}
	return nil, fmt.Errorf("bucket: salt %s: still contended after 3 attempts", key)
}
