// Package config parses and validates the plugin configuration JSON.
//
// The configuration is the JSON text Envoy hands the plugin (the
// "configuration" of envoy.filters.http.wasm, or Istio's WasmPlugin
// pluginConfig). Its field names mirror ToolHive's MCPServer
// spec.rateLimiting. Parsing is strict, because a typo must never silently
// disable a limit: unknown fields, duplicate fields, wrong JSON types,
// trailing data after the object and out-of-range values are all errors,
// and every error is one line naming the field path and the bad value, e.g.
//
//	tools[1].perUser.refillPeriod: must be a Go duration > 0, got "0s"
//
// [Fields] and [FieldPaths] list every field with its type, default and
// description, from the same table the parser uses to recognise fields.
package config

import "time"

// Defaults for optional fields.
const (
	DefaultMaxTrackedUsers     = 10000
	DefaultMaxRequestBodyBytes = 1 << 20
	DefaultErrorCode           = -32029
	DefaultRejectStatus        = 429
	DefaultCost                = 1
)

// Bucket is one token bucket's parameters as configured: it holds at most
// MaxTokens tokens (the burst), starts full, and refills continuously at
// MaxTokens per RefillPeriod. A call costs one token.
type Bucket struct {
	MaxTokens    int64         // "maxTokens", integer from 1 to MaxMaxTokens
	RefillPeriod time.Duration // "refillPeriod", Go duration string from MinRefillPeriod to MaxRefillPeriod
}

// Named is the limits of one named tool ("tools"), prompt ("prompts"),
// resource ("resources") or method ("methods"). At least one of Shared,
// PerUser and "cost" is set.
type Named struct {
	// Name ("name"; "uri" for a resource) is matched exactly
	// (case-sensitive) against params.name of tools/call or prompts/get,
	// params.uri of resources/read, or the JSON-RPC method.
	Name    string
	Shared  *Bucket // "shared": one bucket for all calls of it, or nil
	PerUser *Bucket // "perUser": one bucket per user for it, or nil
	// Quota ("quota") is a calendar quota for all calls of it and
	// PerUserQuota ("perUserQuota") one per user, or nil.
	Quota        *Quota
	PerUserQuota *Quota
	// Concurrency ("concurrency") caps its calls in flight, or nil.
	Concurrency *Concurrency
	// Cost ("cost", default 1; methods have none) is the number of tokens
	// one call of it takes from every bucket it draws from, those of its
	// method included. It is at most the maxTokens of each of them.
	Cost int64
}

// Quota is a calendar quota as configured: at most MaxCalls calls in each
// calendar Period (a day, an ISO week from Monday, a month) of TimeZone.
type Quota struct {
	MaxCalls int64  // "maxCalls", integer from 1 to MaxMaxTokens
	Period   string // "period": "day", "week" or "month"
	TimeZone string // "timeZone" (default "UTC"): an IANA time zone name
}

// Quota periods.
const (
	PeriodDay   = "day"
	PeriodWeek  = "week"
	PeriodMonth = "month"
)

// DefaultTimeZone is the time zone of a quota without one.
const DefaultTimeZone = "UTC"

// Tool is the limits of one tool ("tools" entries).
type Tool = Named

// IdentitySource says where a request's user identity comes from.
type IdentitySource string

// Identity sources.
const (
	// IdentityHeader reads a request header set by a trusted
	// authentication layer (e.g. Istio's outputClaimToHeaders).
	IdentityHeader IdentitySource = "header"
	// IdentityPeerPrincipal reads the mTLS peer certificate's URI SAN
	// (Envoy attribute connection.uri_san_peer_certificate).
	IdentityPeerPrincipal IdentitySource = "peerPrincipal"
	// IdentitySourceAddress reads the client IP address, without port.
	IdentitySourceAddress IdentitySource = "sourceAddress"
)

// MissingIdentity says what happens to a limited request without a user
// identity.
type MissingIdentity string

// Ways of handling a request without an identity.
const (
	// MissingShared limits the request by the buckets that are not per
	// user only.
	MissingShared MissingIdentity = "shared"
	// MissingAnonymous puts every request without an identity in one
	// per-user bucket, the anonymous user's.
	MissingAnonymous MissingIdentity = "anonymous"
	// MissingReject answers the request with HTTP 401 and a JSON-RPC error.
	MissingReject MissingIdentity = "reject"
)

