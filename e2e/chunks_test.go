package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/e2e/demo"
)

// chunkRequests is the sequence every chunking run sends, in order, with
// the decision each must get from the filter. With one token per user, the
// first tools/call passes and the second is rejected.
var chunkRequests = []struct {
	body     string
	decision string
}{
	{toolsCallBody("1", demo.ToolEcho), "passed"},
	{`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, "passed"},
	{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, "passed"},
	{toolsCallBody(`"third"`, demo.ToolSearch), `rejected 429 code -32029 id "third"`},
	{`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo"`, "refused 400 code -32700"},
	{`[` + toolsCallBody("5", demo.ToolEcho) + `]`, "refused 400 code -32600"},
}

// chunkPlugin gives every user one token for the whole test, so that each
// chunk size, sent as its own user, starts with a full bucket.
const chunkPlugin = `{"perUser":{"maxTokens":1,"refillPeriod":"24h"},"userIdentity":{"from":"header","header":"x-user-id"}}`

// chunkSizeHeader tells the test's ChunkSizeFor how to split a request's
// body; the filter ignores it.
const chunkSizeHeader = "x-e2e-chunk-size"

// chunkSizeFromHeader is the host's ChunkSizeFor in this test.
func chunkSizeFromHeader(r *http.Request) int {
	n, err := strconv.Atoi(r.Header.Get(chunkSizeHeader))
	if err != nil {
		return 0
	}
	return n
}

// decide sends the chunking sequence as one user and describes what the
// filter decided for each request.
func decide(t *testing.T, s *stack, user string, chunkSize int) []string {
	t.Helper()
	header := map[string]string{userHeader: user, chunkSizeHeader: strconv.Itoa(chunkSize)}
	decisions := make([]string, len(chunkRequests))
	for i, r := range chunkRequests {
		resp := s.post(t, r.body, header)
		switch {
		case resp.status >= 200 && resp.status < 300:
			decisions[i] = "passed"
		default:
			var reply struct {
				ID    json.RawMessage `json:"id"`
				Error struct {
					Code int `json:"code"`
				} `json:"error"`
			}
			body := bytes.TrimSpace(resp.body)
			if len(body) > 0 && body[0] == '[' { // a batch's replies: judge by the first
				var replies []json.RawMessage
				if json.Unmarshal(body, &replies) == nil && len(replies) > 0 {
					body = replies[0]
				}
			}
			if err := json.Unmarshal(body, &reply); err != nil {
				decisions[i] = fmt.Sprintf("status %d with a body that is not JSON-RPC: %q", resp.status, resp.body)
				continue
			}
			verb := "refused"
			if resp.status == http.StatusTooManyRequests {
				verb = "rejected"
			}
			decisions[i] = fmt.Sprintf("%s %d code %d", verb, resp.status, reply.Error.Code)
			if reply.ID != nil && verb == "rejected" {
				decisions[i] += " id " + string(reply.ID)
			}
		}
	}
	return decisions
}

// TestChunkBoundaries checks that however the host splits request bodies
// into proxy_on_request_body chunks, from one byte per chunk to the whole
// body at once, every request gets the same decision. Chunk size k splits
// a body at k, 2k, ...: running every k from 1 to the longest body's length
// splits each body at every byte position. Each chunk size is its own user,
// so it starts with its own full bucket on the one host.
func TestChunkBoundaries(t *testing.T) {
	want := make([]string, len(chunkRequests))
	longest := 0
	for i, r := range chunkRequests {
		want[i] = r.decision
		longest = max(longest, len(r.body))
	}
	s := startStack(t, stackOptions{plugin: chunkPlugin, chunkSizeFor: chunkSizeFromHeader})
	for size := 0; size <= longest; size++ { // 0: bodies as read from the connection
		if got := decide(t, s, "chunk-"+strconv.Itoa(size), size); !slices.Equal(got, want) {
			t.Errorf("chunk size %d: decisions\n got %q\nwant %q", size, got, want)
		}
	}
	// Every chunk size's first tools/call, and only it, reached the server.
	if got := s.demo.Calls(demo.ToolEcho); got != int64(longest+1) {
		t.Errorf("the server ran echo %d times, want %d", got, longest+1)
	}
	if got := s.demo.TotalCalls(); got != int64(longest+1) {
		t.Errorf("the server saw %d tools/call, want %d", got, longest+1)
	}
}
