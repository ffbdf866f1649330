// Package random provides cryptographically secure random bytes without
// crypto/rand, which links Go's FIPS 140 DRBG and AES into the Wasm
// module. On wasip1 it reads WASI's random_get, which is what crypto/rand
// itself reads there; elsewhere it is crypto/rand.
package random
