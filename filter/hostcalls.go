package filter

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// hostStatus is a proxy-wasm host call's result (WasmResult).
type hostStatus uint32

// The results the filter tells apart.
const (
	statusOK          hostStatus = 0
	statusNotFound    hostStatus = 1
	statusBadArgument hostStatus = 2
	statusEmpty       hostStatus = 7
	statusCASMismatch hostStatus = 8
	statusInternal    hostStatus = 10
	statusUnimpl      hostStatus = 12
)

// hostStatusErrors are the SDK's errors of the statuses it names.
var hostStatusErrors = map[hostStatus]error{
	statusNotFound: types.ErrorStatusNotFound, statusBadArgument: types.ErrorStatusBadArgument,
	statusEmpty: types.ErrorStatusEmpty, statusCASMismatch: types.ErrorStatusCasMismatch,
	statusInternal: types.ErrorInternalFailure, statusUnimpl: types.ErrorUnimplemented,
}

// err is the status as the SDK reports it: nil for statusOK, else one of
// its errors (types.ErrorStatus...).
func (s hostStatus) err() error {
	if s == statusOK {
		return nil
	}
	return s.failure()
}

// failure is err of a status other than statusOK, apart so that err is
// small enough to be inlined into every host call.
func (s hostStatus) failure() error {
	if err, ok := hostStatusErrors[s]; ok {
		return err
	}
	return errors.New("unknown status code: " + strconv.Itoa(int(s)))
}

// appendPairs appends pairs serialised as parsePairs reads them.
func appendPairs(dst []byte, pairs [][2]string) []byte {
	// By index: ranging over the pairs by value copies each, a call in a
	// Wasm VM.
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pairs)))
	for i := range pairs {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pairs[i][0])))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(pairs[i][1])))
	}
	for i := range pairs {
		dst = append(appendText(dst, pairs[i][0]), 0)
		dst = append(appendText(dst, pairs[i][1]), 0)
	}
	return dst
}

// appendText appends s to dst: a short s (a local reply's header names and
// values) byte by byte, which costs less than runtime.memmove's call in a
// Wasm VM.
func appendText(dst []byte, s string) []byte {
	if len(s) > 32 {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		dst = append(dst, s[i])
	}
	return dst
}

// errMalformedPairs: the host's serialised header map does not parse.
var errMalformedPairs = errors.New("malformed header map")

// parsePairs reads the proxy-wasm serialised map (proxy-wasm-cpp-host
// exports.h marshalPairs): a little-endian u32 count, per pair the u32
// sizes of name and value, then per pair the name, a NUL, the value and a
// NUL. The strings returned share b's memory.
func parsePairs(b []byte) ([][2]string, error) {
	return appendParsedPairs(nil, b)
}

// appendParsedPairs is parsePairs into dst's memory when it has room.
func appendParsedPairs(dst [][2]string, b []byte) ([][2]string, error) {
	if len(b) < 4 {
		return nil, errMalformedPairs
	}
	n := uint64(binary.LittleEndian.Uint32(b))
	if 4+8*n > uint64(len(b)) {
		return nil, errMalformedPairs
	}
	pairs := dst[:0]
	if pairs == nil || uint64(cap(pairs)) < n {
		pairs = make([][2]string, n)
	}
	pairs = pairs[:n]
	data := 4 + 8*n
	for i := range pairs {
		sizes := b[4+8*i:]
		k, v := uint64(binary.LittleEndian.Uint32(sizes)), uint64(binary.LittleEndian.Uint32(sizes[4:]))
		if data+k+1+v+1 > uint64(len(b)) {
			return nil, errMalformedPairs
		}
		pairs[i] = [2]string{view(b[data : data+k]), view(b[data+k+1 : data+k+1+v])}
		data += k + 1 + v + 1
	}
	return pairs, nil
}

// view is the string of b's bytes, sharing its memory; b must not be
// written while the string is in use.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
