// Package filterchain is the local host's emulation of Envoy's HTTP filter
// manager (source/common/http/filter_manager.cc): it runs a request through
// an ordered chain of decoder/encoder filters and a router, honouring the
// statuses each filter returns (Continue, StopIteration, buffering with the
// per-stream buffer limit answered by 413), continueDecoding and
// continueEncoding called later from another goroutine (a tick or a
// callout), and local replies that end the stream.
//
// The package knows nothing about Wasm: the proxy-wasm stream context in
// envoy/host/proxywasm implements Filter, and envoy/host supplies the router
// that talks to upstream clusters. Tests and benchmarks can drive a chain
// without any network.
package filterchain

import (
	"strings"
)

// HeadersStatus is what a filter returns from DecodeHeaders/EncodeHeaders
// (envoy/http/filter.h FilterHeadersStatus).
type HeadersStatus int

// Header statuses.
const (
	HeadersContinue HeadersStatus = iota
	HeadersStopIteration
	HeadersContinueAndEndStream
	HeadersStopAllIterationAndBuffer
	HeadersStopAllIterationAndWatermark
)

// DataStatus is what a filter returns from DecodeData/EncodeData
// (envoy/http/filter.h FilterDataStatus).
type DataStatus int

// Data statuses.
const (
	DataContinue DataStatus = iota
	DataStopIterationAndBuffer
	DataStopIterationAndWatermark
	DataStopIterationNoBuffer
)

// TrailersStatus is what a filter returns from DecodeTrailers/EncodeTrailers.
type TrailersStatus int

// Trailer statuses.
const (
	TrailersContinue TrailersStatus = iota
	TrailersStopIteration
)

// HeaderMap is an ordered list of header entries with lower-case names, as
// Envoy's header maps are. Requests carry the pseudo-headers :method, :path,
// :authority and :scheme; responses carry :status.
type HeaderMap struct {
	entries [][2]string
}

// NewHeaderMap returns a map holding copies of the given pairs (names are
// lower-cased).
func NewHeaderMap(pairs ...[2]string) *HeaderMap {
	h := &HeaderMap{}
	for _, p := range pairs {
		h.Add(p[0], p[1])
	}
	return h
}

// Len is the number of entries.
func (h *HeaderMap) Len() int { return len(h.entries) }

// Pairs returns the entries in order (the slice must not be modified).
func (h *HeaderMap) Pairs() [][2]string { return h.entries }

// Get returns the first value of name.
func (h *HeaderMap) Get(name string) (string, bool) {
	name = strings.ToLower(name)
	for _, e := range h.entries {
		if e[0] == name {
			return e[1], true
		}
	}
	return "", false
}

// Values returns every value of name, in order.
func (h *HeaderMap) Values(name string) []string {
	name = strings.ToLower(name)
	var out []string
	for _, e := range h.entries {
		if e[0] == name {
			out = append(out, e[1])
		}
	}
	return out
}

// Add appends an entry.
func (h *HeaderMap) Add(name, value string) {
	h.entries = append(h.entries, [2]string{strings.ToLower(name), value})
}

// Set replaces the value of the first entry named name (adding one when
// there is none), as Envoy's HeaderMap::setCopy does.
func (h *HeaderMap) Set(name, value string) {
	name = strings.ToLower(name)
	for i := range h.entries {
		if h.entries[i][0] == name {
			h.entries[i][1] = value
			return
		}
	}
	h.entries = append(h.entries, [2]string{name, value})
}

// Remove deletes every entry named name.
func (h *HeaderMap) Remove(name string) {
	name = strings.ToLower(name)
	out := h.entries[:0]
	for _, e := range h.entries {
		if e[0] != name {
			out = append(out, e)
		}
	}
	h.entries = out
}

// Replace swaps the whole content for the given pairs.
func (h *HeaderMap) Replace(pairs [][2]string) {
	h.entries = h.entries[:0]
	for _, p := range pairs {
		h.Add(p[0], p[1])
	}
}

// ByteSize is the sum of the names' and values' lengths (Envoy's
// HeaderMap::byteSize).
func (h *HeaderMap) ByteSize() int {
	n := 0
	for _, e := range h.entries {
		n += len(e[0]) + len(e[1])
	}
	return n
}

