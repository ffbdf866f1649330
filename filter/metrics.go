package filter

import (
	"strconv"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
)

// Metric names. Every name starts with "mcp_ratelimit.<namespace>." where
// the namespace is the plugin's root id (see pluginNamespace), sanitised
// with metricSegment. docs/metrics.md lists them with their meaning; keep
// the two in step (a test checks it).
const (
	metricPrefix = "mcp_ratelimit."

	metricAdmitted        = "tools_call.admitted"
	metricRejected        = "tools_call.rejected"
	metricRejectedShared  = "tools_call.rejected_shared"
	metricRejectedTool    = "tools_call.rejected_tool"
	metricRejectedUser    = "tools_call.rejected_user"
	metricRejectedUserTol = "tools_call.rejected_user_tool"
	metricRejectedContend = "tools_call.rejected_contended"
	metricDryRunRejected  = "tools_call.dry_run_rejected"
	metricRejectedQuota   = "tools_call.rejected_quota"
	metricRejectedConcur  = "tools_call.rejected_concurrency"
	metricInvalid         = "requests.invalid"
	metricOversized       = "requests.oversized"
	metricHeaderMismatch  = "requests.header_mismatch"
	metricUnsupportedEnc  = "requests.unsupported_encoding"
	metricIdentityMissing = "requests.identity_missing"
	metricUserOverflow    = "users.table_overflow"
	metricStoreErrors     = "store.errors"

	// Per configured tool: "tool.<tool>.admitted" and "tool.<tool>.rejected";
	// likewise per methods, prompts and resources entry.
	metricToolSegment     = "tool."
	metricMethodSegment   = "method."
	metricPromptSegment   = "prompt."
	metricResourceSegment = "resource."
	metricToolAdmitted    = ".admitted"
	metricToolRejected    = ".rejected"
)

// metrics are the counters of one plugin context.
type metrics struct {
	admitted       metricCounter
	rejected       metricCounter
	rejectedByKind [bucket.KindUserTool + 1]metricCounter
	contended      metricCounter
	rejectedQuota  metricCounter
	rejectedConcur metricCounter
	dryRunRejected metricCounter
	invalid        metricCounter
	oversized      metricCounter
	headerMismatch metricCounter
	// unsupportedEncoding counts requests refused with 415 because a
	// charset, content coding or repeated header could make the server
	// read their body differently.
	unsupportedEncoding metricCounter
	// identityMissing counts limited requests without a user identity
	// refused (or, in a dry run, that would have been) under
	// userIdentity.missing "reject".
	identityMissing metricCounter
	userOverflow    metricCounter
	storeErrors     metricCounter
}

// metricCounter is a counter of the plugin: the host's id for it.
type metricCounter uint32

// defineCounter defines the counter name with the host.
func defineCounter(name string) metricCounter {
	return metricCounter(proxywasm.DefineCounterMetric(name))
}

// Increment adds n to the counter; an increment of 0 does nothing (Envoy
// refuses it with BadArgument). A counter the host refuses to increment
// stays as it was: counting never stops a request, where the SDK's
// MetricCounter.Increment would panic and trap the VM.
func (c metricCounter) Increment(n uint64) {
	if n > 0 {
		incrementMetric(uint32(c), n)
	}
}

// metricHistogram is a histogram of the plugin: the host's id for it.
type metricHistogram uint32

// defineHistogram defines the histogram name with the host.
func defineHistogram(name string) metricHistogram {
	return metricHistogram(proxywasm.DefineHistogramMetric(name))
}

// Record adds value to the histogram. A value the host refuses is
// dropped, as a counter's increment is.
func (h metricHistogram) Record(value uint64) {
	recordMetric(uint32(h), value)
}

// defineMetrics defines the plugin-wide counters under prefix. Envoy keeps
// a counter across reconfigurations when its name is unchanged.
func defineMetrics(prefix string) metrics {
	define := func(name string) metricCounter {
		return defineCounter(prefix + name)
	}
	return metrics{
		admitted: define(metricAdmitted),
		rejected: define(metricRejected),
		rejectedByKind: [...]metricCounter{
			bucket.KindShared:   define(metricRejectedShared),
			bucket.KindTool:     define(metricRejectedTool),
			bucket.KindUser:     define(metricRejectedUser),
			bucket.KindUserTool: define(metricRejectedUserTol),
		},
		contended:           define(metricRejectedContend),
		rejectedQuota:       define(metricRejectedQuota),
		rejectedConcur:      define(metricRejectedConcur),
		dryRunRejected:      define(metricDryRunRejected),
		invalid:             define(metricInvalid),
		oversized:           define(metricOversized),
		headerMismatch:      define(metricHeaderMismatch),
		unsupportedEncoding: define(metricUnsupportedEnc),
		identityMissing:     define(metricIdentityMissing),
		userOverflow:        define(metricUserOverflow),
		storeErrors:         define(metricStoreErrors),
	}
}

// toolMetricSegments returns, for each configured tool name in order, the
// segment its counters are named with: the sanitised name, with "_<index>"
// appended when two names sanitise alike (so each tool keeps its own
// counters).
func toolMetricSegments(names []string) []string {
	segments := make([]string, len(names))
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		segment := metricSegment(name)
		for seen[segment] {
			segment += "_" + strconv.Itoa(i)
		}
		seen[segment] = true
		segments[i] = segment
	}
	return segments
}

// metricSegment turns an arbitrary string into one segment of a stat name:
// ASCII letters, digits, '_' and '-' stay, every other byte becomes '_' (a
// '.' would split the Envoy stat name, and Prometheus names allow little
// more). An empty string becomes "_".
func metricSegment(s string) string {
	if s == "" {
		return "_"
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	return string(b)
}
