package filter

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// TestEqualFoldASCII holds equalFoldASCII to strings.EqualFold of names
// of one length, for the lower-case ASCII names the filter looks up,
// against names in other cases, with look-alike letters (K is U+212A, the
// Kelvin sign; ſ is U+017F, which folds to s: neither has the length of
// the letter it folds to) and of other lengths.
func TestEqualFoldASCII(t *testing.T) {
	names := []string{":method", ":path", "content-length", "content-type", "content-encoding",
		"transfer-encoding", "mcp-method", "mcp-name", "x-user-id", "post", ""}
	for _, lower := range names {
		candidates := []string{lower, strings.ToUpper(lower), lower + " ", " " + lower,
			strings.ReplaceAll(lower, "-", "_"), strings.ReplaceAll(lower, "k", "\u212a"),
			strings.ReplaceAll(lower, "s", "\u017f"), strings.ReplaceAll(lower, "e", "\u00e9")}
		for _, other := range names {
			candidates = append(candidates, other)
		}
		for _, s := range candidates {
			if got, want := equalFoldASCII(s, lower), len(s) == len(lower) && strings.EqualFold(s, lower); got != want {
				t.Errorf("equalFoldASCII(%q, %q) = %v, want %v", s, lower, got, want)
			}
		}
	}
	// Bytes that differ from a letter in bit 0x20 alone are not letters.
	for c := 0; c < 256; c++ {
		s := string([]byte{byte(c)})
		if got, want := equalFoldASCII(s, "-"), c == '-'; got != want {
			t.Errorf("equalFoldASCII(%q, \"-\") = %v, want %v", s, got, want)
		}
	}
}

func TestTrimOWS(t *testing.T) {
	tests := []struct{ in, both, left string }{
		{"", "", ""},
		{" \t", "", ""},
		{"utf-8", "utf-8", "utf-8"},
		{" \tutf-8\t ", "utf-8", "utf-8\t "},
		{"\r\nutf-8", "\r\nutf-8", "\r\nutf-8"}, // CR and LF are not OWS
		{"a b", "a b", "a b"},
	}
	for _, tt := range tests {
		if got := trimOWS(tt.in); got != tt.both {
			t.Errorf("trimOWS(%q) = %q, want %q", tt.in, got, tt.both)
		}
		if got := trimLeftOWS(tt.in); got != tt.left {
			t.Errorf("trimLeftOWS(%q) = %q, want %q", tt.in, got, tt.left)
		}
	}
}

// TestRequestBodyEncodingAgrees holds requestBodyEncoding, whose common
// case skips checkBodyEncoding, to checkBodyEncoding's verdict, and
// findKnown's values to the first header of each name, on header maps
// built from Content-Type values, coding headers, repeats and names in
// other cases.
func TestRequestBodyEncodingAgrees(t *testing.T) {
	types := []string{mediaTypeJSON, "application/json; charset=utf-7", "Application/JSON", "application/json ",
		"text/plain", "", "application/jsonx"}
	for _, ct := range types {
		for _, extra := range [][][2]string{
			nil,
			{{"content-type", mediaTypeJSON}},
			{{"Content-Type", "text/plain; charset=utf-7"}},
			{{"content-encoding", "gzip"}},
			{{"content-encoding", "identity"}},
			{{"transfer-encoding", "chunked"}},
			{{"Transfer-Encoding", "gzip"}},
			{{":path", "/other"}},
			{{"x-request-id", "content-type"}}, // the length of "content-type"
		} {
			m := [][2]string{{":method", "POST"}, {":path", "/mcp"}, {"content-type", ct}}
			checkHeaderPass(t, append(m, extra...))
			checkHeaderPass(t, append(extra[:len(extra):len(extra)], m...))
		}
	}
	checkHeaderPass(t, nil)
	checkHeaderPass(t, [][2]string{{":method", "POST"}})
}

