package fmtlite

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Types of operands the module formats: named kinds, errors and Stringers
// of value and pointer receivers, a Formatter.
type (
	kind     uint8
	name     string
	flag     bool
	ratio    float32
	valueErr string
	ptrErr   struct{ msg string }
	stringer int
	panicky  struct{}
	format   struct{}
)

func (e valueErr) Error() string  { return "value error " + string(e) }
func (e *ptrErr) Error() string   { return "pointer error " + e.msg }
func (s stringer) String() string { return fmt.Sprint("stringer ", int(s)) }
func (panicky) String() string    { panic("boom") }
func (format) Format(f State, verb rune) {
	_, _ = io.WriteString(f, "formatted "+string(verb))
}

// fmtFormat is format for fmt: the same method against fmt.State.
type fmtFormat struct{}

func (fmtFormat) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, "formatted "+string(verb)) }

var operands = []any{
	nil, "", "plain", "quote\"d\n", "\xff\xfe", []byte("bytes"),
	true, false,
	0, 1, -1, 42, math.MaxInt64, math.MinInt64, int8(-8), int16(300), int32(-70000), int64(1) << 40,
	uint(7), uint8(255), uint16(65535), uint32(1) << 31, uint64(math.MaxUint64), uintptr(9),
	0x1F600, -0x41,
	0.0, 1.5, -2.25, 1e6, 1e21, 123456789.0, 1e-7, math.Inf(1), math.Inf(-1), math.NaN(), float32(0.1),
	kind(3), name("named"), flag(true), ratio(0.75),
	time.Duration(1500) * time.Millisecond, time.Duration(0),
	errors.New("plain error"), valueErr("v"), &ptrErr{"p"}, (*ptrErr)(nil),
	stringer(5), panicky{},
	[]int64{1, -2}, []any{1, "x"},
}

var verbs = []string{"v", "s", "d", "q", "t", "x", "X", "o", "O", "b", "c", "U", "e", "E", "f", "F", "g", "G", "T", "w", "z", "p"}

// TestSprintfMatchesFmt holds every verb this package formats, applied to
// every kind of operand it formats, to fmt's text, for Sprintf and Errorf.
func TestSprintfMatchesFmt(t *testing.T) {
	for _, verb := range verbs {
		for _, op := range operands {
			formatStr := "<%" + verb + ">"
			if !supported(op, verb) {
				// Outside the package's promise: still one of fmt's
				// "%!" marks, never a panic.
				if got := Sprintf(formatStr, op); !strings.Contains(got, "%!") {
					t.Errorf("Sprintf(%q, %T) = %q, want a %%! mark", formatStr, op, got)
				}
				continue
			}
			got, want := Sprintf(formatStr, op), fmt.Sprintf(formatStr, op)
			if verb == "w" {
				// %w outside Errorf: both write "%!w(", then the operand
				// as fmt would print it raw (a struct for most errors).
				got, want = got[:min(len(got), 4)], want[:min(len(want), 4)]
			}
			if got != want {
				t.Errorf("Sprintf(%q, %T(%#v)) = %q, fmt gives %q", formatStr, op, op, got, want)
			}
			gotErr, wantErr := Errorf(formatStr, op).Error(), fmt.Errorf(formatStr, op).Error()
			if gotErr != wantErr {
				t.Errorf("Errorf(%q, %T(%#v)) = %q, fmt gives %q", formatStr, op, op, gotErr, wantErr)
			}
		}
	}
}

// supported reports whether the package documents verb for op: errors
// and Stringers with the verbs that call their method, byte slices as
// strings, and the basic kinds with any verb.
func supported(op any, verb string) bool {
	if op == nil || verb == "T" {
		return true
	}
	switch op.(type) {
	case error:
		if strings.Contains("vsxXqw", verb) {
			return true
		}
	case Stringer:
		if strings.Contains("vsxXq", verb) {
			return true
		}
	}
	if b, ok := op.([]byte); ok && b != nil {
		return strings.Contains("sqxX", verb)
	}
	switch reflect.TypeOf(op).Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

func TestFormatsMatchFmt(t *testing.T) {
	tests := []struct {
		format string
		args   []any
	}{
		{"no directive", nil},
		{"100%%", nil},
		{"trailing %", nil},
		{"%d %s", []any{1}},
		{"%d", []any{1, "extra", nil, 2.5}},
		{"field %q: %d is below %d (%v)", []any{"rate", -1, 0, errors.New("why")}},
		{"%s took %v", []any{"call", time.Second}},
		{"plugin %q started (%d tools configured, dryRun=%t)", []any{"ns", 3, false}},
		{"é%sü", []any{"ß"}},
		{"%v %v", []any{format{}, format{}}},
		{"%s", []any{panicky{}}},
	}
	for _, tc := range tests {
		want := fmt.Sprintf(tc.format, fmtArgs(tc.args)...)
		if got := Sprintf(tc.format, tc.args...); got != want {
			t.Errorf("Sprintf(%q, %v) = %q, fmt gives %q", tc.format, tc.args, got, want)
		}
		if got := string(Appendf([]byte("pre:"), tc.format, tc.args...)); got != "pre:"+want {
			t.Errorf("Appendf(%q) = %q, want %q", tc.format, got, "pre:"+want)
		}
	}
	for _, args := range [][]any{{"a", "b"}, {1, 2}, {"a", 1, 2, "b"}, {nil, nil}, {1.5, true}} {
		if got, want := Sprint(args...), fmt.Sprint(fmtArgs(args)...); got != want {
			t.Errorf("Sprint(%v) = %q, fmt gives %q", args, got, want)
		}
		if got, want := Sprintln(args...), fmt.Sprintln(fmtArgs(args)...); got != want {
			t.Errorf("Sprintln(%v) = %q, fmt gives %q", args, got, want)
		}
	}
}

// fmtArgs replaces this package's Formatter by fmt's.
func fmtArgs(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if _, ok := a.(format); ok {
			a = fmtFormat{}
		}
		out[i] = a
	}
	return out
}