// Clone returns a deep copy.
func (h *HeaderMap) Clone() *HeaderMap {
	return &HeaderMap{entries: append([][2]string(nil), h.entries...)}
}

// Buffer is a body buffer (Envoy's Buffer::Instance, simplified to one
// contiguous slice).
type Buffer struct {
	data []byte
}

// NewBuffer returns a buffer holding b (not copied).
func NewBuffer(b []byte) *Buffer { return &Buffer{data: b} }

// Len is the number of bytes held.
func (b *Buffer) Len() int {
	if b == nil {
		return 0
	}
	return len(b.data)
}

// Bytes returns the content (not a copy).
func (b *Buffer) Bytes() []byte {
	if b == nil {
		return nil
	}
	return b.data
}

// Append adds p at the end.
func (b *Buffer) Append(p []byte) { b.data = append(b.data, p...) }

// Prepend adds p at the start.
func (b *Buffer) Prepend(p []byte) { b.data = append(append([]byte(nil), p...), b.data...) }

// SetBytes replaces the content.
func (b *Buffer) SetBytes(p []byte) { b.data = append(b.data[:0], p...) }

// Move appends src's content to b and empties src.
func (b *Buffer) Move(src *Buffer) {
	if src == nil || len(src.data) == 0 {
		return
	}
	if len(b.data) == 0 {
		b.data, src.data = src.data, nil
		return
	}
	b.data = append(b.data, src.data...)
	src.data = nil
}

// Reset empties the buffer.
func (b *Buffer) Reset() { b.data = nil }

// LocalReply is a response produced by the host or a filter instead of the
// upstream (Envoy's sendLocalReply).
type LocalReply struct {
	Status int
	Body   []byte
	// Headers are added to the reply (after :status, before Envoy's
	// content-length and content-type).
	Headers [][2]string
	// Details is the response code details (e.g. "request_payload_too_large").
	Details string
}

// DecoderCallbacks is what a filter may ask of the filter manager while it
// decodes a request (envoy/http/filter.h StreamDecoderFilterCallbacks).
// Every method is safe to call from any goroutine; the manager applies
// them in order on the stream's own goroutine, after the filter call in
// progress returns (as Envoy defers them to after the VM call).
type DecoderCallbacks interface {
	// ContinueDecoding resumes a stopped request.
	ContinueDecoding()
	// SendLocalReply ends the stream with a reply of the host.
	SendLocalReply(r LocalReply)
	// ResetStream aborts the stream.
	ResetStream()
	// DecodingBuffer is the data this filter has buffered so far (nil when
	// none). Only valid during a filter call on the stream's goroutine.
	DecodingBuffer() *Buffer
	// AddDecodedData moves data into this filter's buffer, enforcing the
	// stream's buffer limit. It returns false when the limit was exceeded
	// (the manager then answers 413). Only valid during a filter call.
	AddDecodedData(data *Buffer) bool
}

// EncoderCallbacks is the response-side counterpart of DecoderCallbacks.
type EncoderCallbacks interface {
	ContinueEncoding()
	SendLocalReply(r LocalReply)
	ResetStream()
	EncodingBuffer() *Buffer
	AddEncodedData(data *Buffer) bool
}

// StreamInfo is what a filter can learn about the stream at log time.
type StreamInfo struct {
	RequestHeaders   *HeaderMap
	ResponseHeaders  *HeaderMap
	ResponseTrailers *HeaderMap
	ResponseCode     int
	Details          string
	BytesReceived    int
	BytesSent        int
}

// Filter is one HTTP filter of the chain (a decoder and encoder filter).
type Filter interface {
	// SetCallbacks hands the filter its callbacks before the first event.
	SetCallbacks(dec DecoderCallbacks, enc EncoderCallbacks)
	DecodeHeaders(h *HeaderMap, endStream bool) HeadersStatus
	DecodeData(data *Buffer, endStream bool) DataStatus
	DecodeTrailers(t *HeaderMap) TrailersStatus
	EncodeHeaders(h *HeaderMap, endStream bool) HeadersStatus
	EncodeData(data *Buffer, endStream bool) DataStatus
	EncodeTrailers(t *HeaderMap) TrailersStatus
	// Log is called once when the stream is complete, before OnDestroy
	// (Envoy calls access log handlers, the Wasm filter's onLog, first).
	Log(info *StreamInfo)
	// OnDestroy is called last.
	OnDestroy()
}
