// Command mcp-ratelimit-host serves a proxy-wasm module locally the way
// Envoy would, from the same Envoy bootstrap file: one listener with the
// wasm filter in front of the upstream cluster, and an admin listener with
// /stats/prometheus. It is what `make run` starts; see envoy/host/README.md for
// what it emulates.
//
//	mcp-ratelimit-host --config envoy/local.yaml --workers 2 --envoy-version 1.33
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/envoy/host"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "mcp-ratelimit-host:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mcp-ratelimit-host", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("config", "envoy/local.yaml", "Envoy bootstrap YAML (static listener, wasm filter, clusters)")
	workers := fs.Int("workers", 2, "worker VMs (Envoy's --concurrency)")
	envoyVersion := fs.String("envoy-version", "1.33", "Envoy release whose Wasm host behaviour to emulate (1.33 .. 1.39+), or higress (1.33 plus Higress's Redis calls)")
	logLevel := fs.String("log-level", "info", "trace, debug, info, warn, error or critical")
	listen := fs.String("listen", "", "override the listener address (host:port)")
	admin := fs.String("admin", "", "override the admin address (host:port)")
	wasm := fs.String("wasm", "", "override vm_config.code.local.filename")
	chunk := fs.Int("chunk-size", 0, "split request bodies into chunks of this many bytes (0: as read)")
	watchdog := fs.Duration("call-watchdog", 0, "abort a call into a VM that runs longer and fail the VM (0: none, as in Envoy; slows the module down)")
	var upstreams multiFlag
	fs.Var(&upstreams, "upstream", "override a cluster's endpoint: name=host:port (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	clusters := map[string]string{}
	for _, u := range upstreams {
		name, addr, ok := strings.Cut(u, "=")
		if !ok || name == "" || addr == "" {
			return fmt.Errorf("--upstream %q: want name=host:port", u)
		}
		clusters[name] = addr
	}
	h, err := host.New(host.Options{
		ConfigPath:       *config,
		ListenAddress:    *listen,
		AdminAddress:     *admin,
		ClusterAddresses: clusters,
		WasmPath:         *wasm,
		Workers:          *workers,
		ChunkSize:        *chunk,
		EnvoyVersion:     *envoyVersion,
		CallWatchdog:     *watchdog,
		Log:              stderr,
		LogLevel:         *logLevel,
	})
	if err != nil {
		return err
	}
	defer h.Close()
	if err := h.Start(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "listening on %s (admin http://%s/stats/prometheus)\n", h.URL(), h.AdminAddr())
	<-ctx.Done()
	fmt.Fprintln(stderr, "mcp-ratelimit-host: shutting down")
	return nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ",") }

func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}
