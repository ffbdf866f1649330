package filter

import (
	"fmt"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/bucket"
	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter/config"
)

// newStoreLimiter builds the production limiter: the bucket package's
// all-or-nothing token buckets over store (Envoy shared data), with keys
// namespaced by the plugin's root id and the per-user table bounded by
// maxTrackedUsers.
func newStoreLimiter(store bucket.Store, namespace string, cfg *config.Config) (bucket.Limiter, error) {
	limiter, err := bucket.NewStoreLimiter(store, bucket.Options{
		Namespace:       namespace,
		MaxTrackedUsers: cfg.MaxTrackedUsers,
	})
	if err != nil {
		return nil, fmt.Errorf("build limiter: %w", err)
	}
	return limiter, nil
}
