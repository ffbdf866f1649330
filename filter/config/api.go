// Package config parses and validates the plugin configuration JSON.
//
// API CONTRACT (agreed between packages; the implementation may add to it
// but must not change these names or signatures without updating callers).
package config

import "time"

// Defaults for optional fields.
const (
	DefaultMaxTrackedUsers     = 10000
	DefaultMaxRequestBodyBytes = 1 << 20
	DefaultErrorCode           = -32029
	DefaultRejectStatus        = 429
)

// Bucket is one token bucket's parameters as configured.
type Bucket struct {
	MaxTokens    int64         // "maxTokens", integer >= 1
	RefillPeriod time.Duration // "refillPeriod", Go duration string > 0
}

// Tool is the limits of one named tool.
type Tool struct {
	Name    string
	Shared  *Bucket
	PerUser *Bucket
}

// IdentitySource says where a request's user identity comes from.
type IdentitySource string

// Identity sources.
const (
	IdentityHeader        IdentitySource = "header"
	IdentityPeerPrincipal IdentitySource = "peerPrincipal"
	IdentitySourceAddress IdentitySource = "sourceAddress"
)

// UserIdentity configures how users are told apart.
type UserIdentity struct {
	From   IdentitySource
	Header string // lower-case header name, only with From == IdentityHeader
}

// BatchMode says what happens to JSON-RPC batches.
type BatchMode string

// Batch modes.
const (
	BatchReject BatchMode = "reject"
	BatchLimit  BatchMode = "limit"
)

// Config is a validated plugin configuration with defaults applied.
type Config struct {
	Shared              *Bucket
	PerUser             *Bucket
	Tools               []Tool
	UserIdentity        *UserIdentity
	MaxTrackedUsers     int
	Paths               []string // empty: every path
	MaxRequestBodyBytes int
	Batch               BatchMode
	ErrorCode           int
	RejectStatus        int
	DryRun              bool
	RateLimitHeaders    bool
}

// Parse decodes and validates a configuration. Errors name the field and
// the bad value, e.g. `tools[1].shared.maxTokens: must be an integer >= 1, got 0`.
func Parse(data []byte) (*Config, error) { panic("not implemented") }
