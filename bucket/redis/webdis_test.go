package redis

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket/redis/redistest"
)

// httpTransport posts to a real webdis with its credentials, on its own
// connections, and answers synchronously.
type httpTransport struct {
	url    string
	client *http.Client
}

func newHTTPTransport(w *redistest.Webdis) *httpTransport {
	return &httpTransport{url: "http://" + w.Addr() + "/", client: &http.Client{Transport: &http.Transport{}}}
}

func (h *httpTransport) Post(body []byte, timeout time.Duration, done func(int, []byte, error)) error {
	req, err := http.NewRequest(http.MethodPost, h.url, strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	req.SetBasicAuth(redistest.WebdisUser, redistest.WebdisPassword)
	h.client.Timeout = timeout
	resp, err := h.client.Do(req)
	if err != nil {
		done(0, nil, err)
		return nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	done(resp.StatusCode, data, err)
	return nil
}

// webdisLimiter is a Limiter through a real webdis that fails closed, so
// that any failure shows.
func webdisLimiter(t *testing.T, w *redistest.Webdis, namespace string) *Limiter {
	t.Helper()
	l, err := NewLimiter(Options{Transport: newHTTPTransport(w), Namespace: namespace, KeyPrefix: "t",
		Timeout: 5 * time.Second, FailureMode: FailClosed, Clock: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// mustTake takes demands and fails the test on an error.
func mustTake(t *testing.T, l *Limiter, demands []bucket.Demand) bucket.Decision {
	t.Helper()
	var d bucket.Decision
	var err error
	l.Take(time.Now(), demands, bucket.DecisionFunc(func(got bucket.Decision, e error) { d, err = got, e }))
	if err != nil {
		t.Fatalf("take: %v", err)
	}
	return d
}

func demand(kind bucket.Kind, tokens, max int64, period time.Duration) bucket.Demand {
	b := bucket.Bucket{Kind: kind, Limit: bucket.Limit{MaxTokens: max, RefillPeriod: period}}
	if kind == bucket.KindTool || kind == bucket.KindUserTool {
		b.Tool = "search"
	}
	if kind == bucket.KindUser || kind == bucket.KindUserTool {
		b.User = "alice"
	}
	return bucket.Demand{Bucket: b, Tokens: tokens}
}

// TestScriptThroughWebdis runs the shipped script (Redis's own clock)
// through a real webdis: refill, all or nothing, key expiry, and the
// script sent again after Redis forgot it.
func TestScriptThroughWebdis(t *testing.T) {
	r := redistest.StartRedis(t)
	w := redistest.StartWebdis(t, r.Port)

	t.Run("refill", func(t *testing.T) {
		l := webdisLimiter(t, w, "refill")
		d := []bucket.Demand{demand(bucket.KindShared, 1, 2, 400*time.Millisecond)}
		for i := range 2 {
			if got := mustTake(t, l, d); !got.Allowed {
				t.Fatalf("take %d of a full bucket of 2 rejected: %+v", i, got)
			}
		}
		got := mustTake(t, l, d)
		if got.Allowed || got.RetryAfter <= 0 || got.RetryAfter > 200*time.Millisecond || got.Rejected != bucket.KindsOf(bucket.KindShared) {
			t.Fatalf("third take: %+v; want rejected with a wait of at most one token (200ms)", got)
		}
		time.Sleep(got.RetryAfter)
		if got := mustTake(t, l, d); !got.Allowed {
			t.Fatalf("after the advertised wait: %+v; want admitted", got)
		}
	})

	t.Run("all or nothing", func(t *testing.T) {
		l := webdisLimiter(t, w, "all-or-nothing")
		small := demand(bucket.KindTool, 1, 1, time.Hour)
		big := demand(bucket.KindShared, 1, 5, time.Hour)
		if got := mustTake(t, l, []bucket.Demand{big, small}); !got.Allowed {
			t.Fatalf("first take: %+v", got)
		}
		bigKey := l.keys.of(big.Bucket)
		before, err := r.Do("GET", bigKey)
		if err != nil || before == nil {
			t.Fatalf("GET %s: %v, %v", bigKey, before, err)
		}
		got := mustTake(t, l, []bucket.Demand{big, small})
		if got.Allowed || got.Rejected != bucket.KindsOf(bucket.KindTool) {
			t.Fatalf("second take: %+v; want rejected by the tool bucket only", got)
		}
		if after, _ := r.Do("GET", bigKey); after != before {
			t.Errorf("the admitting bucket changed on a rejected take: %v -> %v", before, after)
		}
		if got := mustTake(t, l, []bucket.Demand{big}); !got.Allowed || got.Tightest.Remaining != 3 {
			t.Errorf("the big bucket alone: %+v; want admitted with 3 left", got)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		l := webdisLimiter(t, w, "expiry")
		d := demand(bucket.KindUser, 1, 1, 300*time.Millisecond)
		mustTake(t, l, []bucket.Demand{d})
		key := l.keys.of(d.Bucket)
		ttl, err := r.Do("PTTL", key)
		if err != nil {
			t.Fatal(err)
		}
		if ms := ttl.(int64); ms <= 0 || ms > 300+ExpiryMarginMillis {
			t.Fatalf("PTTL %s = %dms; want the time until full (300ms) plus %dms at most", key, ms, ExpiryMarginMillis)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			v, err := r.Do("EXISTS", key)
			if err != nil {
				t.Fatal(err)
			}
			if v.(int64) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never expired", key)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("NOSCRIPT", func(t *testing.T) {
		l := webdisLimiter(t, w, "noscript")
		d := []bucket.Demand{demand(bucket.KindShared, 1, 10, time.Hour)}
		mustTake(t, l, d)
		if _, err := r.Do("SCRIPT", "FLUSH"); err != nil {
			t.Fatal(err)
		}
		if got := mustTake(t, l, d); !got.Allowed || got.Tightest.Remaining != 8 {
			t.Errorf("after SCRIPT FLUSH: %+v; want admitted with 8 left", got)
		}
	})
}

// TestScriptConcurrency: 32 limiters (as 32 Envoy workers in several
// proxies would have), each on its own connections to webdis, take from
// one bucket of 50 at once: exactly 50 takes are admitted.
func TestScriptConcurrency(t *testing.T) {
	const (
		workers  = 32
		takes    = 4
		capacity = 50
	)
	r := redistest.StartRedis(t)
	w := redistest.StartWebdis(t, r.Port)
	var admitted, rejected atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		l := webdisLimiter(t, w, "concurrency")
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range takes {
				var d bucket.Decision
				var err error
				l.Take(time.Now(), []bucket.Demand{
					demand(bucket.KindShared, 1, capacity, 8760*time.Hour),
					demand(bucket.KindUser, 1, 1000, 8760*time.Hour),
				}, bucket.DecisionFunc(func(got bucket.Decision, e error) { d, err = got, e }))
				switch {
				case err != nil:
					t.Errorf("take: %v", err)
				case d.Allowed:
					admitted.Add(1)
				default:
					rejected.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != capacity || rejected.Load() != workers*takes-capacity {
		t.Errorf("admitted %d, rejected %d; want exactly %d and %d", admitted.Load(), rejected.Load(), capacity, workers*takes-capacity)
	}
	// All or nothing: the user bucket was debited exactly as often.
	l := webdisLimiter(t, w, "concurrency")
	got := mustTake(t, l, []bucket.Demand{demand(bucket.KindUser, 1, 1000, 8760*time.Hour)})
	if want := int64(1000 - capacity - 1); got.Tightest.Remaining != want {
		t.Errorf("the user bucket has %d tokens left, want %d", got.Tightest.Remaining, want)
	}
}

// FuzzParseReply: whatever webdis (or anything answering in its place)
// sends, parseReply returns values or an error, never panics, and never
// returns debts out of range.
func FuzzParseReply(f *testing.F) {
	for _, seed := range []string{
		`{"EVALSHA":[1,0,0,0]}`, `{"EVALSHA":[0,1,999999999,4]}`, `{"EVALSHA":[false,"NOSCRIPT x"]}`,
		`{"EVALSHA":[false,"ERR boom"]}`, `{"EVALSHA":[1,0,0]}`, `{"EVAL":[1,0,0,0]}`, `<html>`, ``,
		`{"EVALSHA":[1,-1,0,0]}`, `{"EVALSHA":[1,1e30,0,0]}`, `{"EVALSHA":[1,0.5,0,0]}`, `{"EVALSHA":null}`,
		`{"EVALSHA":[1,01,0,0]}`, `{"EVALSHA":[1,0,0,]}`, `{"EVALSHA":[]}`, `{"EVALSHA": [1,0,0,0]}`,
		`{"EVALSHA":[1,9007199254740992,0,0]}`, `{"EVALSHA":[1,1000000000000000000,0,0]}`,
	} {
		f.Add(200, []byte(seed))
	}
	plan, err := bucket.PlanRemote([]bucket.Demand{demand(bucket.KindShared, 1, 5, time.Minute)})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if fast, ok := plainWebdisValues(nil, body, "EVALSHA"); ok {
			decoded, err := jsonWebdisValues(body, "EVALSHA")
			if err != nil || !slices.Equal(fast, decoded) {
				t.Fatalf("%q: the plain reader found %v, JSON decoding %v, %v", body, fast, decoded, err)
			}
		}
		checkReadsLikeEncodingJSON(t, body)
		values, err := parseReply(nil, ProtocolWebdis, status, body, false)
		if err != nil {
			return
		}
		d, err := decision(time.Unix(1e9, 0), newKeys("p", "ns"), &takePlan{buckets: plan}, values)
		if err != nil {
			return
		}
		if d.RetryAfter < 0 || d.Tightest.Remaining < 0 {
			t.Fatalf("decision %+v out of range from %q", d, body)
		}
	})
}

// TestPlainWebdisValues: the allocation-free reader takes exactly the
// replies webdis writes for a successful run, with the values JSON
// decoding finds, and leaves everything else to JSON decoding.
func TestPlainWebdisValues(t *testing.T) {
	for _, c := range []struct {
		body string
		want []int64 // nil: not read
	}{
		{`{"EVALSHA":[1,0,0,0]}`, []int64{1, 0, 0, 0}},
		{`{"EVALSHA":[0,12,999999999,4]}`, []int64{0, 12, 999999999, 4}},
		{`{"EVALSHA":[1,999999999999999999,0,0]}`, []int64{1, 999999999999999999, 0, 0}},
		{`{"EVALSHA":[1,1000000000000000000,0,0]}`, nil},
		{`{"EVALSHA":[1,01,0,0]}`, nil},
		{`{"EVALSHA":[1,-1,0,0]}`, nil},
		{`{"EVALSHA":[1,1e3,0,0]}`, nil},
		{`{"EVALSHA":[1,0,0,]}`, nil},
		{`{"EVALSHA":[,1]}`, nil},
		{`{"EVALSHA":[]}`, nil},
		{`{"EVALSHA": [1,0,0,0]}`, nil},
		{`{"EVALSHA":[false,"NOSCRIPT No matching script"]}`, nil},
		{`{"EVAL":[1,0,0,0]}`, nil},
		{`{"EVALSHA":[1,0,0,0]} `, nil},
	} {
		got, ok := plainWebdisValues(nil, []byte(c.body), "EVALSHA")
		if ok != (c.want != nil) || !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, %t; want %v", c.body, got, ok, c.want)
		}
		if ok {
			if decoded, err := jsonWebdisValues([]byte(c.body), "EVALSHA"); err != nil || !slices.Equal(decoded, got) {
				t.Errorf("%s: JSON decoding gives %v, %v", c.body, decoded, err)
			}
		}
	}
}

// encodingJSONWebdisValues reads a webdis reply with Go's encoding/json:
// the reference jsonWebdisValues is checked against. members counts the
// object's members (encoding/json keeps the last of duplicates);
// nestedError is true for [false, <array or object>].
func encodingJSONWebdisValues(body []byte, name string) (values []int64, err error, members int, nestedError bool) {
	var object map[string]json.RawMessage
	if err := json.Unmarshal(body, &object); err != nil {
		return nil, fmt.Errorf("%w: %v", errReply, err), 0, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.Token()
	for dec.More() {
		var skip json.RawMessage
		dec.Token()
		dec.Decode(&skip)
		members++
	}
	raw, ok := object[name]
	if !ok || len(object) != 1 {
		return nil, fmt.Errorf("%w: no %s member", errReply, name), members, false
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%w: %v", errReply, err), members, false
	}
	if len(items) == 2 && string(items[0]) == "false" {
		var text string
		json.Unmarshal(items[1], &text)
		return nil, scriptError(text), members, items[1][0] == '[' || items[1][0] == '{'
	}
	dec = json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var decoded []any
	if err := dec.Decode(&decoded); err != nil {
		return nil, fmt.Errorf("%w: %v", errReply, err), members, false
	}
	values = make([]int64, len(decoded))
	for i, item := range decoded {
		n, ok := item.(json.Number)
		if !ok {
			return nil, fmt.Errorf("%w: value %d is not a number", errReply, i), members, false
		}
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: value %d is %s", errReply, i, n), members, false
		}
		values[i] = v
	}
	return values, nil, members, false
}

// checkReadsLikeEncodingJSON checks that jsonWebdisValues finds the values
// encoding/json finds in body, or an error of the same kind (and the same
// Redis error text), except where the reader is stricter: a second member
// in the object (a duplicate) and an array or object as a Redis error's
// text, which are malformed replies to it.
func checkReadsLikeEncodingJSON(t *testing.T, body []byte) {
	t.Helper()
	got, gotErr := jsonWebdisValues(body, "EVALSHA")
	want, wantErr, members, nestedError := encodingJSONWebdisValues(body, "EVALSHA")
	if members > 1 && gotErr != nil && errors.Is(gotErr, errReply) || nestedError && errors.Is(gotErr, errReply) {
		return
	}
	gotKind, _ := classify(gotErr)
	wantKind, _ := classify(wantErr)
	switch {
	case (gotErr == nil) != (wantErr == nil) || gotKind != wantKind:
		t.Fatalf("%q: read %v, %v; encoding/json finds %v, %v", body, got, gotErr, want, wantErr)
	case gotErr == nil && !slices.Equal(got, want):
		t.Fatalf("%q: read %v; encoding/json finds %v", body, got, want)
	case errors.Is(wantErr, errScript) && gotErr.Error() != wantErr.Error():
		t.Fatalf("%q: read %v; encoding/json finds %v", body, gotErr, wantErr)
	}
}

// TestJSONWebdisValues: every kind of reply webdis may send, and replies
// that are not what it sends, read as encoding/json reads them.
func TestJSONWebdisValues(t *testing.T) {
	for _, c := range []struct {
		body string
		want []int64 // nil: an error of kind kind
		kind ErrorKind
	}{
		{`{"EVALSHA":[1,0,0,0]}`, []int64{1, 0, 0, 0}, 0},
		{" {\t\"EVALSHA\" :\r\n[ 1 , -0 , 12 , 0 ] } ", []int64{1, 0, 12, 0}, 0},
		{`{"EVAL\u0053HA":[-5,9223372036854775807]}`, []int64{-5, 9223372036854775807}, 0},
		{`{"EVALSHA":[]}`, []int64{}, 0},
		{`{"EVALSHA":null}`, []int64{}, 0},
		{`{"EVALSHA":[false,"NOSCRIPT No matching script. Please use EVAL."]}`, nil, ErrorScript},
		{`{"EVALSHA":[false,"ERR a \"quoted\" \u00e9\ud83d\ude00 \/ text"]}`, nil, ErrorScript},
		{`{"EVALSHA":[false,5]}`, nil, ErrorScript},
		{"{\"EVALSHA\":[false,\"\xe8\xff\xe2\x82 \\ud800\"]}", nil, ErrorScript},
		{`{"EVALSHA":[false,null]}`, nil, ErrorScript},
		{`{"EVALSHA":[false,"x",1]}`, nil, ErrorReply},
		{`{"EVALSHA":[true,"x"]}`, nil, ErrorReply},
		{`{"EVALSHA":[1,9223372036854775808]}`, nil, ErrorReply},
		{`{"EVALSHA":[1,1.0]}`, nil, ErrorReply},
		{`{"EVALSHA":[1,1e3]}`, nil, ErrorReply},
		{`{"EVALSHA":[1,01]}`, nil, ErrorReply},
		{`{"EVALSHA":[1,"2"]}`, nil, ErrorReply},
		{`{"EVALSHA":[1,[2]]}`, nil, ErrorReply},
		{`{"EVALSHA":[1,{}]}`, nil, ErrorReply},
		{`{"EVALSHA":[1,]}`, nil, ErrorReply},
		{`{"EVALSHA":[1 2]}`, nil, ErrorReply},
		{`{"EVALSHA":[1,2}`, nil, ErrorReply},
		{`{"EVALSHA":1}`, nil, ErrorReply},
		{`{"EVALSHA":"1"}`, nil, ErrorReply},
		{`{"EVALSHA":[1]} x`, nil, ErrorReply},
		{`{"EVALSHA":[1],"X":[1]}`, nil, ErrorReply},
		{`{"X":[1]}`, nil, ErrorReply},
		{`{"EVAL":[1]}`, nil, ErrorReply},
		{`{}`, nil, ErrorReply},
		{`[1]`, nil, ErrorReply},
		{`<html>`, nil, ErrorReply},
		{``, nil, ErrorReply},
		{`{"EVALSHA":[false,"unterminated]}`, nil, ErrorReply},
		{"{\"EVALSHA\":[false,\"a\x01\"]}", nil, ErrorReply},
		{`{"EVALSHA":[false,"\x"]}`, nil, ErrorReply},
		{`{"EVALSHA":[false,"\u12"]}`, nil, ErrorReply},
		{`{"EVALSHA":[tru]}`, nil, ErrorReply},
		{`{"EVALSHA":[-]}`, nil, ErrorReply},
	} {
		got, err := jsonWebdisValues([]byte(c.body), "EVALSHA")
		kind, _ := classify(err)
		if (err == nil) != (c.want != nil) || !slices.Equal(got, c.want) || err != nil && kind != c.kind {
			t.Errorf("%s: got %v, %v (kind %v); want %v or an error of kind %v", c.body, got, err, kind, c.want, c.kind)
		}
		checkReadsLikeEncodingJSON(t, []byte(c.body))
	}
}
