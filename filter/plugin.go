package filter

import (
	"errors"
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/jsonrpc"
)

// Properties naming the plugin (Envoy attributes "Wasm attributes"):
// plugin_root_id is the filter's root_id, which Istio fills from the
// WasmPlugin's pluginName; plugin_name is the filter's name, which Istio
// fills with "<namespace>.<WasmPlugin name>".
var (
	propertyPluginRootID = []string{"plugin_root_id"}
	propertyPluginName   = []string{"plugin_name"}
)

// defaultNamespace names the state and metrics of a plugin that has neither
// a root id nor a name.
const defaultNamespace = "default"

// pluginContext is one configured instance of the filter (one per worker
// VM per filter configuration).
type pluginContext struct {
	types.DefaultPluginContext
	deps deps

	// Set by a successful OnPluginStart; nil before.
	settings *settings
}

// settings is everything an HTTP context needs from its plugin, fixed when
// the plugin starts.
type settings struct {
	cfg       *config.Config
	namespace string
	paths     pathMatcher
	limiter   bucket.Limiter
	metrics   metrics
	shared    *bucket.Limit
	perUser   *bucket.Limit
	// quota and perUserQuota are the calendar quotas of tools/call.
	quota, perUserQuota *bucket.Quota
	tools               map[string]*toolLimits
	// methods, prompts and resources are the limits of other methods
	// (see methods.go), by method, prompt name and resource URI.
	methods   map[string]*toolLimits
	prompts   map[string]*toolLimits
	resources map[string]*toolLimits
	now       func() time.Time
	// inflight are the streams of this VM holding concurrency leases
	// (see inflight.go).
	inflight inflight
	// rateLimitReply encodes the body of a rejection (errorCode).
	rateLimitReply jsonrpc.RateLimitReply
	// retryAfter is the last Retry-After value sent and its text: the
	// rejections of a flood mostly share one, which is then not
	// formatted again.
	retryAfter struct {
		seconds int64
		text    string
	}
	// rejectionHeaders is the serialised header map of the last rejection
	// without RateLimit fields (see rejectionPairs).
	rejectionHeaders struct {
		seconds  int64
		withBody bool
		pairs    []byte
	}
	// headers are the request headers of the stream whose
	// OnHttpRequestHeaders runs (see fetchRequestHeaders). They refer to
	// the last header map read: the reused buffer, or a map larger than
	// reusedHeaderBytes in memory of its own, which they keep alive until
	// the next request's headers replace them.
	headers requestHeaders
	// readScratch is the body reader's working memory: a read is done
	// within one callback, so the plugin's streams share it.
	readScratch jsonrpc.Scratch
	// spareInspection is the memory of a finished stream's inspection,
	// for the next (see newInspection).
	spareInspection *inspection
	// spareContext is a finished stream's context, cleared, for the next
	// stream (see NewHttpContext and keepContext).
	spareContext *httpContext
}

// toolLimits are the buckets and counters of one configured tool (or
// method, prompt or resource: see methods.go).
type toolLimits struct {
	name    string // the configured name; never a string from a request body
	shared  *bucket.Limit
	perUser *bucket.Limit
	cost    int64 // tokens a call takes from each bucket
	// kind and userKind are the bucket kinds of shared and perUser (and
	// of the quotas).
	kind, userKind bucket.Kind
	// quota and perUserQuota are its calendar quotas, or nil.
	quota, perUserQuota *bucket.Quota
	// concurrency caps its calls in flight, or nil.
	concurrency *config.Concurrency
	admitted    metricCounter
	rejected    metricCounter
}

