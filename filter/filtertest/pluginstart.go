// Package filtertest starts the filter with a plugin configuration the way
// Envoy does when it loads a configuration (proxy_on_vm_start, then
// proxy_on_configure), in the proxy-wasm Go SDK's host emulator
// (proxywasm/proxytest), so that tests of configuration files can show the
// plugin accepts what the files give it.
package filtertest

import (
	"fmt"
	"strings"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/filter"
)

// Plugin names the plugin as Envoy would: RootID is the filter's root_id
// (Istio: the WasmPlugin's pluginName), Name the filter's name (Istio:
// "<namespace>.<WasmPlugin name>"). The filter reads them as the
// plugin_root_id and plugin_name properties.
type Plugin struct {
	RootID string
	Name   string
}

// Start starts a fresh VM of the filter with configuration. It returns the
// plugin's log lines on success, and an error that quotes the plugin's
// error and critical log lines when the VM or the plugin refuses to start.
func Start(configuration []byte, plugin Plugin) (logs []string, err error) {
	logs, _, err = start(configuration, plugin, nil)
	return logs, err
}

// DefinedCounters starts the filter like Start and reports, for each of
// names, whether the plugin defined a counter (or histogram) metric of that
// name.
func DefinedCounters(configuration []byte, plugin Plugin, names []string) (map[string]bool, error) {
	_, defined, err := start(configuration, plugin, names)
	return defined, err
}

func start(configuration []byte, plugin Plugin, counters []string) (logs []string, defined map[string]bool, err error) {
	opt := proxytest.NewEmulatorOption().
		WithVMContext(filter.NewVMContext()).
		WithPluginConfiguration(configuration)
	if plugin.RootID != "" {
		opt = opt.WithProperty([]string{"plugin_root_id"}, []byte(plugin.RootID))
	}
	if plugin.Name != "" {
		opt = opt.WithProperty([]string{"plugin_name"}, []byte(plugin.Name))
	}
	host, release := NewHostEmulator(opt)
	defer release()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the plugin panicked while starting: %v", r)
		}
	}()
	collect := func() []string {
		var all []string
		for _, level := range [][]string{host.GetCriticalLogs(), host.GetErrorLogs(), host.GetWarnLogs(), host.GetInfoLogs()} {
			all = append(all, level...)
		}
		return all
	}
	if status := host.StartVM(); status != types.OnVMStartStatusOK {
		return collect(), nil, fmt.Errorf("proxy_on_vm_start returned false: %s", problems(host))
	}
	if status := host.StartPlugin(); status != types.OnPluginStartStatusOK {
		return collect(), nil, fmt.Errorf("proxy_on_configure returned false: %s", problems(host))
	}
	defined = make(map[string]bool, len(counters))
	for _, name := range counters {
		_, err := host.GetCounterMetric(name)
		if err != nil {
			_, err = host.GetHistogramMetric(name)
		}
		defined[name] = err == nil
	}
	return collect(), defined, nil
}

func problems(host proxytest.HostEmulator) string {
	lines := append(host.GetCriticalLogs(), host.GetErrorLogs()...)
	if len(lines) == 0 {
		return "(the plugin logged no error)"
	}
	return strings.Join(lines, "; ")
}
