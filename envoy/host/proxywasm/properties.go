package proxywasm

import (
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host/filterchain"
)

// StreamProps is what the host knows about a stream's connection, for the
// properties a module reads with proxy_get_property.
type StreamProps struct {
	// RemoteAddr and LocalAddr are "ip:port" (source.* and destination.*).
	RemoteAddr, LocalAddr string
	// ConnectionID is connection.id.
	ConnectionID uint64
	// Protocol is request.protocol, e.g. "HTTP/1.1".
	Protocol string
	// Start is request.time.
	Start time.Time
	// Extra replaces or adds properties, keyed by the dotted path (e.g.
	// "connection.uri_san_peer_certificate"), with the exact bytes
	// proxy_get_property returns.
	Extra map[string][]byte
}

func int64Bytes(v int64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(v))
	return b
}

func boolBytes(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// splitPath splits a property path: segments separated by NUL (the SDKs'
// serialisation); a trailing NUL is ignored.
func splitPath(raw []byte) []string {
	s := strings.TrimSuffix(string(raw), "\x00")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\x00")
}

func abiGetProperty(vm *VM, s []uint64) {
	raw, good := vm.read(uint32(s[0]), uint32(s[1]))
	if !good {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	value, res := vm.property(splitPath(raw), string(raw))
	if res != ResultOK {
		ok(s, res)
		return
	}
	ok(s, vm.copyOut(value, uint32(s[2]), uint32(s[3])))
}

// abiSetProperty stores a value in the stream's filter state, where later
// proxy_get_property calls find it (Envoy Context::setProperty, prefix
// "wasm."); outside a stream it is BadArgument... Envoy needs stream info,
// so root contexts cannot set properties.
func abiSetProperty(vm *VM, s []uint64) {
	key, ok1 := vm.read(uint32(s[0]), uint32(s[1]))
	value, ok2 := vm.read(uint32(s[2]), uint32(s[3]))
	if !ok1 || !ok2 {
		ok(s, ResultInvalidMemoryAccess)
		return
	}
	st := vm.streams[vm.contextOf()]
	if st == nil {
		ok(s, ResultNotFound)
		return
	}
	if st.filterState == nil {
		st.filterState = map[string][]byte{}
	}
	st.filterState[string(key)] = value
	ok(s, ResultOK)
}

// property resolves a path the way Envoy's Context::getProperty /
// findValue does for the attributes the local host knows; values are
// serialised as Envoy's serializeValue does (strings raw, integers and
// timestamps as 8-byte little-endian, booleans as one byte, maps as
// pairs).
func (vm *VM) property(path []string, raw string) ([]byte, Result) {
	if len(path) == 0 {
		return nil, ResultNotFound
	}
	id := vm.contextOf()
	st := vm.streams[id]
	root := vm.rootOf(id)
	dotted := strings.Join(path, ".")
	if st != nil {
		if v, found := st.props.Extra[dotted]; found {
			return v, ResultOK
		}
		if v, found := st.filterState[raw]; found {
			return v, ResultOK
		}
		if v, found := st.filterState[dotted]; found {
			return v, ResultOK
		}
	}
	switch path[0] {
	case "plugin_name", "plugin_root_id", "plugin_vm_id":
		if root == nil || len(path) != 1 {
			return nil, ResultNotFound
		}
		switch path[0] {
		case "plugin_name":
			return []byte(root.plugin.Name), ResultOK
		case "plugin_root_id":
			return []byte(root.plugin.RootID), ResultOK
		default:
			return []byte(vm.cfg.VMID), ResultOK
		}
	case "node":
		if len(path) == 2 && path[1] == "id" {
			return []byte(vm.env.NodeID), ResultOK
		}
		if len(path) == 2 && path[1] == "cluster" {
			return []byte(vm.env.NodeCluster), ResultOK
		}
		return nil, ResultNotFound
	}
	if st == nil {
		return nil, ResultNotFound
	}
	return st.property(path)
}

func addrParts(addr string) (string, int64, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	p, err := strconv.ParseInt(port, 10, 64)
	if err != nil {
		return "", 0, false
	}
	return host, p, true
}

func (st *Stream) property(path []string) ([]byte, Result) {
	switch path[0] {
	case "source", "destination":
		addr := st.props.RemoteAddr
		if path[0] == "destination" {
			addr = st.props.LocalAddr
		}
		if len(path) != 2 || addr == "" {
			return nil, ResultNotFound
		}
		_, port, good := addrParts(addr)
		switch path[1] {
		case "address":
			return []byte(addr), ResultOK
		case "port":
			if !good {
				return nil, ResultNotFound
			}
			return int64Bytes(port), ResultOK
		}
		return nil, ResultNotFound
	case "connection":
		if len(path) != 2 {
			return nil, ResultNotFound
		}
		switch path[1] {
		case "mtls":
			return boolBytes(false), ResultOK
		case "id":
			return int64Bytes(int64(st.props.ConnectionID)), ResultOK
		case "requested_server_name":
			return []byte{}, ResultOK
		}
		// TLS attributes (uri_san_peer_certificate, ...) are absent on a
		// plaintext connection.
		return nil, ResultNotFound
	case "request":
		return st.requestProperty(path[1:])
	case "response":
		return st.responseProperty(path[1:])
	}
	return nil, ResultNotFound
}

func (st *Stream) requestHeadersForProps() *filterchain.HeaderMap {
	if st.origRequestHeaders != nil {
		return st.origRequestHeaders
	}
	return filterchain.NewHeaderMap()
}

func headerValue(h *filterchain.HeaderMap, name string) ([]byte, Result) {
	if h == nil {
		return nil, ResultNotFound
	}
	v, found := h.Get(name)
	if !found {
		return nil, ResultNotFound
	}
	return []byte(v), ResultOK
}

func (st *Stream) requestProperty(path []string) ([]byte, Result) {
	h := st.requestHeadersForProps()
	if len(path) == 0 {
		return nil, ResultNotFound
	}
	switch path[0] {
	case "headers":
		if len(path) == 1 {
			return appendPairs(nil, h.Pairs()), ResultOK
		}
		if len(path) == 2 {
			return headerValue(h, path[1])
		}
		return nil, ResultNotFound
	}
	if len(path) != 1 {
		return nil, ResultNotFound
	}
	switch path[0] {
	case "path":
		return headerValue(h, ":path")
	case "url_path":
		p, res := headerValue(h, ":path")
		if res != ResultOK {
			return nil, res
		}
		if i := strings.IndexByte(string(p), '?'); i >= 0 {
			p = p[:i]
		}
		return p, ResultOK
	case "query":
		p, res := headerValue(h, ":path")
		if res != ResultOK {
			return nil, res
		}
		if i := strings.IndexByte(string(p), '?'); i >= 0 {
			return p[i+1:], ResultOK
		}
		return []byte{}, ResultOK
	case "host":
		return headerValue(h, ":authority")
	case "scheme":
		return headerValue(h, ":scheme")
	case "method":
		return headerValue(h, ":method")
	case "referer":
		return headerValue(h, "referer")
	case "useragent":
		return headerValue(h, "user-agent")
	case "id":
		return headerValue(h, "x-request-id")
	case "protocol":
		if st.props.Protocol == "" {
			return nil, ResultNotFound
		}
		return []byte(st.props.Protocol), ResultOK
	case "time":
		if st.props.Start.IsZero() {
			return nil, ResultNotFound
		}
		return int64Bytes(st.props.Start.UnixNano()), ResultOK
	case "duration":
		if st.props.Start.IsZero() || !st.requestComplete {
			return nil, ResultNotFound
		}
		return int64Bytes(int64(st.requestDuration)), ResultOK
	case "size":
		v, res := headerValue(h, "content-length")
		if res != ResultOK {
			return nil, res
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return nil, ResultNotFound
		}
		return int64Bytes(n), ResultOK
	}
	return nil, ResultNotFound
}

func (st *Stream) responseProperty(path []string) ([]byte, Result) {
	if len(path) == 0 {
		return nil, ResultNotFound
	}
	h := st.respHeadersForProps
	switch path[0] {
	case "headers":
		if h == nil {
			return nil, ResultNotFound
		}
		if len(path) == 1 {
			return appendPairs(nil, h.Pairs()), ResultOK
		}
		if len(path) == 2 {
			return headerValue(h, path[1])
		}
		return nil, ResultNotFound
	case "code":
		if h == nil {
			return nil, ResultNotFound
		}
		v, res := headerValue(h, ":status")
		if res != ResultOK {
			return nil, res
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return nil, ResultNotFound
		}
		return int64Bytes(n), ResultOK
	case "code_details":
		if st.responseDetails == "" {
			return nil, ResultNotFound
		}
		return []byte(st.responseDetails), ResultOK
	}
	return nil, ResultNotFound
}