// OnPluginStart implements types.PluginContext. It parses the plugin
// configuration and builds the limiter and counters. On a bad configuration
// it logs one line naming the field and the value and returns false, which
// makes Envoy reject the configuration (proxy_on_configure returning false;
// on a later xDS update the previous configuration stays).
func (p *pluginContext) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		proxywasm.LogCriticalf("mcp-ratelimit: cannot read the plugin configuration: %v", err)
		return false
	}
	cfg, err := config.Parse(data)
	if err != nil {
		proxywasm.LogCriticalf("mcp-ratelimit: invalid plugin configuration: %v", err)
		return false
	}
	namespace := pluginNamespace()
	limiter, err := p.deps.newLimiter(p.deps.store, namespace, cfg)
	if err != nil {
		proxywasm.LogCriticalf("mcp-ratelimit: plugin %q: %v", namespace, err)
		return false
	}
	settings, err := newSettings(cfg, namespace, limiter, p.deps)
	if err != nil {
		proxywasm.LogCriticalf("mcp-ratelimit: plugin %q: %v", namespace, err)
		return false
	}
	p.settings = settings
	p.startLeaseRenewal(cfg)
	proxywasm.LogInfof("mcp-ratelimit: plugin %q started (%d tools configured, dryRun=%t)",
		namespace, len(cfg.Tools), cfg.DryRun)
	return true
}

// newSettings derives the per-request lookup structures and defines the
// counters of a started plugin.
func newSettings(cfg *config.Config, namespace string, limiter bucket.Limiter, d deps) (*settings, error) {
	prefix := metricPrefix + metricSegment(namespace) + "."
	s := &settings{
		cfg:       cfg,
		namespace: namespace,
		paths:     newPathMatcher(cfg.Paths),
		limiter:   limiter,
		metrics:   defineMetrics(prefix),
		shared:    limitOf(cfg.Shared),
		perUser:   limitOf(cfg.PerUser),
		now:       d.now,

		rateLimitReply: jsonrpc.NewRateLimitReply(cfg.ErrorCode, messageRateLimited),
	}
	s.tools = namedLimits(cfg.Tools, prefix+metricToolSegment, bucket.KindTool, bucket.KindUserTool)
	s.methods = namedLimits(cfg.Methods, prefix+metricMethodSegment, bucket.KindMethod, bucket.KindUserMethod)
	s.prompts = namedLimits(cfg.Prompts, prefix+metricPromptSegment, bucket.KindPrompt, bucket.KindUserPrompt)
	s.resources = namedLimits(cfg.Resources, prefix+metricResourceSegment, bucket.KindResource, bucket.KindUserResource)
	if err := s.resolveQuotas(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// limitOf converts a configured bucket; nil stays nil.
func limitOf(b *config.Bucket) *bucket.Limit {
	if b == nil {
		return nil
	}
	return &bucket.Limit{MaxTokens: b.MaxTokens, RefillPeriod: b.RefillPeriod}
}

// pluginNamespace names the plugin's state in shared data and its metrics:
// the root id (Envoy root_id, Istio pluginName), else the plugin name, else
// "default". Envoy keys shared data by vm_id only and Istio leaves vm_id
// empty, so two plugins in one proxy must have distinct root ids (or, both
// without one, distinct names) to keep their buckets apart. The namespace
// does not change when the configuration does, so a reconfiguration keeps
// the state of unchanged buckets.
func pluginNamespace() string {
	for _, property := range [][]string{propertyPluginRootID, propertyPluginName} {
		if value, err := proxywasm.GetProperty(property); err == nil && len(value) > 0 {
			return string(value)
		}
	}
	return defaultNamespace
}

// NewHttpContext implements types.PluginContext.
func (p *pluginContext) NewHttpContext(contextID uint32) types.HttpContext {
	if p.settings == nil {
		// Envoy creates no stream for a plugin whose start failed; should a
		// host do it anyway, the stream passes untouched.
		return &types.DefaultHttpContext{}
	}
	if h := p.settings.spareContext; h != nil {
		p.settings.spareContext = nil
		h.contextID = contextID
		return h
	}
	return &httpContext{settings: p.settings, contextID: contextID}
}
