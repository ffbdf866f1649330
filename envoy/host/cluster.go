package host

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/envoyconfig"
)

// Connection pool limits, as Go's transport has them for the router.
const (
	maxIdleConnsPerEndpoint = 128
	idleConnTimeout         = 60 * time.Second
)

// cluster is an upstream cluster with its endpoints and connection pools:
// Go's transport for the router's streams, and the callouts' own pool
// (calloutConn), which lets the goroutine of a callout write the request
// and read the answer itself, as Envoy's worker thread does, without the
// transport's reader and writer goroutines between them.
type cluster struct {
	cfg       *envoyconfig.Cluster
	next      atomic.Uint32
	transport *http.Transport
	dialer    *net.Dialer

	mu     sync.Mutex
	idle   map[string][]*calloutConn // by endpoint, most recently used last
	closed bool
}

func newCluster(c *envoyconfig.Cluster) *cluster {
	dialer := &net.Dialer{Timeout: c.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &cluster{cfg: c, dialer: dialer, idle: map[string][]*calloutConn{}, transport: &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: maxIdleConnsPerEndpoint,
		IdleConnTimeout:     idleConnTimeout,
		DisableCompression:  true,
	}}
}

// endpoint picks the next endpoint, round robin.
func (c *cluster) endpoint() string {
	n := c.next.Add(1) - 1
	return c.cfg.Endpoints[int(n)%len(c.cfg.Endpoints)]
}

// calloutConn is a kept-alive HTTP/1.1 connection of the callout pool.
type calloutConn struct {
	net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	idleFrom time.Time
}

// takeConn returns an idle connection to addr (reused true), or dials a
// new one before the deadline.
func (c *cluster) takeConn(deadline time.Time, addr string) (cc *calloutConn, reused bool, err error) {
	now := time.Now()
	c.mu.Lock()
	for list := c.idle[addr]; len(list) > 0; list = c.idle[addr] {
		cc = list[len(list)-1]
		c.idle[addr] = list[:len(list)-1]
		if now.Sub(cc.idleFrom) < idleConnTimeout {
			c.mu.Unlock()
			return cc, true, nil
		}
		_ = cc.Close()
	}
	c.mu.Unlock()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	conn, err := c.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	return &calloutConn{Conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}, false, nil
}

// putConn keeps an idle connection for the next callout to addr.
func (c *cluster) putConn(addr string, cc *calloutConn) {
	_ = cc.SetDeadline(time.Time{})
	cc.idleFrom = time.Now()
	c.mu.Lock()
	if c.closed || len(c.idle[addr]) >= maxIdleConnsPerEndpoint {
		c.mu.Unlock()
		_ = cc.Close()
		return
	}
	c.idle[addr] = append(c.idle[addr], cc)
	c.mu.Unlock()
}

// close closes every idle connection of the cluster.
func (c *cluster) close() {
	c.mu.Lock()
	c.closed = true
	idle := c.idle
	c.idle = map[string][]*calloutConn{}
	c.mu.Unlock()
	for _, list := range idle {
		for _, cc := range list {
			_ = cc.Close()
		}
	}
	c.transport.CloseIdleConnections()
}
