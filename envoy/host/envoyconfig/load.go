package envoyconfig

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	filelogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	streamlogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
	"sigs.k8s.io/yaml"
)

// The packages of every type a typed_config may hold are imported so their
// types are registered with protobuf's global registry, which protojson
// uses to resolve "@type".
var _ = []proto.Message{
	(*hcmv3.HttpConnectionManager)(nil),
	(*routerv3.Router)(nil),
	(*wasmfilterv3.Wasm)(nil),
	(*streamlogv3.StdoutAccessLog)(nil),
	(*filelogv3.FileAccessLog)(nil),
	(*structpb.Struct)(nil),
	(*wrapperspb.StringValue)(nil),
}

// LoadFile reads and loads a bootstrap YAML (or JSON) file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("envoyconfig: read bootstrap: %w", err)
	}
	cfg, err := Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// Load parses a bootstrap, checks it as Envoy would (strict decoding and
// the generated validation rules), refuses every field outside the host's
// allow-list and returns the host's view of it.
func Load(yamlData []byte) (*Config, error) {
	bootstrap, err := Parse(yamlData)
	if err != nil {
		return nil, err
	}
	if err := checkAllowed(bootstrap.ProtoReflect(), ""); err != nil {
		return nil, err
	}
	return convert(bootstrap)
}

// Parse decodes a bootstrap as Envoy loads one (Decode) and checks it
// against Envoy's validation rules (Validate), without the host's
// allow-list. It is the one bootstrap loader of the repository: the host
// and the tests of the shipped bootstraps (envoy/) use it.
func Parse(yamlData []byte) (*bootstrapv3.Bootstrap, error) {
	bootstrap, err := Decode(yamlData)
	if err != nil {
		return nil, err
	}
	if err := Validate(bootstrap); err != nil {
		return nil, err
	}
	return bootstrap, nil
}

// Decode parses YAML (or JSON) into Envoy's Bootstrap type as Envoy's
// loader does: duplicate keys and unknown fields are errors, and every
// typed_config must name a registered type.
func Decode(yamlData []byte) (*bootstrapv3.Bootstrap, error) {
	jsonData, err := yaml.YAMLToJSONStrict(yamlData)
	if err != nil {
		return nil, fmt.Errorf("envoyconfig: bootstrap is not valid YAML: %w", err)
	}
	var bootstrap bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{}).Unmarshal(jsonData, &bootstrap); err != nil {
		if strings.Contains(err.Error(), "unable to resolve") {
			return nil, fmt.Errorf("envoyconfig: a typed_config names a type the local host does not know (it supports the types listed in envoy/host/README.md): %w", err)
		}
		return nil, fmt.Errorf("envoyconfig: bootstrap does not match envoy.config.bootstrap.v3.Bootstrap: %w", err)
	}
	return &bootstrap, nil
}

// Validate runs the generated ValidateAll on the bootstrap and on every
// message packed in a typed_config, as Envoy validates each extension's
// configuration when it creates it.
func Validate(bootstrap *bootstrapv3.Bootstrap) error {
	if err := bootstrap.ValidateAll(); err != nil {
		return fmt.Errorf("envoyconfig: bootstrap fails Envoy's validation: %w", err)
	}
	return validateAnys(bootstrap.ProtoReflect())
}

// validateAnys runs ValidateAll on every message packed in a typed_config:
// the Bootstrap's own ValidateAll does not look inside google.protobuf.Any.
func validateAnys(m protoreflect.Message) error {
	var firstErr error
	visitMessages(m, func(msg protoreflect.Message) {
		if firstErr != nil {
			return
		}
		anyMsg, ok := msg.Interface().(*anypb.Any)
		if !ok {
			return
		}
		inner, err := anyMsg.UnmarshalNew()
		if err != nil {
			firstErr = fmt.Errorf("envoyconfig: typed_config %s: %w", anyMsg.GetTypeUrl(), err)
			return
		}
		if v, ok := inner.(interface{ ValidateAll() error }); ok {
			if err := v.ValidateAll(); err != nil {
				firstErr = fmt.Errorf("envoyconfig: typed_config %s fails Envoy's validation: %w", anyMsg.GetTypeUrl(), err)
				return
			}
		}
		if err := validateAnys(inner.ProtoReflect()); err != nil {
			firstErr = err
		}
	})
	return firstErr
}

