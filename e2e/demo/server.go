// Package demo is a small MCP server made with the official Go SDK
// (github.com/modelcontextprotocol/go-sdk), served over Streamable HTTP. It is
// the upstream that `make run` puts behind the rate-limiting filter, and the
// server the end-to-end tests call through the filter.
//
// It offers a few tools with typed inputs (search, fetch, echo, add,
// countdown), the documents that search finds as resources, a subscribable
// clock resource whose updates the server pushes to subscribed clients, and a
// prompt. It counts the tool calls that reached it, so a test can check that
// a call the filter rejected never got to the server, and it counts the
// standalone SSE (GET) streams it holds open.
//
// One endpoint serves every kind of MCP client (see route): clients of MCP
// 2026-07-28, which the SDK's Go client speaks by default, and single POSTs
// without a session (a curl line) are served statelessly; clients of earlier
// versions get a session from initialize and can then open the standalone
// GET stream.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultPath is the URL path the MCP endpoint is served at.
const DefaultPath = "/mcp"

// HealthPath answers 200 "ok" to any GET; handy as a readiness probe.
const HealthPath = "/healthz"

// ClockURI is the URI of the clock resource. Clients may subscribe to it;
// PublishClock notifies them.
const ClockURI = "demo://clock"

// Options configures a demo server. The zero value is ready to use.
type Options struct {
	// Path is the URL path of the MCP endpoint; DefaultPath when empty.
	Path string
	// Logger receives the SDK's and the server's logs; nothing is logged when nil.
	Logger *slog.Logger
	// JSONResponse makes POST responses plain application/json instead of an
	// SSE stream (the SDK's StreamableHTTPOptions.JSONResponse). With it,
	// progress notifications go to the standalone GET stream.
	JSONResponse bool
	// Now returns the current time for the clock resource; time.Now when nil.
	Now func() time.Time
}

// Server is the demo MCP server and its HTTP handler.
type Server struct {
	path    string
	logger  *slog.Logger
	now     func() time.Time
	mcp     *mcp.Server
	handler http.Handler

	mu           sync.Mutex
	calls        map[string]int64 // tools/call that reached the server, by tool name
	unknownCalls int64            // tools/call naming a tool the server does not have

	openStreams   atomic.Int64 // standalone SSE (GET) streams being served now
	streamsOpened atomic.Int64 // standalone SSE (GET) streams served so far
}

// New builds a demo server with its tools, resources and prompt.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	path := opts.Path
	if path == "" {
		path = DefaultPath
	}
	s := &Server{
		path:   path,
		logger: logger,
		now:    now,
		calls:  make(map[string]int64),
	}
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: "mcp-ratelimit-demo", Version: "v1.0.0"}, &mcp.ServerOptions{
		Instructions: "A demo server for mcp-ratelimit-wasm: search and fetch a few short documents, echo, add, count down.",
		Logger:       logger,
		// Subscriptions need no bookkeeping here: the SDK records subscribers
		// itself, and these handlers only have to exist to advertise the
		// resources.subscribe capability.
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	s.mcp.AddReceivingMiddleware(s.countToolCalls)
	s.addTools()
	s.addResources()
	s.addPrompts()

	getServer := func(*http.Request) *mcp.Server { return s.mcp }
	stateful := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		JSONResponse: opts.JSONResponse,
		Logger:       logger,
	})
	stateless := mcp.NewStreamableHTTPHandler(getServer, &mcp.StreamableHTTPOptions{
		Stateless:    true,
		JSONResponse: opts.JSONResponse,
		Logger:       logger,
	})
	mux := http.NewServeMux()
	mux.Handle(path, s.trackStreams(route(stateful, stateless)))
	mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	s.handler = mux
	return s
}

// Handler serves the MCP endpoint at the configured path and HealthPath.
func (s *Server) Handler() http.Handler { return s.handler }

// Path is the URL path of the MCP endpoint.
func (s *Server) Path() string { return s.path }

// MCPServer is the SDK server, for adding tools or sending notifications.
func (s *Server) MCPServer() *mcp.Server { return s.mcp }

// Calls reports how many tools/call requests for the named tool reached the
// server (whatever their outcome).
func (s *Server) Calls(tool string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[tool]
}

// TotalCalls reports how many tools/call requests reached the server, for
// any tool name, known or not.
func (s *Server) TotalCalls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := s.unknownCalls
	for _, n := range s.calls {
		total += n
	}
	return total
}

// OpenStreams reports how many standalone SSE streams (GET requests on the
// MCP endpoint) are being served right now.
func (s *Server) OpenStreams() int64 { return s.openStreams.Load() }

// StreamsOpened reports how many standalone SSE streams have been opened
// since the server started; a client that reconnects opens a new one.
func (s *Server) StreamsOpened() int64 { return s.streamsOpened.Load() }

// PublishClock tells every client subscribed to ClockURI that the clock
// changed (notifications/resources/updated). Legacy sessions get it on their
// standalone GET stream, 2026-07-28 sessions on their subscriptions/listen
// stream.
func (s *Server) PublishClock(ctx context.Context) error {
	if err := s.mcp.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: ClockURI}); err != nil {
		return fmt.Errorf("demo: publishing %s: %w", ClockURI, err)
	}
	return nil
}

// Close ends every MCP session, which also ends their open SSE streams, so
// that an http.Server in front of the handler can shut down without waiting
// for clients to hang up.
func (s *Server) Close() error {
	var sessions []*mcp.ServerSession
	for ss := range s.mcp.Sessions() {
		sessions = append(sessions, ss)
	}
	var firstErr error
	for _, ss := range sessions {
		if err := ss.Close(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("demo: closing session %s: %w", ss.ID(), err)
		}
	}
	return firstErr
}

// countToolCalls is receiving middleware that counts tools/call requests by
// tool name. Only names of registered tools get their own counter, so a
// client sending random names cannot grow the table.
func (s *Server) countToolCalls(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if call, ok := req.(*mcp.CallToolRequest); ok && call.Params != nil {
			s.mu.Lock()
			if _, known := s.calls[call.Params.Name]; known {
				s.calls[call.Params.Name]++
			} else {
				s.unknownCalls++
			}
			s.mu.Unlock()
		}
		return next(ctx, method, req)
	}
}

// trackStreams counts the GET requests (standalone SSE streams) in flight.
func (s *Server) trackStreams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			s.streamsOpened.Add(1)
			s.openStreams.Add(1)
			defer s.openStreams.Add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// registerToolName gives a tool its own call counter.
func (s *Server) registerToolName(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[name] = 0
}
