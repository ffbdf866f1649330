package filter

import (
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
)

// LimiterFactory builds a plugin's limiter, as the tests choose.
type LimiterFactory func(store bucket.Store, namespace string, cfg *config.Config) (bucket.Limiter, error)

// TestDeps are the replaceable dependencies of the filter; nil fields keep
// the production value.
type TestDeps struct {
	Now        func() time.Time
	NewLimiter LimiterFactory
	Store      bucket.Store
}

// NewVMContextWith returns the filter's VM context with some dependencies
// replaced.
func NewVMContextWith(d TestDeps) types.VMContext {
	deps := productionDeps()
	if d.Now != nil {
		deps.now = d.Now
	}
	if d.NewLimiter != nil {
		deps.newLimiter = limiterFactory(d.NewLimiter)
	}
	if d.Store != nil {
		deps.store = d.Store
	}
	return &vmContext{deps: deps}
}

// ProductionLimiter is the limiter factory NewVMContext uses.
func ProductionLimiter(store bucket.Store, namespace string, cfg *config.Config) (bucket.Limiter, error) {
	return newStoreLimiter(store, namespace, cfg)
}

// HostKVStore is the Envoy shared data adapter.
var HostKVStore bucket.Store = &hostKVStore{}

// Internal functions under test.
var (
	NormalizePath         = normalizePath
	HostOfAddress         = hostOfAddress
	CanonicalIP           = canonicalIP
	DecodeMcpHeaderValue  = decodeMcpHeaderValue
	RateLimitHeaderFields = rateLimitHeaderFields
	RetryAfterSeconds     = retryAfterSeconds
	MetricSegment         = metricSegment
	ToolMetricSegments    = toolMetricSegments
)

// PathMatches reports whether target is under one of prefixes.
func PathMatches(prefixes []string, target string) bool {
	return newPathMatcher(prefixes).matches(target)
}

// MetricNames lists every plugin-wide metric suffix (after
// "mcp_ratelimit.<namespace>.") and the per-tool suffixes (after
// "mcp_ratelimit.<namespace>.tool.<tool>").
func MetricNames() (pluginWide, perTool []string) {
	return append([]string{
			metricAdmitted, metricRejected, metricRejectedShared, metricRejectedTool, metricRejectedUser,
			metricRejectedUserTol, metricRejectedContend, metricDryRunRejected, metricInvalid,
			metricOversized, metricHeaderMismatch, metricUserOverflow, metricStoreErrors,
			metricIdentityMissing, metricRejectedQuota, metricRejectedConcur,
		}, redisMetricNames()...),
		[]string{metricToolAdmitted, metricToolRejected}
}

// BodyEncodingMessage is the 415 message checkBodyEncoding's verdict on a
// header list leads to, "" when the request is read.
func BodyEncodingMessage(headers [][2]string) string { return checkBodyEncoding(headers).message() }