// visitMessages calls fn for every set message field below m (not for m).
func visitMessages(m protoreflect.Message, fn func(protoreflect.Message)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		switch {
		case fd.IsList():
			list := v.List()
			for i := 0; i < list.Len(); i++ {
				fn(list.Get(i).Message())
				visitMessages(list.Get(i).Message(), fn)
			}
		case fd.IsMap():
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				if fd.MapValue().Kind() == protoreflect.MessageKind {
					fn(mv.Message())
					visitMessages(mv.Message(), fn)
				}
				return true
			})
		default:
			fn(v.Message())
			visitMessages(v.Message(), fn)
		}
		return true
	})
}

// UnsupportedError names a bootstrap field the host does not emulate.
type UnsupportedError struct {
	// Path is the field's path, e.g.
	// "static_resources.listeners[].listener_filters".
	Path string
	// Reason says why, when it is not simply "not supported".
	Reason string
}

func (e *UnsupportedError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("envoyconfig: %s: %s", e.Path, e.Reason)
	}
	return fmt.Sprintf("envoyconfig: field %s is not supported by the local host (it would be ignored, so it is refused; see envoy/host/README.md)", e.Path)
}

// checkAllowed walks every set field of m and refuses those outside the
// allow-list.
func checkAllowed(m protoreflect.Message, prefix string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := string(fd.Name())
		if prefix != "" {
			path = prefix + "." + path
		}
		err = checkField(fd, v, path)
		return err == nil
	})
	return err
}

func checkField(fd protoreflect.FieldDescriptor, v protoreflect.Value, path string) error {
	isMessage := fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind
	if !isMessage || fd.IsMap() || isLeafMessage(fd.Message()) {
		if allowedPaths[path] {
			return nil
		}
		return &UnsupportedError{Path: path}
	}
	if fd.IsList() {
		if !allowedPrefixes[path+"[]"] && !allowedPaths[path+"[]"] {
			return &UnsupportedError{Path: path}
		}
		list := v.List()
		for i := 0; i < list.Len(); i++ {
			if err := checkMessage(list.Get(i).Message(), path+"[]"); err != nil {
				return err
			}
		}
		return nil
	}
	return checkMessage(v.Message(), path)
}

func checkMessage(m protoreflect.Message, path string) error {
	if anyMsg, ok := m.Interface().(*anypb.Any); ok {
		if !allowedPaths[path] {
			return &UnsupportedError{Path: path}
		}
		name := strings.TrimPrefix(anyMsg.GetTypeUrl()[strings.LastIndex(anyMsg.GetTypeUrl(), "/")+1:], "")
		if !allowedAnyTypes[path][name] {
			return &UnsupportedError{Path: path, Reason: fmt.Sprintf("type %s is not supported here by the local host", name)}
		}
		if opaqueTypes[name] {
			return nil
		}
		inner, err := anyMsg.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("envoyconfig: %s: %w", path, err)
		}
		return checkAllowed(inner.ProtoReflect(), name)
	}
	if !allowedPrefixes[path] {
		return &UnsupportedError{Path: path}
	}
	return checkAllowed(m, path)
}

// isLeafMessage reports the well-known messages treated as scalar values.
func isLeafMessage(md protoreflect.MessageDescriptor) bool {
	switch md.FullName() {
	case "google.protobuf.Duration", "google.protobuf.BoolValue", "google.protobuf.UInt32Value",
		"google.protobuf.UInt64Value", "google.protobuf.StringValue", "google.protobuf.BytesValue":
		return true
	}
	return false
}

// convert builds the host's Config from a checked bootstrap.
func convert(b *bootstrapv3.Bootstrap) (*Config, error) {
	cfg := &Config{Clusters: map[string]*Cluster{}}
	if admin := b.GetAdmin(); admin != nil && admin.GetAddress() != nil {
		addr, err := socketAddress(admin.GetAddress(), "admin.address")
		if err != nil {
			return nil, err
		}
		cfg.AdminAddress = addr
	}
	static := b.GetStaticResources()
	for i, c := range static.GetClusters() {
		cluster, err := convertCluster(c, i)
		if err != nil {
			return nil, err
		}
		if _, dup := cfg.Clusters[cluster.Name]; dup {
			return nil, fmt.Errorf("envoyconfig: static_resources.clusters[%d]: duplicate cluster name %q", i, cluster.Name)
		}
		cfg.Clusters[cluster.Name] = cluster
	}
	listeners := static.GetListeners()
	if len(listeners) != 1 {
		return nil, &UnsupportedError{Path: "static_resources.listeners", Reason: fmt.Sprintf("the local host serves exactly one static listener, the file has %d", len(listeners))}
	}
	listener, notes, err := convertListener(listeners[0], cfg.Clusters)
	if err != nil {
		return nil, err
	}
	cfg.Listener = *listener
	cfg.Notes = notes
	return cfg, nil
}

