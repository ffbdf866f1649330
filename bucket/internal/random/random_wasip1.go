//go:build wasip1

package random

import (
	"io"
	"strconv"
	"unsafe"
)

// Reader reads WASI random_get.
var Reader io.Reader = reader{}

//go:wasmimport wasi_snapshot_preview1 random_get
//go:noescape
func randomGet(buf unsafe.Pointer, bufLen uint32) uint32

type reader struct{}

// Read fills b with random bytes: all of them, or none and an error.
func (reader) Read(b []byte) (int, error) {
	for rest := b; len(rest) > 0; {
		n := min(len(rest), 1<<30)
		if e := randomGet(unsafe.Pointer(unsafe.SliceData(rest)), uint32(n)); e != 0 {
			return 0, errno(e)
		}
		rest = rest[n:]
	}
	return len(b), nil
}

// errno is a WASI error number that random_get returned.
type errno uint32

func (e errno) Error() string {
	return "random_get: errno " + strconv.FormatUint(uint64(e), 10)
}