// FuzzRequestBodyEncoding is TestRequestBodyEncodingAgrees on header maps
// of any names and values, one header per line, name and value split at
// the first colon after the first byte.
//
//	go test ./filter -run '^$' -fuzz FuzzRequestBodyEncoding -fuzztime 30s
func FuzzRequestBodyEncoding(f *testing.F) {
	f.Add(":method:POST\ncontent-type:application/json")
	f.Add("content-type:application/json\nCONTENT-TYPE:application/json")
	f.Add("content-type:application/json\ntransfer-encoding:chunked\ncontent-encoding:br")
	f.Add("content-length:12\nmcp-method:tools/call\nmcp-name:x\nx-user-id:content-type")
	f.Fuzz(func(t *testing.T, text string) {
		var pairs [][2]string
		for _, line := range strings.Split(text, "\n") {
			if len(line) == 0 {
				continue
			}
			name, value, _ := strings.Cut(line[1:], ":")
			pairs = append(pairs, [2]string{line[:1] + name, value})
		}
		checkHeaderPass(t, pairs)
	})
}

// checkHeaderPass checks findKnown and requestBodyEncoding on pairs
// against checkBodyEncoding and a look-up of each known header.
func checkHeaderPass(t *testing.T, pairs [][2]string) {
	t.Helper()
	r := requestHeaders{pairs: pairs}
	r.findKnown()
	if got, want := requestBodyEncoding(&r), checkBodyEncoding(pairs); got != want {
		t.Errorf("%q: requestBodyEncoding = %d, checkBodyEncoding = %d", pairs, got, want)
	}
	for i, name := range knownHeaders {
		value, ok := r.value(i)
		wantValue, wantOK := r.get(name)
		count := 0
		for _, p := range pairs {
			if equalFoldASCII(p[0], name) {
				count++
			}
		}
		if value != wantValue || ok != wantOK || (r.repeated&(1<<i) != 0) != (count > 1) {
			t.Errorf("%q: %s = %q, %v, repeated %v; want %q, %v, %d present", pairs, name, value, ok,
				r.repeated&(1<<i) != 0, wantValue, wantOK, count)
		}
	}
}

// TestKeepInspectionClears checks that a kept inspection is zero but for
// its buffers, whatever fields it has: keepInspection clears them one by
// one, and a field added without its line there would leak one stream's
// request into the next.
func TestKeepInspectionClears(t *testing.T) {
	in := new(inspection)
	setEveryField(t, reflect.ValueOf(in).Elem())
	s := &settings{}
	s.keepInspection(in)
	if s.spareInspection != in {
		t.Fatal("keepInspection did not keep the inspection")
	}
	v := reflect.ValueOf(in).Elem()
	for i := range v.NumField() {
		if name := v.Type().Field(i).Name; name != "buffers" && !v.Field(i).IsZero() {
			t.Errorf("after keepInspection, field %s is %+v; want zero", name, v.Field(i))
		}
	}
}

// setEveryField sets every field of the struct v, exported or not, to a
// value that is not zero.
func setEveryField(t *testing.T, v reflect.Value) {
	t.Helper()
	for i := range v.NumField() {
		f := v.Field(i)
		f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()
		switch f.Kind() {
		case reflect.Struct:
			setEveryField(t, f)
		case reflect.String:
			f.SetString("x")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			f.SetInt(1)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(1)
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		case reflect.Slice:
			f.Set(reflect.MakeSlice(f.Type(), 1, 1))
		case reflect.Map:
			f.Set(reflect.MakeMap(f.Type()))
		case reflect.Array:
			for j := range f.Len() {
				if e := f.Index(j); e.Kind() == reflect.Struct {
					setEveryField(t, e)
				}
			}
		case reflect.Interface, reflect.Func:
			// None in the types checked; a new one fails below.
			t.Fatalf("setEveryField: field %s of kind %s", v.Type().Field(i).Name, f.Kind())
		}
		if f.IsZero() && f.Kind() != reflect.Array {
			t.Fatalf("setEveryField: field %s is still zero", v.Type().Field(i).Name)
		}
	}
}
