package filter

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/internal/stdbase64"
)

// Request headers of MCP 2026-07-28 (SEP-2243, basic/transports/
// streamable-http "Standard Headers"): clients mirror the JSON-RPC method
// and params.name / params.uri of a POST in these headers, and a server
// must reject a request whose headers disagree with its body with -32020.
const (
	headerMcpMethod = "mcp-method"
	headerMcpName   = "mcp-name"
)

// Sentinel form SEP-2243 uses for header values that are not plain ASCII:
// "=?base64?" + standard Base64 of the UTF-8 bytes + "?=".
const (
	base64SentinelPrefix = "=?base64?"
	base64SentinelSuffix = "?="
)

// decodeMcpHeaderValue returns the text an Mcp-* header value stands for:
// the decoded text of the Base64 sentinel form, or the value itself. ok is
// false for a sentinel whose content is not strict Base64 of valid UTF-8;
// such a header cannot match any body.
//
// Plain values are compared as they are (Envoy has already dropped
// surrounding whitespace). Being lenient here never lets a call through
// uncounted: the filter counts what the body says, and the header check only
// refuses requests the server would refuse too.
func decodeMcpHeaderValue(value string) (decoded string, ok bool) {
	if len(value) < len(base64SentinelPrefix)+len(base64SentinelSuffix) ||
		!strings.HasPrefix(value, base64SentinelPrefix) ||
		!strings.HasSuffix(value, base64SentinelSuffix) {
		return value, true
	}
	payload := value[len(base64SentinelPrefix) : len(value)-len(base64SentinelSuffix)]
	raw, ok := stdbase64.Decode(payload)
	if !ok || !utf8.Valid(raw) {
		return "", false
	}
	return string(raw), true
}

// mirroredHeaders holds the Mcp-Method and Mcp-Name headers of a request,
// captured at the request headers (the header map is not read again later).
type mirroredHeaders struct {
	method, name       string
	hasMethod, hasName bool
}

// clear sets h to the zero mirroredHeaders, field by field (see
// keepInspection).
func (h *mirroredHeaders) clear() {
	h.method, h.name, h.hasMethod, h.hasName = "", "", false, false
}

// matches reports whether a request with this method and name (hasName
// false when the body carries none) agrees with the headers. A header that
// is absent is not checked. Small enough to inline: most requests carry
// neither header, and a Go call costs more than the check in a Wasm VM.
func (h *mirroredHeaders) matches(method, name string, hasName bool) bool {
	return !h.hasMethod && !h.hasName || h.agree(method, name, hasName)
}

// agree is matches for a request with either header.
func (h *mirroredHeaders) agree(method, name string, hasName bool) bool {
	if h.hasMethod {
		decoded, ok := decodeMcpHeaderValue(h.method)
		if !ok || decoded != method {
			return false
		}
	}
	if h.hasName {
		decoded, ok := decodeMcpHeaderValue(h.name)
		if !ok || !hasName || decoded != name {
			return false
		}
	}
	return true
}

// RateLimit header fields, draft-ietf-httpapi-ratelimit-headers-11
// (sections 3 and 4): both are Structured Field Lists of one Item per
// policy, the item a String naming the policy.
//
//	RateLimit-Policy: "<kind>";q=<maxTokens>;w=<refill period in seconds>
//	RateLimit:        "<kind>";r=<tokens left>;t=<seconds>
//
// The filter reports only the tightest bucket of the request. Its name is
// the bucket kind ("shared", "tool", "user", "user-tool"), never the tool
// or the user, so no identity leaks into responses and every name is a
// valid sf-string. w is the refill period rounded up to whole seconds (the
// draft allows no fractions, and at least 1). For an admitted call, t is the
// time until the bucket is full again; for a rejected call r is 0 and t is
// the Retry-After value, so that Retry-After never points before the end of
// the effective window (section 6).
const (
	headerRateLimitPolicy = "ratelimit-policy"
	headerRateLimit       = "ratelimit"
)

// policyName is the RateLimit policy identifier of a bucket kind.
func policyName(kind bucket.Kind) string {
	switch kind {
	case bucket.KindShared:
		return "shared"
	case bucket.KindTool:
		return "tool"
	case bucket.KindUser:
		return "user"
	case bucket.KindUserTool:
		return "user-tool"
	case bucket.KindMethod, bucket.KindUserMethod, bucket.KindPrompt, bucket.KindUserPrompt,
		bucket.KindResource, bucket.KindUserResource:
		return kind.String()
	}
	return "unknown"
}

// rateLimitHeaderFields returns the RateLimit-Policy and RateLimit fields
// for the tightest bucket of a decision. retryAfterSeconds is 0 for an
// admitted call and the Retry-After value for a rejected one.
func rateLimitHeaderFields(tightest bucket.Status, retryAfterSeconds int64) [][2]string {
	name := `"` + policyName(tightest.Bucket.Kind) + `"`
	window := max(ceilSeconds(tightest.Bucket.Limit.RefillPeriod), 1)
	remaining := max(tightest.Remaining, 0)
	reset := ceilSeconds(tightest.ResetAfter)
	if retryAfterSeconds > 0 {
		remaining, reset = 0, retryAfterSeconds
	}
	return [][2]string{
		{headerRateLimitPolicy, name + ";q=" + strconv.FormatInt(tightest.Bucket.Limit.MaxTokens, 10) +
			";w=" + strconv.FormatInt(window, 10)},
		{headerRateLimit, name + ";r=" + strconv.FormatInt(remaining, 10) +
			";t=" + strconv.FormatInt(reset, 10)},
	}
}

// ceilSeconds rounds a duration up to whole seconds; negative durations
// count as 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	seconds := int64(d / time.Second)
	if d%time.Second != 0 {
		seconds++
	}
	return seconds
}

// retryAfterSeconds is the Retry-After value for a wait: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(wait time.Duration) int64 {
	return max(ceilSeconds(wait), 1)
}
