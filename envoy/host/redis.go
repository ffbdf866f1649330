package host

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/proxywasm"
)

// redisCall carries a module's proxy_redis_call (Higress profile) to an
// endpoint of its cluster over a new connection: AUTH first when
// proxy_redis_init gave credentials, then the query; the reply is the raw
// RESP value, read within the timeout of proxy_redis_init.
func (h *hostImpl) redisCall(c proxywasm.RedisCallout, done func([]byte, error)) {
	cl := h.clusters[c.Cluster]
	timeout := c.Timeout
	if timeout <= 0 || timeout > maxCalloutTimeout {
		timeout = maxCalloutTimeout
	}
	deadline := time.Now().Add(timeout)
	conn, err := net.DialTimeout("tcp", cl.endpoint(), timeout)
	if err != nil {
		done(nil, err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	rd := bufio.NewReader(conn)
	if c.Password != "" {
		auth := respArray("AUTH", c.Password)
		if c.Username != "" {
			auth = respArray("AUTH", c.Username, c.Password)
		}
		var reply bytes.Buffer
		if _, err := conn.Write(auth); err != nil {
			done(nil, err)
			return
		}
		if err := readRESPValue(rd, &reply, 0); err != nil {
			done(nil, err)
			return
		}
		if reply.Len() > 0 && reply.Bytes()[0] == '-' {
			done(nil, fmt.Errorf("AUTH: %s", bytes.TrimSpace(reply.Bytes())))
			return
		}
	}
	if _, err := conn.Write(c.Query); err != nil {
		done(nil, err)
		return
	}
	var reply bytes.Buffer
	if err := readRESPValue(rd, &reply, 0); err != nil {
		done(nil, err)
		return
	}
	done(reply.Bytes(), nil)
}

// respArray writes a command as a RESP array of bulk strings.
func respArray(args ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b.Bytes()
}

// maxRESPReply bounds a reply the host reads.
const maxRESPReply = 1 << 20

// readRESPValue copies one RESP value from rd to out.
func readRESPValue(rd *bufio.Reader, out *bytes.Buffer, depth int) error {
	if depth > 8 || out.Len() > maxRESPReply {
		return errors.New("RESP reply too deep or too large")
	}
	line, err := rd.ReadBytes('\n')
	if err != nil {
		return err
	}
	out.Write(line)
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("malformed RESP line %q", line)
	}
	n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
	switch line[0] {
	case '$':
		if n >= 0 {
			if n > maxRESPReply {
				return errors.New("RESP bulk string too large")
			}
			_, err = io.CopyN(out, rd, int64(n)+2)
		}
		return err
	case '*':
		for range n {
			if err := readRESPValue(rd, out, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}