func convertCluster(c *clusterv3.Cluster, index int) (*Cluster, error) {
	path := fmt.Sprintf("static_resources.clusters[%d]", index)
	cluster := &Cluster{Name: c.GetName(), ConnectTimeout: 5 * time.Second}
	switch c.GetType() {
	case clusterv3.Cluster_STATIC, clusterv3.Cluster_STRICT_DNS, clusterv3.Cluster_LOGICAL_DNS:
		cluster.Type = c.GetType().String()
	default:
		return nil, &UnsupportedError{Path: path + ".type", Reason: fmt.Sprintf("cluster type %s is not supported (use STATIC or STRICT_DNS)", c.GetType())}
	}
	if c.GetLbPolicy() != clusterv3.Cluster_ROUND_ROBIN {
		return nil, &UnsupportedError{Path: path + ".lb_policy", Reason: fmt.Sprintf("lb_policy %s is not supported (only ROUND_ROBIN)", c.GetLbPolicy())}
	}
	if d := c.GetConnectTimeout(); d != nil {
		cluster.ConnectTimeout = d.AsDuration()
	}
	for ei, locality := range c.GetLoadAssignment().GetEndpoints() {
		for li, lb := range locality.GetLbEndpoints() {
			addr, err := socketAddress(lb.GetEndpoint().GetAddress(),
				fmt.Sprintf("%s.load_assignment.endpoints[%d].lb_endpoints[%d].endpoint.address", path, ei, li))
			if err != nil {
				return nil, err
			}
			cluster.Endpoints = append(cluster.Endpoints, addr)
		}
	}
	if len(cluster.Endpoints) == 0 {
		return nil, fmt.Errorf("envoyconfig: %s (%s): no endpoints in load_assignment", path, cluster.Name)
	}
	return cluster, nil
}

func socketAddress(a *corev3.Address, path string) (string, error) {
	sa := a.GetSocketAddress()
	if sa == nil {
		return "", &UnsupportedError{Path: path, Reason: "only socket_address is supported"}
	}
	if sa.GetProtocol() != corev3.SocketAddress_TCP {
		return "", &UnsupportedError{Path: path + ".socket_address.protocol", Reason: "only TCP is supported"}
	}
	port, ok := sa.GetPortSpecifier().(*corev3.SocketAddress_PortValue)
	if !ok {
		return "", &UnsupportedError{Path: path + ".socket_address", Reason: "port_value is required"}
	}
	return net.JoinHostPort(sa.GetAddress(), strconv.FormatUint(uint64(port.PortValue), 10)), nil
}

func convertListener(l *listenerv3.Listener, clusters map[string]*Cluster) (*Listener, []string, error) {
	path := "static_resources.listeners[0]"
	addr, err := socketAddress(l.GetAddress(), path+".address")
	if err != nil {
		return nil, nil, err
	}
	out := &Listener{Name: l.GetName(), Address: addr, BufferLimit: DefaultBufferLimit}
	if v := l.GetPerConnectionBufferLimitBytes(); v != nil {
		out.BufferLimit = int(v.GetValue())
	}
	chains := l.GetFilterChains()
	if len(chains) != 1 || len(chains[0].GetFilters()) != 1 {
		return nil, nil, &UnsupportedError{Path: path + ".filter_chains", Reason: "the local host needs exactly one filter chain holding one http_connection_manager filter"}
	}
	var hcm hcmv3.HttpConnectionManager
	if err := chains[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		return nil, nil, fmt.Errorf("envoyconfig: %s.filter_chains[0].filters[0]: %w", path, err)
	}
	notes, err := convertHCM(&hcm, out, clusters)
	if err != nil {
		return nil, nil, err
	}
	return out, notes, nil
}

