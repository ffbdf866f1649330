package host

import (
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
)

// cluster is an upstream cluster with its endpoints and connection pool.
type cluster struct {
	cfg       *envoyconfig.Cluster
	next      atomic.Uint32
	transport *http.Transport
}

func newCluster(c *envoyconfig.Cluster) *cluster {
	dialer := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &cluster{cfg: c, transport: &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: 128,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}}
}

// endpoint picks the next endpoint, round robin.
func (c *cluster) endpoint() string {
	n := c.next.Add(1) - 1
	return c.cfg.Endpoints[int(n)%len(c.cfg.Endpoints)]
}