// UserIdentity configures how users are told apart ("userIdentity").
type UserIdentity struct {
	From   IdentitySource // "from"
	Header string         // "header": lower-case header name, only with From == IdentityHeader
	// Missing ("missing", default "shared") says what happens to a limited
	// request without an identity.
	Missing MissingIdentity
}

// BatchMode says what happens to JSON-RPC batches.
type BatchMode string

// Batch modes.
const (
	// BatchReject answers every JSON-RPC batch with HTTP 400 and -32600.
	BatchReject BatchMode = "reject"
	// BatchLimit lets a batch pass only when every tools/call in it gets
	// its tokens, all or nothing.
	BatchLimit BatchMode = "limit"
)

// Config is a validated plugin configuration with defaults applied.
type Config struct {
	// Shared ("shared") is the server-wide bucket every tools/call draws
	// from, or nil.
	Shared *Bucket
	// PerUser ("perUser") is the bucket each user's tools/call draw from,
	// or nil. Set only together with UserIdentity.
	PerUser *Bucket
	// Quota ("quota") is the server-wide calendar quota of tools/call and
	// PerUserQuota ("perUserQuota") each user's, or nil.
	Quota        *Quota
	PerUserQuota *Quota
	// Concurrency ("concurrency") caps the tools/call in flight, or nil.
	Concurrency *Concurrency
	// Tools ("tools") are the per-tool limits, with unique names.
	Tools []Tool
	// Methods ("methods") are the limits of JSON-RPC methods other than
	// tools/call, with unique names.
	Methods []Named
	// Prompts ("prompts") are the limits of prompts/get by params.name,
	// and Resources ("resources") those of resources/read by params.uri.
	Prompts   []Named
	Resources []Named
	// UserIdentity ("userIdentity") says how users are identified; set
	// exactly when some perUser limit is configured.
	UserIdentity *UserIdentity
	// MaxTrackedUsers ("maxTrackedUsers", default 10000) bounds the number
	// of users with their own per-user state.
	MaxTrackedUsers int
	// Paths ("paths") are the request path prefixes the filter inspects;
	// empty means every path.
	Paths []string
	// MaxRequestBodyBytes ("maxRequestBodyBytes", default 1048576) is the
	// largest body the filter buffers; larger ones get HTTP 413.
	MaxRequestBodyBytes int
	// Batch ("batch", default "reject") says what happens to batches.
	Batch BatchMode
	// ErrorCode ("errorCode", default -32029) is the JSON-RPC error code of
	// a rate-limit rejection.
	ErrorCode int
	// RejectStatus ("rejectStatus", default 429) is the HTTP status of a
	// rate-limit rejection: 429 or 200.
	RejectStatus int
	// DryRun ("dryRun") counts and logs rejections without rejecting.
	DryRun bool
	// RateLimitHeaders ("rateLimitHeaders") adds the IETF RateLimit-Policy
	// and RateLimit headers to tools/call responses.
	RateLimitHeaders bool
	// Redis ("redis") keeps the buckets in Redis; nil keeps them in Envoy
	// shared data.
	Redis *Redis
}

// Parse decodes and validates a configuration. Errors name the field and
// the bad value, e.g. `tools[1].shared.maxTokens: must be an integer >= 1, got 0`.
// The error is a *Error.
func Parse(data []byte) (*Config, error) {
	cfg, err := parse(data)
	if err != nil {
		// A nil *Error must not become a non-nil error interface.
		return nil, err
	}
	return cfg, nil
}

// Tool returns the configured limits of the tool called name (an exact,
// case-sensitive match), or nil.
func (c *Config) Tool(name string) *Tool {
	for i := range c.Tools {
		if c.Tools[i].Name == name {
			return &c.Tools[i]
		}
	}
	return nil
}

// Method returns the configured limits of the JSON-RPC method called
// name, or nil.
func (c *Config) Method(name string) *Named {
	for i := range c.Methods {
		if c.Methods[i].Name == name {
			return &c.Methods[i]
		}
	}
	return nil
}

// HasPerUser reports whether any per-user limit (top-level, or of a tool,
// prompt, resource or method) is configured.
func (c *Config) HasPerUser() bool {
	if c.PerUser != nil || c.PerUserQuota != nil || c.Concurrency != nil && c.Concurrency.PerUser > 0 {
		return true
	}
	for _, list := range [][]Named{c.Tools, c.Methods, c.Prompts, c.Resources} {
		for _, entry := range list {
			if entry.PerUser != nil || entry.PerUserQuota != nil || entry.Concurrency != nil && entry.Concurrency.PerUser > 0 {
				return true
			}
		}
	}
	return false
}