func convertHCM(hcm *hcmv3.HttpConnectionManager, out *Listener, clusters map[string]*Cluster) ([]string, error) {
	const path = "http_connection_manager"
	var notes []string
	out.StatPrefix = hcm.GetStatPrefix()
	switch hcm.GetCodecType() {
	case hcmv3.HttpConnectionManager_AUTO:
		out.HTTP2 = true
	case hcmv3.HttpConnectionManager_HTTP1:
	default:
		return nil, &UnsupportedError{Path: path + ".codec_type", Reason: fmt.Sprintf("codec %s is not supported (AUTO or HTTP1)", hcm.GetCodecType())}
	}
	out.NormalizePath = hcm.GetNormalizePath().GetValue()
	out.MergeSlashes = hcm.GetMergeSlashes()
	switch a := hcm.GetPathWithEscapedSlashesAction(); a {
	case hcmv3.HttpConnectionManager_IMPLEMENTATION_SPECIFIC_DEFAULT, hcmv3.HttpConnectionManager_KEEP_UNCHANGED:
	default:
		out.EscapedSlashes = a.String()
	}
	out.GenerateRequestID = hcm.GetGenerateRequestId() == nil || hcm.GetGenerateRequestId().GetValue()
	out.StreamIdleTimeout = durationOr(hcm.GetStreamIdleTimeout(), DefaultStreamIdleTimeout)
	out.RequestTimeout = durationOr(hcm.GetRequestTimeout(), 0)
	if len(hcm.GetAccessLog()) > 0 {
		notes = append(notes, fmt.Sprintf("%d access_log entries accepted but not written (the local host does not emulate access logs)", len(hcm.GetAccessLog())))
	}
	routeConfig := hcm.GetRouteConfig()
	if routeConfig == nil {
		return nil, &UnsupportedError{Path: path, Reason: "a static route_config is required (rds is not supported)"}
	}
	for vi, vh := range routeConfig.GetVirtualHosts() {
		host := VirtualHost{Name: vh.GetName(), Domains: vh.GetDomains()}
		for ri, r := range vh.GetRoutes() {
			route, err := convertRoute(r, fmt.Sprintf("%s.route_config.virtual_hosts[%d].routes[%d]", path, vi, ri), clusters)
			if err != nil {
				return nil, err
			}
			host.Routes = append(host.Routes, route)
		}
		out.VirtualHosts = append(out.VirtualHosts, host)
	}
	filters := hcm.GetHttpFilters()
	for i, f := range filters {
		fpath := fmt.Sprintf("%s.http_filters[%d] (%s)", path, i, f.GetName())
		var entry HTTPFilter
		entry.Name = f.GetName()
		tc := f.GetTypedConfig()
		if tc == nil {
			return nil, &UnsupportedError{Path: fpath, Reason: "typed_config is required"}
		}
		switch {
		case tc.MessageIs(&routerv3.Router{}):
			if i != len(filters)-1 {
				return nil, &UnsupportedError{Path: fpath, Reason: "the router must be the last HTTP filter"}
			}
			entry.Router = true
		case tc.MessageIs(&wasmfilterv3.Wasm{}):
			var w wasmfilterv3.Wasm
			if err := tc.UnmarshalTo(&w); err != nil {
				return nil, fmt.Errorf("envoyconfig: %s: %w", fpath, err)
			}
			wf, err := convertWasm(w.GetConfig(), fpath)
			if err != nil {
				return nil, err
			}
			entry.Wasm = wf
		default:
			return nil, &UnsupportedError{Path: fpath, Reason: "only envoy.filters.http.wasm and envoy.filters.http.router are supported"}
		}
		out.HTTPFilters = append(out.HTTPFilters, entry)
	}
	if len(out.HTTPFilters) == 0 || !out.HTTPFilters[len(out.HTTPFilters)-1].Router {
		return nil, &UnsupportedError{Path: path + ".http_filters", Reason: "the chain must end with envoy.filters.http.router"}
	}
	return notes, nil
}

func convertRoute(r *routev3.Route, path string, clusters map[string]*Cluster) (Route, error) {
	route := Route{Name: r.GetName(), Timeout: DefaultRouteTimeout}
	switch m := r.GetMatch().GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		route.Prefix = m.Prefix
	case *routev3.RouteMatch_Path:
		route.Path = m.Path
	default:
		return route, &UnsupportedError{Path: path + ".match", Reason: "only prefix and path matches are supported"}
	}
	action := r.GetRoute()
	if action == nil {
		return route, &UnsupportedError{Path: path, Reason: "only route actions (route.cluster) are supported"}
	}
	name := action.GetCluster()
	if _, ok := clusters[name]; !ok {
		return route, fmt.Errorf("envoyconfig: %s.route.cluster: unknown cluster %q", path, name)
	}
	route.Cluster = name
	if action.GetTimeout() != nil {
		route.Timeout = action.GetTimeout().AsDuration()
	}
	return route, nil
}