func TestErrorfWrapsLikeFmt(t *testing.T) {
	first, second := errors.New("first"), valueErr("second")
	tests := []struct {
		format string
		args   []any
	}{
		{"plain %d", []any{1}},
		{"wrap: %w", []any{first}},
		{"wrap nil: %w", []any{nil}},
		{"wrap non-error: %w", []any{"text"}},
		{"two: %w and %w", []any{first, second}},
		{"same twice: %w %w", []any{first, first}},
		{"%w then %v", []any{second, first}},
	}
	for _, tc := range tests {
		got, want := Errorf(tc.format, tc.args...), fmt.Errorf(tc.format, tc.args...)
		if got.Error() != want.Error() {
			t.Errorf("Errorf(%q).Error() = %q, fmt gives %q", tc.format, got.Error(), want.Error())
		}
		for _, target := range []error{first, second} {
			if errors.Is(got, target) != errors.Is(want, target) {
				t.Errorf("Errorf(%q): errors.Is(_, %v) = %t, fmt's %t", tc.format, target, errors.Is(got, target), errors.Is(want, target))
			}
		}
		gotSingle, gotOK := got.(interface{ Unwrap() error })
		_, wantOK := want.(interface{ Unwrap() error })
		if gotOK != wantOK {
			t.Errorf("Errorf(%q) has Unwrap() error: %t, fmt's: %t", tc.format, gotOK, wantOK)
		} else if gotOK && errors.Unwrap(want) != gotSingle.Unwrap() {
			t.Errorf("Errorf(%q).Unwrap() = %v, fmt's %v", tc.format, gotSingle.Unwrap(), errors.Unwrap(want))
		}
		_, gotMulti := got.(interface{ Unwrap() []error })
		_, wantMulti := want.(interface{ Unwrap() []error })
		if gotMulti != wantMulti {
			t.Errorf("Errorf(%q) has Unwrap() []error: %t, fmt's: %t", tc.format, gotMulti, wantMulti)
		}
	}
	wrapVerb := "%w" // not a constant: vet rejects %w in Sprintf, which is the case under test
	if got := Sprintf(wrapVerb, first); !strings.HasPrefix(got, "%!w(") {
		t.Errorf("Sprintf(%%w) = %q, want fmt's %%!w(...)", got)
	}
}

func TestUnsupportedIsMarked(t *testing.T) {
	for _, tc := range []struct {
		format string
		arg    any
	}{
		{"%5d", 1}, {"%-s", "x"}, {"%+v", 1}, {"%[1]d", 1}, {"%.2f", 1.0},
		{"%v", struct{ A int }{1}}, {"%v", []int{1}}, {"%v", &struct{}{}}, {"%v", map[int]int{}},
	} {
		if got := Sprintf(tc.format, tc.arg); !strings.Contains(got, "unsupported") {
			t.Errorf("Sprintf(%q, %#v) = %q, want it marked unsupported", tc.format, tc.arg, got)
		}
	}
}

func TestScanIsAbsent(t *testing.T) {
	var n int
	if _, err := Sscan("1", &n); err == nil {
		t.Error("Sscan succeeded; scanning is not built in")
	}
}

func TestFormatString(t *testing.T) {
	if got := FormatString(&state{&printer{}}, 'd'); got != "%d" {
		t.Errorf("FormatString = %q, want %%d", got)
	}
}

// FuzzSprintf compares this package with fmt on arbitrary format strings
// whose directives are plain verbs, over operands of every supported kind.
func FuzzSprintf(f *testing.F) {
	f.Add("%s=%d (%v) %q %t %x %c %g", "text", int64(-12), uint64(7), true, 2.5)
	f.Add("%%%w%e%X%b%o", "", int64(0), uint64(0), false, math.Inf(1))
	f.Fuzz(func(t *testing.T, format, s string, i int64, u uint64, b bool, x float64) {
		for j := 0; j < len(format); j++ {
			if format[j] == '%' && j+1 < len(format) && (isDirectiveExtra(rune(format[j+1])) || format[j+1] == 'p') {
				t.Skip("flags, widths, precisions, indexes and pointers are not formatted")
			}
			if format[j] == '%' && j+1 < len(format) && format[j+1] == '%' {
				j++
			}
		}
		args := []any{s, i, u, b, x, valueErr(s), stringer(i), kind(u), name(s)}
		if got, want := Sprintf(format, args...), fmt.Sprintf(format, args...); got != want {
			t.Errorf("Sprintf(%q, %#v) = %q, fmt gives %q", format, args, got, want)
		}
		if got, want := Errorf(format, args...).Error(), fmt.Errorf(format, args...).Error(); got != want {
			t.Errorf("Errorf(%q, %#v) = %q, fmt gives %q", format, args, got, want)
		}
	})
}
