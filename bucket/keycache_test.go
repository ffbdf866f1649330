package bucket

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"
)

// TestKeyCacheKeyIs holds is to ==.
func TestKeyCacheKeyIs(t *testing.T) {
	minute := Limit{MaxTokens: 10, RefillPeriod: time.Minute}
	keys := []keyCacheKey{
		{kind: KindShared, limit: minute},
		{kind: KindUser, limit: minute},
		{kind: KindShared, limit: Limit{MaxTokens: 11, RefillPeriod: time.Minute}},
		{kind: KindShared, limit: Limit{MaxTokens: 10, RefillPeriod: time.Hour}},
		{kind: KindTool, tool: "search", limit: minute},
		{kind: KindTool, tool: "fetch!", limit: minute},
		{kind: KindTool, tool: "fetch", limit: minute},
		{kind: KindUserTool, tool: "search", limit: minute},
	}
	for _, a := range keys {
		for _, b := range keys {
			if got, want := a.is(b.kind, b.tool, &b.limit), a == b; got != want {
				t.Errorf("%+v is %+v = %v, want %v", a, b, got, want)
			}
		}
		copied := a
		copied.tool = string([]byte(a.tool)) // another string, the same text
		if !a.is(copied.kind, copied.tool, &copied.limit) {
			t.Errorf("%+v does not match a copy of itself", a)
		}
	}
}

// TestUnixNanosRange checks the bounds of unixNanos: 1970 to the last
// nanosecond an int64 holds.
func TestUnixNanosRange(t *testing.T) {
	last := time.Unix(0, math.MaxInt64)
	now := time.Now() // with a monotonic reading
	day := time.Date(2026, 11, 28, 12, 0, 0, 5, time.UTC)
	tests := []struct {
		now  time.Time
		want int64
		ok   bool
	}{
		{time.Unix(0, 0), 0, true},
		{time.Unix(0, -1), 0, false},
		{time.Unix(-1, 999999999), 0, false},
		{day, day.UnixNano(), true},
		{now, now.UnixNano(), true},
		{last, math.MaxInt64, true},
		{last.Add(1), 0, false},
		{last.Add(time.Second - 1), 0, false},
		{last.Add(-1), math.MaxInt64 - 1, true},
		{time.Unix(math.MaxInt64/int64(time.Second)+1, 0), 0, false},
	}
	for _, tt := range tests {
		got, err := unixNanos(tt.now)
		if (err == nil) != tt.ok || tt.ok && got != tt.want {
			t.Errorf("unixNanos(%v) = %d, %v; want %d, ok %v", tt.now, got, err, tt.want, tt.ok)
		}
	}
}

// TestAppendDecimal holds appendDecimal to strconv for the slot numbers
// a table has and beyond.
func TestAppendDecimal(t *testing.T) {
	for _, i := range []int{0, 1, 9, 10, 99, 100, 12345, 1 << 20, math.MaxInt32, math.MaxInt64} {
		if got, want := string(appendDecimal([]byte("k/"), i)), "k/"+strconv.Itoa(i); got != want {
			t.Errorf("appendDecimal(%d) = %q, want %q", i, got, want)
		}
	}
}

func TestNotFound(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrNotFound, true},
		{fmt.Errorf("store: %w", ErrNotFound), true},
		{ErrCASMismatch, false},
		{errors.New("bucket: key not found"), false}, // the same text is not the error
	}
	for _, tt := range tests {
		if got := notFound(tt.err); got != tt.want {
			t.Errorf("notFound(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
