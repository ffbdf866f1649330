package bucket

import (
	"strconv"
	"strings"
)

// Key format
//
// Every key the limiter writes starts with "mcprl1/" (the format's name
// and version) and the escaped namespace, then names the bucket by its
// kind and by its own parameters:
//
//	mcprl1/<ns>/shared/<maxTokens>/<refillNanos>
//	mcprl1/<ns>/tool/<tool>/<maxTokens>/<refillNanos>
//	mcprl1/<ns>/user/<maxTokens>/<refillNanos>/<tableSize>/slot/<i>
//	mcprl1/<ns>/user/<maxTokens>/<refillNanos>/<tableSize>/overflow
//	mcprl1/<ns>/user-tool/<tool>/<maxTokens>/<refillNanos>/<tableSize>/slot/<i>
//	mcprl1/<ns>/user-tool/<tool>/<maxTokens>/<refillNanos>/<tableSize>/overflow
//	(and likewise method/<method>, prompt/<name>, resource/<uri> and their
//	user-method, user-prompt and user-resource tables)
//	mcprl1/<ns>/sentinel   (written to create keys safely, see create)
//	mcprl1/<ns>/salt       (the random key of the user digests)
//
// <ns> is Options.Namespace and <tool> the tool name, both escaped: every
// byte outside [A-Za-z0-9._~-] becomes %XX (upper-case hex), so neither
// contains '/', and splitting a key at '/' recovers every part: no
// namespace or tool name, however chosen, can produce another's key.
// Numbers are decimal. User identities never appear in keys (nor in
// values: only a keyed digest does, see table.go).
//
// Because the parameters are part of the key, a reconfiguration keeps the
// state of every bucket whose kind, tool, maxTokens and refillPeriod (and,
// for per-user tables, maxTrackedUsers) are unchanged, and a changed
// bucket starts full. Envoy cannot delete shared-data keys, so the keys of
// a bucket that is configured away stay until the VMs of the vm_id are
// all destroyed (Envoy then drops the whole store).

// keyFormat is the first part of every key.
const keyFormat = "mcprl1"

// kindWord is the path segment naming a kind in keys.
func kindWord(k Kind) string {
	switch k {
	case KindShared:
		return "shared"
	case KindTool:
		return "tool"
	case KindUser:
		return "user"
	case KindUserTool:
		return "user-tool"
	case KindMethod:
		return "method"
	case KindUserMethod:
		return "user-method"
	case KindPrompt:
		return "prompt"
	case KindUserPrompt:
		return "user-prompt"
	case KindResource:
		return "resource"
	case KindUserResource:
		return "user-resource"
	}
	return "kind" + strconv.Itoa(int(k))
}

// String names the kind: "shared", "tool", "user", "user-tool", "method",
// "user-method", "prompt", "user-prompt", "resource" or "user-resource".
func (k Kind) String() string { return kindWord(k) }

// HasName reports whether buckets of kind k are per name (tool, method,
// prompt or resource): every kind but KindShared and KindUser.
func (k Kind) HasName() bool { return k != KindShared && k != KindUser }

// PerUser reports whether buckets of kind k are per user.
func (k Kind) PerUser() bool {
	switch k {
	case KindUser, KindUserTool, KindUserMethod, KindUserPrompt, KindUserResource:
		return true
	}
	return false
}

// EscapeKeyPart escapes s for use as one segment of a store key: every byte
// outside [A-Za-z0-9._~-] is percent-encoded, so segments never contain the
// separator and distinct names never share a key. The Redis store names its
// keys the same way.
func EscapeKeyPart(s string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreservedKeyByte(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreservedKeyByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// unreservedKeyByte reports whether c stands for itself in a key segment.
func unreservedKeyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// keys builds the keys of one namespace.
type keys struct {
	prefix string // "mcprl1/<ns>/"
}

func newKeys(namespace string) keys {
	return keys{prefix: keyFormat + "/" + EscapeKeyPart(namespace) + "/"}
}

// bucket is the key of a bucket that is not per user, or, for a per-user
// bucket, the common prefix of its table's keys (tableSize slots).
func (k keys) bucket(kind Kind, tool string, l Limit, tableSize int) string {
	var b strings.Builder
	b.Grow(len(k.prefix) + len(tool) + 64)
	b.WriteString(k.prefix)
	b.WriteString(kindWord(kind))
	if kind.HasName() {
		b.WriteByte('/')
		b.WriteString(EscapeKeyPart(tool))
	}
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(l.MaxTokens, 10))
	b.WriteByte('/')
	b.WriteString(strconv.FormatInt(int64(l.RefillPeriod), 10))
	if kind.PerUser() {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(tableSize))
	}
	return b.String()
}

// slotKey is the key of slot i of the table whose prefix is table. It is
// built in one allocation, the string itself.
func slotKey(table string, i int) string {
	var buf [128]byte
	return string(appendDecimal(appendSlotPrefix(buf[:0], table), i))
}

// appendSlotPrefix appends the part of a slot's key before its number.
func appendSlotPrefix(b []byte, table string) []byte {
	b = append(b, table...)
	// The separator byte by byte: appending a string is a call
	// (runtime.memmove) in a Wasm VM, dearer than six bytes.
	return append(b, '/', 's', 'l', 'o', 't', '/')
}

// appendDecimal appends i, which must not be negative, in decimal.
func appendDecimal(b []byte, i int) []byte {
	var digits [20]byte
	n := len(digits)
	for {
		n--
		digits[n] = byte('0' + i%10)
		if i /= 10; i == 0 {
			break
		}
	}
	for _, d := range digits[n:] {
		b = append(b, d)
	}
	return b
}

// overflowKey is the key of the overflow bucket of the table whose prefix
// is table.
func overflowKey(table string) string {
	return table + "/overflow"
}

// sentinel is the key written to obtain a fresh CAS value (see create).
func (k keys) sentinel() string { return k.prefix + "sentinel" }

// salt is the key of the namespace's random digest key.
func (k keys) salt() string { return k.prefix + "salt" }
