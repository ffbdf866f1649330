package bucket

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestEscapeKeyPart(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"search", "search"},
		{"A-Za-z0-9._~", "A-Za-z0-9._~"},
		{"a/b", "a%2Fb"},
		{"a%2Fb", "a%252Fb"},
		{"with space", "with%20space"},
		{"ü", "%C3%BC"},
		{"\x00\xff", "%00%FF"},
		{"../x", "..%2Fx"},
	}
	for _, tt := range tests {
		if got := EscapeKeyPart(tt.in); got != tt.want {
			t.Errorf("EscapeKeyPart(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// unescapeKeyPart inverts EscapeKeyPart; ok is false on malformed input.
func unescapeKeyPart(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if !unreservedKeyByte(c) {
				return "", false
			}
			b.WriteByte(c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil || strings.ToUpper(s[i+1:i+3]) != s[i+1:i+3] {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), true
}

// FuzzEscapeKeyPart checks that escaping is injective (it can be undone)
// and never yields a '/', so no name can forge another key's segments.
func FuzzEscapeKeyPart(f *testing.F) {
	for _, s := range []string{"", "search", "a/b", "%2F", "ü", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := EscapeKeyPart(s)
		if strings.ContainsRune(e, '/') {
			t.Fatalf("escape(%q) = %q contains '/'", s, e)
		}
		back, ok := unescapeKeyPart(e)
		if !ok || back != s {
			t.Fatalf("escape(%q) = %q does not invert: %q %v", s, e, back, ok)
		}
	})
}

func TestKeyFormat(t *testing.T) {
	k := newKeys("root/id")
	l := Limit{10, time.Minute}
	tests := []struct{ got, want string }{
		{k.bucket(KindShared, "", l, 100), "mcprl1/root%2Fid/shared/10/60000000000"},
		{k.bucket(KindShared, "ignored", l, 100), "mcprl1/root%2Fid/shared/10/60000000000"},
		{k.bucket(KindTool, "a/b", l, 100), "mcprl1/root%2Fid/tool/a%2Fb/10/60000000000"},
		{k.bucket(KindUser, "", l, 100), "mcprl1/root%2Fid/user/10/60000000000/100"},
		{k.bucket(KindUserTool, "search", l, 100), "mcprl1/root%2Fid/user-tool/search/10/60000000000/100"},
		{slotKey(k.bucket(KindUser, "", l, 100), 7), "mcprl1/root%2Fid/user/10/60000000000/100/slot/7"},
		{overflowKey(k.bucket(KindUser, "", l, 100)), "mcprl1/root%2Fid/user/10/60000000000/100/overflow"},
		{k.sentinel(), "mcprl1/root%2Fid/sentinel"},
		{k.salt(), "mcprl1/root%2Fid/salt"},
		{newKeys("").bucket(KindShared, "", l, 0), "mcprl1//shared/10/60000000000"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("key %q, want %q", tt.got, tt.want)
		}
	}
}

func TestKeysAreDistinct(t *testing.T) {
	// Buckets that must never share a key, including names crafted to look
	// like other keys' segments.
	type spec struct {
		ns   string
		kind Kind
		tool string
		l    Limit
		size int
	}
	l := Limit{10, time.Minute}
	specs := []spec{
		{"a", KindShared, "", l, 10},
		{"a", KindShared, "", Limit{11, time.Minute}, 10},
		{"a", KindShared, "", Limit{10, time.Minute + 1}, 10},
		{"b", KindShared, "", l, 10},
		{"a/shared", KindShared, "", l, 10},
		{"a", KindTool, "x", l, 10},
		{"a", KindTool, "x/10/60000000000", l, 10},
		{"a", KindTool, "shared", l, 10},
		{"a", KindTool, "user", l, 10},
		{"a", KindUser, "", l, 10},
		{"a", KindUser, "", l, 11},
		{"a", KindUserTool, "x", l, 10},
		{"a", KindUserTool, "x", l, 11},
		{"a", KindMethod, "x", l, 10},
		{"a", KindUserMethod, "x", l, 10},
		{"a", KindPrompt, "x", l, 10},
		{"a", KindUserPrompt, "x", l, 10},
		{"a", KindResource, "x", l, 10},
		{"a", KindUserResource, "x", l, 10},
		{"a", KindResource, "demo://x/10/60000000000", l, 10},
		{"a/tool/x", KindShared, "", l, 10},
		{"a%2Ftool", KindShared, "", l, 10},
	}
	seen := map[string]spec{}
	for _, s := range specs {
		key := newKeys(s.ns).bucket(s.kind, s.tool, s.l, s.size)
		for _, derived := range []string{key, slotKey(key, 1), overflowKey(key)} {
			if prev, dup := seen[derived]; dup {
				t.Fatalf("%+v and %+v share key %q", prev, s, derived)
			}
			seen[derived] = s
		}
	}
	for _, ns := range []string{"a", "b", "a/shared"} {
		for _, key := range []string{newKeys(ns).sentinel(), newKeys(ns).salt()} {
			if _, dup := seen[key]; dup {
				t.Fatalf("namespace key %q collides with a bucket key", key)
			}
			seen[key] = spec{}
		}
	}
}

func TestKindString(t *testing.T) {
	for kind, want := range map[Kind]string{
		KindShared: "shared", KindTool: "tool", KindUser: "user", KindUserTool: "user-tool",
		KindMethod: "method", KindUserMethod: "user-method", KindPrompt: "prompt", KindUserPrompt: "user-prompt",
		KindResource: "resource", KindUserResource: "user-resource", 99: "kind99",
	} {
		if got := kind.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", kind, got, want)
		}
	}
}

func TestSlotKey(t *testing.T) {
	long := strings.Repeat("t", 200) // past slotKey's stack buffer
	for _, table := range []string{"", "mcprl1/ns/user/10/60000000000/100", long} {
		for _, i := range []int{0, 7, 99, 100, 12345, 1 << 40} {
			if got, want := slotKey(table, i), table+"/slot/"+strconv.Itoa(i); got != want {
				t.Errorf("slotKey(%q, %d) = %q, want %q", table, i, got, want)
			}
		}
	}
}
