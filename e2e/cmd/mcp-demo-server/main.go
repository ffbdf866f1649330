// Command mcp-demo-server serves the demo MCP server (package e2e/demo, made
// with the official Go SDK) over Streamable HTTP, so that the rate-limiting
// filter has an upstream to protect in `make run`.
//
// Usage:
//
//	mcp-demo-server [--addr 127.0.0.1:8080] [--path /mcp] [--tick 0] [--json-response] [--log-level warn]
//
// It prints the endpoint URL on its first line of output, then serves until
// it gets SIGINT or SIGTERM. With --tick, it tells clients subscribed to the
// demo://clock resource that the clock changed at that interval, so an open
// SSE stream shows traffic.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// shutdownGrace bounds how long open requests may take to finish on exit.
const shutdownGrace = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "mcp-demo-server:", err)
		os.Exit(2)
	}
}

// config is the command line, parsed.
type config struct {
	addr         string
	path         string
	tick         time.Duration
	jsonResponse bool
	logLevel     slog.Level
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("mcp-demo-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&c.path, "path", demo.DefaultPath, "URL path of the MCP endpoint")
	fs.DurationVar(&c.tick, "tick", 0, "if > 0, notify subscribers of "+demo.ClockURI+" at this interval")
	fs.BoolVar(&c.jsonResponse, "json-response", false, "answer POSTs with application/json instead of an SSE stream")
	level := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := c.logLevel.UnmarshalText([]byte(*level)); err != nil {
		return config{}, fmt.Errorf("--log-level: %w", err)
	}
	if c.tick < 0 {
		return config{}, fmt.Errorf("--tick must not be negative, got %s", c.tick)
	}
	if len(c.path) == 0 || c.path[0] != '/' {
		return config{}, fmt.Errorf("--path must start with /, got %q", c.path)
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		return config{}, fmt.Errorf("--addr: %w", err)
	}
	return c, nil
}

// run serves the demo until ctx ends. Its first line on stdout is the
// endpoint URL.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel}))
	srv := demo.New(demo.Options{Path: c.path, Logger: logger, JSONResponse: c.jsonResponse})

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", c.addr, err)
	}
	httpServer := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()
	fmt.Fprintf(stdout, "http://%s%s\n", ln.Addr(), c.path)

	if c.tick > 0 {
		go publishClock(ctx, srv, c.tick, logger)
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	// Ending the sessions first ends their SSE streams, which Shutdown would
	// otherwise wait for.
	if err := srv.Close(); err != nil {
		logger.Warn("closing sessions", "err", err)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		_ = httpServer.Close()
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// publishClock notifies clock subscribers every interval until ctx ends.
func publishClock(ctx context.Context, srv *demo.Server, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := srv.PublishClock(ctx); err != nil {
				logger.Warn("publishing clock", "err", err)
			}
		}
	}
}
