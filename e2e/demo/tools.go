package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool names the demo server offers.
const (
	ToolSearch    = "search"
	ToolFetch     = "fetch"
	ToolEcho      = "echo"
	ToolAdd       = "add"
	ToolCountdown = "countdown"
)

// ToolNames lists every tool the demo server offers, in registration order.
var ToolNames = []string{ToolSearch, ToolFetch, ToolEcho, ToolAdd, ToolCountdown}

// Bounds on tool inputs, so that no call can make the server do unbounded work.
const (
	DefaultSearchLimit = 5
	MaxSearchLimit     = 20
	MaxEchoBytes       = 64 << 10
	MaxCountdown       = 100
	MaxCountdownStep   = 5 * time.Second
)

// SearchInput is the input of the search tool.
type SearchInput struct {
	Query string `json:"query" jsonschema:"words to look for; every word must occur in a document"`
	Limit int    `json:"limit,omitempty" jsonschema:"maximum number of results, 1 to 20 (default 5)"`
}

// SearchResult is one document search found.
type SearchResult struct {
	URI     string `json:"uri" jsonschema:"the document's URI, for fetch or resources/read"`
	Title   string `json:"title"`
	Snippet string `json:"snippet" jsonschema:"the start of the document"`
}

// SearchOutput is the output of the search tool.
type SearchOutput struct {
	Results []SearchResult `json:"results"`
}

// FetchInput is the input of the fetch tool.
type FetchInput struct {
	URI string `json:"uri" jsonschema:"the URI of a document, as search returns it"`
}

// FetchOutput is the output of the fetch tool.
type FetchOutput struct {
	URI   string `json:"uri"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// EchoInput is the input of the echo tool.
type EchoInput struct {
	Text string `json:"text" jsonschema:"the text to send back (at most 64 KiB)"`
}

// EchoOutput is the output of the echo tool.
type EchoOutput struct {
	Text string `json:"text"`
}

// AddInput is the input of the add tool.
type AddInput struct {
	A float64 `json:"a" jsonschema:"the first addend"`
	B float64 `json:"b" jsonschema:"the second addend"`
}

// AddOutput is the output of the add tool.
type AddOutput struct {
	Sum float64 `json:"sum"`
}

// CountdownInput is the input of the countdown tool.
type CountdownInput struct {
	From       int `json:"from" jsonschema:"where to count down from, 1 to 100"`
	IntervalMs int `json:"intervalMs,omitempty" jsonschema:"pause between steps in milliseconds, 0 to 5000"`
}

// CountdownOutput is the output of the countdown tool.
type CountdownOutput struct {
	Steps int `json:"steps" jsonschema:"how many steps were counted"`
}

func (s *Server) addTools() {
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:        ToolSearch,
		Description: "Search the demo documents. Returns the URI, title and first sentence of each match.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, s.search)
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:        ToolFetch,
		Description: "Fetch one demo document by its URI.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, s.fetch)
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:        ToolEcho,
		Description: "Send the text back.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, s.echo)
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name:        ToolAdd,
		Description: "Add two numbers.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, s.add)
	mcp.AddTool(s.mcp, &mcp.Tool{
		Name: ToolCountdown,
		Description: "Count down, reporting each step as a progress notification when the call carries a progress token. " +
			"The notifications stream to the client while the call runs.",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true},
	}, s.countdown)
	for _, name := range ToolNames {
		s.registerToolName(name)
	}
}

func (s *Server) search(_ context.Context, _ *mcp.CallToolRequest, in SearchInput) (*mcp.CallToolResult, SearchOutput, error) {
	limit := in.Limit
	if limit == 0 {
		limit = DefaultSearchLimit
	}
	if limit < 1 || limit > MaxSearchLimit {
		return nil, SearchOutput{}, fmt.Errorf("limit must be between 1 and %d, got %d", MaxSearchLimit, in.Limit)
	}
	found := searchDocuments(in.Query, limit)
	out := SearchOutput{Results: make([]SearchResult, 0, len(found))}
	for _, d := range found {
		out.Results = append(out.Results, SearchResult{URI: d.URI, Title: d.Title, Snippet: d.snippet()})
	}
	return nil, out, nil
}

func (s *Server) fetch(_ context.Context, _ *mcp.CallToolRequest, in FetchInput) (*mcp.CallToolResult, FetchOutput, error) {
	d, ok := documentByURI(in.URI)
	if !ok {
		return nil, FetchOutput{}, fmt.Errorf("no document with URI %q", in.URI)
	}
	return nil, FetchOutput{URI: d.URI, Title: d.Title, Text: d.Text}, nil
}

func (s *Server) echo(_ context.Context, _ *mcp.CallToolRequest, in EchoInput) (*mcp.CallToolResult, EchoOutput, error) {
	if len(in.Text) > MaxEchoBytes {
		return nil, EchoOutput{}, fmt.Errorf("text must be at most %d bytes, got %d", MaxEchoBytes, len(in.Text))
	}
	return nil, EchoOutput(in), nil
}

func (s *Server) add(_ context.Context, _ *mcp.CallToolRequest, in AddInput) (*mcp.CallToolResult, AddOutput, error) {
	return nil, AddOutput{Sum: in.A + in.B}, nil
}

func (s *Server) countdown(ctx context.Context, req *mcp.CallToolRequest, in CountdownInput) (*mcp.CallToolResult, CountdownOutput, error) {
	if in.From < 1 || in.From > MaxCountdown {
		return nil, CountdownOutput{}, fmt.Errorf("from must be between 1 and %d, got %d", MaxCountdown, in.From)
	}
	interval := time.Duration(in.IntervalMs) * time.Millisecond
	if interval < 0 || interval > MaxCountdownStep {
		return nil, CountdownOutput{}, fmt.Errorf("intervalMs must be between 0 and %d, got %d", MaxCountdownStep.Milliseconds(), in.IntervalMs)
	}
	token := req.Params.GetProgressToken()
	for step := 1; step <= in.From; step++ {
		if token != nil {
			err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: token,
				Progress:      float64(step),
				Total:         float64(in.From),
				Message:       fmt.Sprintf("%d", in.From-step),
			})
			if err != nil {
				return nil, CountdownOutput{}, fmt.Errorf("sending progress %d/%d: %w", step, in.From, err)
			}
		}
		if interval > 0 && step < in.From {
			if err := sleep(ctx, interval); err != nil {
				return nil, CountdownOutput{}, fmt.Errorf("countdown interrupted at step %d: %w", step, err)
			}
		}
	}
	return nil, CountdownOutput{Steps: in.From}, nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
