package filterchain

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scripted is a filter whose answers come from functions; it records what
// it saw.
type scripted struct {
	dec     DecoderCallbacks
	enc     EncoderCallbacks
	headers func(f *scripted, h *HeaderMap, end bool) HeadersStatus
	data    func(f *scripted, d *Buffer, end bool) DataStatus
	events  []string
	logged  bool
	destroy bool
}

func (f *scripted) SetCallbacks(d DecoderCallbacks, e EncoderCallbacks) { f.dec, f.enc = d, e }

func (f *scripted) DecodeHeaders(h *HeaderMap, end bool) HeadersStatus {
	f.events = append(f.events, fmt.Sprintf("headers end=%v", end))
	if f.headers != nil {
		return f.headers(f, h, end)
	}
	return HeadersContinue
}

func (f *scripted) DecodeData(d *Buffer, end bool) DataStatus {
	f.events = append(f.events, fmt.Sprintf("data %q end=%v", d.Bytes(), end))
	if f.data != nil {
		return f.data(f, d, end)
	}
	return DataContinue
}

func (f *scripted) DecodeTrailers(*HeaderMap) TrailersStatus {
	f.events = append(f.events, "trailers")
	return TrailersContinue
}

func (f *scripted) EncodeHeaders(h *HeaderMap, end bool) HeadersStatus {
	s, _ := h.Get(":status")
	f.events = append(f.events, "response "+s)
	return HeadersContinue
}

func (f *scripted) EncodeData(*Buffer, bool) DataStatus      { return DataContinue }
func (f *scripted) EncodeTrailers(*HeaderMap) TrailersStatus { return TrailersContinue }
func (f *scripted) Log(*StreamInfo)                          { f.logged = true }
func (f *scripted) OnDestroy()                               { f.destroy = true }

// echoUpstream records the request it received and answers 200 with the
// body it got.
type echoUpstream struct {
	m       *Manager
	headers *HeaderMap
	body    []byte
	chunks  int
}

func (u *echoUpstream) Headers(h *HeaderMap, end bool) {
	u.headers = h
	if end {
		u.answer()
	}
}

func (u *echoUpstream) Data(b []byte, end bool) {
	u.body = append(u.body, b...)
	u.chunks++
	if end {
		u.answer()
	}
}

func (u *echoUpstream) Trailers(*HeaderMap) { u.answer() }
func (u *echoUpstream) Reset()              {}

func (u *echoUpstream) answer() {
	u.m.ResponseHeaders(NewHeaderMap([2]string{":status", "200"}), false, nil)
	u.m.ResponseData(append([]byte(nil), u.body...), true, nil)
}

type sink struct {
	status int
	body   []byte
	hdrs   *HeaderMap
	reset  bool
}

func (s *sink) WriteHeaders(h *HeaderMap, end bool) error {
	s.hdrs = h
	v, _ := h.Get(":status")
	s.status, _ = strconv.Atoi(v)
	return nil
}
func (s *sink) WriteData(b []byte, end bool) error { s.body = append(s.body, b...); return nil }
func (s *sink) WriteTrailers(*HeaderMap) error     { return nil }
func (s *sink) Reset()                             { s.reset = true }

type result struct {
	down *sink
	up   *echoUpstream
	info *StreamInfo
}

// run sends a POST with the body in the given chunks.
func run(t *testing.T, filters []Filter, limit int, chunks ...string) result {
	t.Helper()
	down := &sink{}
	var up *echoUpstream
	m := New(Config{Filters: filters, BufferLimit: limit, IdleTimeout: 5 * time.Second, Downstream: down,
		NewUpstream: func(m *Manager) Upstream { up = &echoUpstream{m: m}; return up }})
	m.RequestHeaders(NewHeaderMap([2]string{":method", "POST"}, [2]string{":path", "/"}), len(chunks) == 0, nil)
	for i, c := range chunks {
		m.RequestData([]byte(c), i == len(chunks)-1, nil)
	}
	done := make(chan struct{})
	defer close(done)
	info := m.Run(done)
	return result{down: down, up: up, info: info}
}

func TestContinuePassesEverything(t *testing.T) {
	f := &scripted{}
	r := run(t, []Filter{f}, 0, "ab", "cd")
	if r.down.status != 200 || string(r.down.body) != "abcd" || r.up.chunks != 2 {
		t.Fatalf("status %d body %q chunks %d", r.down.status, r.down.body, r.up.chunks)
	}
	if !f.logged || !f.destroy {
		t.Fatal("Log and OnDestroy were not called")
	}
}

func TestStopIterationAndBufferAccumulates(t *testing.T) {
	// The filter buffers until the end of stream, like the rate-limit
	// filter: the upstream must get the whole body in one piece, after it.
	f := &scripted{
		headers: func(*scripted, *HeaderMap, bool) HeadersStatus { return HeadersStopIteration },
		data: func(f *scripted, d *Buffer, end bool) DataStatus {
			if !end {
				return DataStopIterationAndBuffer
			}
			return DataContinue
		},
	}
	r := run(t, []Filter{f}, 0, "a", "b", "c")
	if string(r.up.body) != "abc" || r.up.chunks != 1 {
		t.Fatalf("upstream got %q in %d chunks", r.up.body, r.up.chunks)
	}
	want := []string{"headers end=false", `data "a" end=false`, `data "b" end=false`, `data "c" end=true`, "response 200"}
	if strings.Join(f.events, "|") != strings.Join(want, "|") {
		t.Fatalf("events = %q, want %q", f.events, want)
	}
}

