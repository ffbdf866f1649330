package demo

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// document is one of the short texts the search and fetch tools serve.
type document struct {
	URI   string
	Title string
	Text  string
}

// snippet is the document's first sentence.
func (d document) snippet() string {
	if i := strings.Index(d.Text, ". "); i >= 0 {
		return d.Text[:i+1]
	}
	return d.Text
}

// documents is the demo corpus, written for this project.
var documents = []document{
	{
		URI:   "demo://docs/token-bucket",
		Title: "Token buckets",
		Text: "A token bucket holds at most maxTokens tokens and gains tokens continuously, maxTokens per refill period. " +
			"Every tools/call takes one token; a call that finds the bucket empty is rejected until a token has been refilled. " +
			"A full bucket allows a burst of maxTokens calls at once.",
	},
	{
		URI:   "demo://docs/mcp-streamable-http",
		Title: "MCP Streamable HTTP",
		Text: "The Streamable HTTP transport carries JSON-RPC messages in HTTP POST requests to one endpoint. " +
			"The server answers with JSON or with a server-sent event stream, and a client may open a GET stream to receive messages the server starts. " +
			"A session is named by the Mcp-Session-Id header and ended with DELETE.",
	},
	{
		URI:   "demo://docs/proxy-wasm",
		Title: "Proxy-Wasm filters",
		Text: "A proxy-wasm filter is a WebAssembly module that Envoy runs in one virtual machine per worker thread. " +
			"The filter sees request headers and body chunks and may answer a request itself with a local reply. " +
			"Workers share no memory; shared data is the one store they have in common.",
	},
	{
		URI:   "demo://docs/retry-after",
		Title: "Retry-After",
		Text: "Retry-After tells a client how many seconds to wait before it tries again. " +
			"A rate limiter that rejects a call with HTTP 429 sends it so that well-behaved clients back off instead of retrying at once.",
	},
	{
		URI:   "demo://docs/envoy",
		Title: "Envoy",
		Text: "Envoy is a proxy that runs a chain of HTTP filters for every request. " +
			"The wasm filter loads a proxy-wasm module from a local file or a remote source and passes it a configuration string.",
	},
}

// documentByURI finds a document of the corpus.
func documentByURI(uri string) (document, bool) {
	for _, d := range documents {
		if d.URI == uri {
			return d, true
		}
	}
	return document{}, false
}

// searchDocuments returns up to limit documents that contain every word of
// query (case-insensitive), the ones mentioning the words most often first.
// An empty query matches every document.
func searchDocuments(query string, limit int) []document {
	words := strings.Fields(strings.ToLower(query))
	type hit struct {
		doc   document
		score int
	}
	var hits []hit
	for _, d := range documents {
		text := strings.ToLower(d.Title + " " + d.Text)
		score := 0
		for _, w := range words {
			n := strings.Count(text, w)
			if n == 0 {
				score = -1
				break
			}
			score += n
		}
		if score >= 0 {
			hits = append(hits, hit{d, score})
		}
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].score > hits[j].score })
	if len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]document, len(hits))
	for i, h := range hits {
		out[i] = h.doc
	}
	return out
}

func (s *Server) addResources() {
	for _, d := range documents {
		s.mcp.AddResource(&mcp.Resource{
			URI:         d.URI,
			Name:        strings.TrimPrefix(d.URI, "demo://docs/"),
			Title:       d.Title,
			Description: d.snippet(),
			MIMEType:    "text/plain",
		}, readDocument)
	}
	s.mcp.AddResource(&mcp.Resource{
		URI:         ClockURI,
		Name:        "clock",
		Description: "The server's current time (RFC 3339). Subscribe to be told when it is published.",
		MIMEType:    "text/plain",
	}, s.readClock)
}

func readDocument(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	d, ok := documentByURI(req.Params.URI)
	if !ok {
		return nil, mcp.ResourceNotFoundError(req.Params.URI)
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: d.URI, MIMEType: "text/plain", Text: d.Text}}}, nil
}

func (s *Server) readClock(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI:      ClockURI,
		MIMEType: "text/plain",
		Text:     s.now().UTC().Format(time.RFC3339),
	}}}, nil
}

// PromptSummarize is the name of the demo prompt.
const PromptSummarize = "summarize"

func (s *Server) addPrompts() {
	s.mcp.AddPrompt(&mcp.Prompt{
		Name:        PromptSummarize,
		Description: "Ask the model to summarize one demo document.",
		Arguments: []*mcp.PromptArgument{
			{Name: "uri", Description: "the URI of a demo document", Required: true},
		},
	}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		uri := req.Params.Arguments["uri"]
		d, ok := documentByURI(uri)
		if !ok {
			return nil, fmt.Errorf("no document with URI %q", uri)
		}
		return &mcp.GetPromptResult{
			Description: "Summarize " + d.Title,
			Messages: []*mcp.PromptMessage{
				{Role: "user", Content: &mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: d.URI, MIMEType: "text/plain", Text: d.Text}}},
				{Role: "user", Content: &mcp.TextContent{Text: "Summarize this document in one sentence."}},
			},
		}, nil
	})
}