func convertWasm(pc *wasmv3.PluginConfig, path string) (*WasmFilter, error) {
	if pc == nil {
		return nil, &UnsupportedError{Path: path, Reason: "config is required"}
	}
	vm := pc.GetVmConfig()
	if vm == nil {
		return nil, &UnsupportedError{Path: path + ".config", Reason: "vm_config is required (vm from a capability restriction or other VM sources is not supported)"}
	}
	wf := &WasmFilter{
		PluginName:    pc.GetName(),
		RootID:        pc.GetRootId(),
		VMID:          vm.GetVmId(),
		Runtime:       vm.GetRuntime(),
		Env:           vm.GetEnvironmentVariables().GetKeyValues(),
		ReloadBackoff: DefaultReloadBackoff,
	}
	local := vm.GetCode().GetLocal()
	if local == nil {
		return nil, &UnsupportedError{Path: path + ".config.vm_config.code", Reason: "only code.local is supported (remote code is not fetched)"}
	}
	switch s := local.GetSpecifier().(type) {
	case *corev3.DataSource_Filename:
		wf.CodePath = s.Filename
	case *corev3.DataSource_InlineBytes:
		wf.CodeInline = s.InlineBytes
	default:
		return nil, &UnsupportedError{Path: path + ".config.vm_config.code.local", Reason: "only filename and inline_bytes are supported"}
	}
	var err error
	if wf.Configuration, err = Configuration(pc.GetConfiguration()); err != nil {
		return nil, fmt.Errorf("envoyconfig: %s.config.configuration: %w", path, err)
	}
	if wf.VMConfiguration, err = Configuration(vm.GetConfiguration()); err != nil {
		return nil, fmt.Errorf("envoyconfig: %s.config.vm_config.configuration: %w", path, err)
	}
	switch pc.GetFailurePolicy() {
	case wasmv3.FailurePolicy_FAIL_OPEN:
		wf.FailurePolicy = FailOpen
	case wasmv3.FailurePolicy_FAIL_RELOAD:
		wf.FailurePolicy = FailReload
	case wasmv3.FailurePolicy_FAIL_CLOSED:
		wf.FailurePolicy = FailClosed
	default:
		// UNSPECIFIED: the deprecated fail_open decides (Envoy's
		// source/extensions/common/wasm/plugin.cc).
		if pc.GetFailOpen() {
			wf.FailurePolicy = FailOpen
		}
	}
	if b := pc.GetReloadConfig().GetBackoff(); b != nil && b.GetBaseInterval() != nil {
		wf.ReloadBackoff = b.GetBaseInterval().AsDuration()
	}
	return wf, nil
}

// Configuration turns a Wasm plugin's or VM's `configuration` into the
// bytes the module reads, as Envoy does (source/extensions/common/wasm/
// plugin.cc, wasm.cc; envoy/extensions/wasm/v3/wasm.proto): a StringValue
// or BytesValue gives its value, a Struct its JSON form; nil gives nil.
func Configuration(a *anypb.Any) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	msg, err := a.UnmarshalNew()
	if err != nil {
		return nil, err
	}
	switch v := msg.(type) {
	case *wrapperspb.StringValue:
		return []byte(v.GetValue()), nil
	case *wrapperspb.BytesValue:
		return v.GetValue(), nil
	case *structpb.Struct:
		return protojson.Marshal(v)
	}
	return nil, fmt.Errorf("configuration of type %s: Envoy passes only StringValue, BytesValue and Struct", a.GetTypeUrl())
}

func durationOr(d *durationpb.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.AsDuration()
}

// ClusterNames lists the static clusters' names, sorted.
func (c *Config) ClusterNames() []string {
	names := make([]string, 0, len(c.Clusters))
	for n := range c.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// WasmFilters returns the Wasm filters of the chain, in order.
func (c *Config) WasmFilters() []*WasmFilter {
	var out []*WasmFilter
	for _, f := range c.Listener.HTTPFilters {
		if f.Wasm != nil {
			out = append(out, f.Wasm)
		}
	}
	return out
}