func TestBufferLimitAnswers413(t *testing.T) {
	f := &scripted{data: func(*scripted, *Buffer, bool) DataStatus { return DataStopIterationAndBuffer }}
	r := run(t, []Filter{f}, 4, "abc", "de", "f")
	if r.down.status != 413 || string(r.down.body) != "Payload Too Large" || r.info.Details != DetailsRequestPayloadTooLarge {
		t.Fatalf("status %d body %q details %q", r.down.status, r.down.body, r.info.Details)
	}
	if ct, _ := r.down.hdrs.Get("content-type"); ct != "text/plain" {
		t.Fatalf("content-type %q", ct)
	}
}

func TestLocalReplyEndsTheStream(t *testing.T) {
	f := &scripted{headers: func(f *scripted, h *HeaderMap, end bool) HeadersStatus {
		f.dec.SendLocalReply(LocalReply{Status: 429, Body: []byte(`{"x":1}`), Headers: [][2]string{{"content-type", "application/json"}, {"retry-after", "3"}}, Details: "limited"})
		return HeadersStopIteration
	}}
	second := &scripted{}
	r := run(t, []Filter{f, second}, 0, "body")
	if r.up != nil {
		t.Fatal("the request reached the upstream")
	}
	ct, _ := r.down.hdrs.Get("content-type")
	ra, _ := r.down.hdrs.Get("retry-after")
	cl, _ := r.down.hdrs.Get("content-length")
	if r.down.status != 429 || ct != "application/json" || ra != "3" || cl != "7" || string(r.down.body) != `{"x":1}` {
		t.Fatalf("reply %d %v %q", r.down.status, r.down.hdrs.Pairs(), r.down.body)
	}
	// Both filters see the reply on the way out; the second never saw the request.
	if got := strings.Join(second.events, "|"); got != "response 429" {
		t.Fatalf("second filter events %q", got)
	}
	if f.events[len(f.events)-1] != "response 429" {
		t.Fatalf("first filter events %q", f.events)
	}
}

func TestContinueDecodingFromAnotherGoroutine(t *testing.T) {
	f := &scripted{headers: func(f *scripted, h *HeaderMap, end bool) HeadersStatus {
		go func() {
			time.Sleep(10 * time.Millisecond)
			f.dec.ContinueDecoding()
		}()
		return HeadersStopAllIterationAndBuffer
	}}
	r := run(t, []Filter{f}, 0, "x", "y")
	if r.down.status != 200 || string(r.up.body) != "xy" {
		t.Fatalf("status %d upstream body %q", r.down.status, r.up.body)
	}
	// StopAllIteration: the filter sees no data while stopped.
	if len(f.events) != 2 || f.events[1] != "response 200" {
		t.Fatalf("events %q", f.events)
	}
}

func TestStopAllIterationBufferLimit(t *testing.T) {
	f := &scripted{headers: func(*scripted, *HeaderMap, bool) HeadersStatus { return HeadersStopAllIterationAndBuffer }}
	r := run(t, []Filter{f}, 3, "ab", "cd")
	if r.down.status != 413 {
		t.Fatalf("status %d", r.down.status)
	}
}

func TestIdleTimeoutAnswers408(t *testing.T) {
	f := &scripted{headers: func(*scripted, *HeaderMap, bool) HeadersStatus { return HeadersStopIteration }}
	down := &sink{}
	m := New(Config{Filters: []Filter{f}, IdleTimeout: 20 * time.Millisecond, Downstream: down,
		NewUpstream: func(m *Manager) Upstream { return &echoUpstream{m: m} }})
	m.RequestHeaders(NewHeaderMap([2]string{":method", "GET"}), true, nil)
	done := make(chan struct{})
	defer close(done)
	info := m.Run(done)
	if down.status != 408 || info.Details != DetailsStreamIdleTimeout {
		t.Fatalf("status %d details %q", down.status, info.Details)
	}
}

func TestHeaderMap(t *testing.T) {
	h := NewHeaderMap([2]string{"A", "1"}, [2]string{"b", "2"}, [2]string{"a", "3"})
	if v, _ := h.Get("a"); v != "1" {
		t.Fatalf("Get = %q", v)
	}
	h.Set("a", "x")
	if got := h.Values("a"); len(got) != 2 || got[0] != "x" || got[1] != "3" {
		t.Fatalf("after Set: %v", got)
	}
	h.Remove("A")
	if h.Len() != 1 || h.ByteSize() != 2 {
		t.Fatalf("after Remove: %v size %d", h.Pairs(), h.ByteSize())
	}
}
