package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// The tests here send task-augmented tools/call requests (MCP 2025-11-25,
// "Tasks") through the filter to a server made with the official
// TypeScript SDK (node/task-server.mjs), whose tool runs as a task.

const (
	// taskServerScript starts the TypeScript SDK server with a task tool.
	taskServerScript = "task-server.mjs"
	// taskTool is that server's tool; it runs until the test releases it.
	taskTool = "slow"
)

// taskServer is node/task-server.mjs, started for one test.
type taskServer struct {
	addr     string // the MCP server's host:port
	adminURL string // its admin listener's base URL
}

// startTaskServer starts node/task-server.mjs; it stops when the test ends.
func startTaskServer(t *testing.T) *taskServer {
	t.Helper()
	node := requireNode(t)
	p := startHelperProcess(t, nodeDir, node, taskServerScript)
	if p.ports["mcp"] == 0 || p.ports["admin"] == 0 {
		t.Fatalf("node %s: ports %v, want mcp and admin", taskServerScript, p.ports)
	}
	return &taskServer{addr: fmt.Sprintf("127.0.0.1:%d", p.ports["mcp"]), adminURL: fmt.Sprintf("http://127.0.0.1:%d", p.ports["admin"])}
}

// admin calls one of the server's admin endpoints and decodes its answer.
func (ts *taskServer) admin(t testing.TB, method, path string) map[string]int {
	t.Helper()
	req, err := http.NewRequest(method, ts.adminURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := countsClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]int
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d, %v", method, path, resp.StatusCode, err)
	}
	return out
}

// started is how many runs of the tool the server started.
func (ts *taskServer) started(t testing.TB) int {
	return ts.admin(t, http.MethodGet, "/runs")["started"]
}

// release completes every run that is still working.
func (ts *taskServer) release(t testing.TB) { ts.admin(t, http.MethodPost, "/release") }

// taskCallBody is a task-augmented tools/call of the task tool.
func taskCallBody(id int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{},"task":{"ttl":60000}}}`, id, taskTool)
}

// taskMethodBody is a tasks/get or tasks/result request.
func taskMethodBody(id int, method, taskID string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":{"taskId":%q}}`, id, method, taskID)
}

// taskReply reads the task a CreateTaskResult or tasks/get answers with.
func taskReply(t testing.TB, what string, r rawResponse) (id, status string) {
	t.Helper()
	var reply struct {
		Result struct {
			Task *struct {
				TaskID string `json:"taskId"`
				Status string `json:"status"`
			} `json:"task"`
			TaskID string `json:"taskId"`
			Status string `json:"status"`
		} `json:"result"`
	}
	if r.status != http.StatusOK {
		t.Fatalf("%s: status %d, body %s", what, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &reply); err != nil {
		t.Fatalf("%s: body %s: %v", what, r.body, err)
	}
	if task := reply.Result.Task; task != nil {
		return task.TaskID, task.Status
	}
	return reply.Result.TaskID, reply.Result.Status
}

// TestTaskAugmentedCalls: a task-augmented tools/call is a tools/call to
// the filter. Its bucket counts it and a concurrency cap admits it only
// with a free place; but the server answers it at once with the task's
// handle, so it holds its place only until then, not while the task runs
// (docs/configuration.md, "Concurrency caps"). tasks/get, the polling of
// a task, is limited like any method.
func TestTaskAugmentedCalls(t *testing.T) {
	ts := startTaskServer(t)
	defer ts.release(t)
	s := startStack(t, stackOptions{upstream: ts.addr, plugin: `{"tools":[{"name":"` + taskTool +
		`","shared":{"maxTokens":3,"refillPeriod":"1h"},"concurrency":{"shared":1}}],` +
		`"methods":[{"name":"tasks/get","shared":{"maxTokens":2,"refillPeriod":"1h"}}]}`})

	// A plain call runs to its end on its HTTP stream, holding the cap's
	// one place: a task-augmented call meanwhile is rejected by the cap.
	plain := make(chan string, 1)
	go func() {
		r, err := s.tryPost(fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, taskTool), nil)
		if err != nil {
			plain <- err.Error()
			return
		}
		plain <- fmt.Sprintf("%d %s", r.status, r.body)
	}()
	eventually(t, testTimeout, "the plain call running", func() bool { return ts.started(t) == 1 })
	if r := s.post(t, taskCallBody(2), nil); r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "Too many concurrent calls") {
		t.Fatalf("a task-augmented call while the plain one runs: status %d, body %s; want the cap's 429", r.status, r.body)
	}
	ts.release(t)
	if got := <-plain; !strings.HasPrefix(got, "200 ") || !strings.Contains(got, "slow: done") {
		t.Fatalf("the plain call: %s; want 200 with the tool's result", got)
	}

	// Task-augmented calls: each is answered with its task's handle while
	// the task keeps working, and frees the cap's place with that answer.
	// The host may free a place just after the client has the response
	// that ended its call, so a call right after one may meet the cap and
	// is sent again; retries counts those rejections (they take no token).
	retries := uint64(0)
	startTask := func(id int) (taskID, status string) {
		t.Helper()
		for attempt := 1; ; attempt++ {
			r := s.post(t, taskCallBody(id), nil)
			if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "Too many concurrent calls") {
				return taskReply(t, fmt.Sprintf("task-augmented call %d", id), r)
			}
			if retries++; attempt == 1000 {
				t.Fatalf("task-augmented call %d: the cap still rejects it after %d attempts", id, attempt)
			}
		}
	}
	first, status := startTask(3)
	if first == "" || status != "working" {
		t.Fatalf("task-augmented call 3: task %q, status %q; want a working task", first, status)
	}
	if _, status := startTask(4); status != "working" {
		t.Fatalf("task-augmented call 4: status %q, want working", status)
	}
	if _, status := taskReply(t, "tasks/get", s.post(t, taskMethodBody(5, "tasks/get", first), nil)); status != "working" {
		t.Fatalf("tasks/get of the first task: status %q; want it still working beside the second", status)
	}
	if got := ts.started(t); got != 3 {
		t.Fatalf("the server started %d runs, want 3 (the plain call and two tasks)", got)
	}

	// The bucket of 3 counted the plain call and both tasks.
	expectRejection(t, s.post(t, taskCallBody(6), nil), http.StatusTooManyRequests, defaultErrorCode, "6")
	// tasks/get has 2 tokens: one was spent above.
	if _, status := taskReply(t, "tasks/get", s.post(t, taskMethodBody(7, "tasks/get", first), nil)); status != "working" {
		t.Fatalf("tasks/get of the first task: status %q, want working", status)
	}
	expectRejection(t, s.post(t, taskMethodBody(8, "tasks/get", first), nil), http.StatusTooManyRequests, defaultErrorCode, "8")

	// tasks/result, not limited here, returns the tool's result once the
	// task ends.
	ts.release(t)
	if r := s.post(t, taskMethodBody(9, "tasks/result", first), nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "slow: done") {
		t.Fatalf("tasks/result: status %d, body %s; want the tool's result", r.status, r.body)
	}
	if got := ts.started(t); got != 3 {
		t.Errorf("the server started %d runs, want 3", got)
	}
	s.expectCounters(t, map[string]uint64{
		"tools_call.admitted":             3,
		"tools_call.rejected":             1,
		"tools_call.rejected_concurrency": 1 + retries,
		"method.tasks_get.admitted":       2,
		"method.tasks_get.rejected":       1,
	})
}

// taskClientScript runs a tool as a task with the official TypeScript
// client.
const taskClientScript = "task-client.mjs"

// taskClientReport is what task-client.mjs prints.
type taskClientReport struct {
	First, Second []struct {
		Type   string `json:"type"`
		Status string `json:"status"`
		Text   string `json:"text"`
		Error  *struct {
			Class   string          `json:"class"`
			Code    int             `json:"code"`
			Data    json.RawMessage `json:"data"`
			Message string          `json:"message"`
		} `json:"error"`
	}
	Posts []struct {
		Method string `json:"method"`
		Status int    `json:"status"`
	}
	Fatal any `json:"fatal"`
}

// TestTaskClient: the official TypeScript client runs a tool as a task
// (callToolStream: the task-augmented tools/call, tasks/get until the task
// ends, then tasks/result) through the filter. The first run gets the
// tool's result; the second, over the tool's bucket of 1, is rejected and
// starts no task. What the client hands over for the rejection, by
// rejectStatus, is what docs/clients.md says: with 429 an McpError with
// the SDK's own code -32603 and the raw reply in its message, with 200 an
// McpError with the filter's code and data. tasks/get, limited with a
// bucket that does not run dry, is counted at every poll.
func TestTaskClient(t *testing.T) {
	node := requireNode(t)
	for _, tt := range []struct {
		rejectStatus int
		code         int  // of the McpError the second run yields
		data         bool // whether it has the filter's data
	}{
		{http.StatusTooManyRequests, -32603, false},
		{http.StatusOK, defaultErrorCode, true},
	} {
		t.Run(fmt.Sprint(tt.rejectStatus), func(t *testing.T) {
			ts := startTaskServer(t)
			defer ts.release(t)
			s := startStack(t, stackOptions{upstream: ts.addr, plugin: fmt.Sprintf(`{"tools":[{"name":%q,`+
				`"shared":{"maxTokens":1,"refillPeriod":"1h"}}],`+
				`"methods":[{"name":"tasks/get","shared":{"maxTokens":1000,"refillPeriod":"1h"}}],"rejectStatus":%d}`, taskTool, tt.rejectStatus)})
			var r taskClientReport
			runNodeScript(t, node, taskClientScript, map[string]string{"endpoint": s.endpoint, "admin": ts.adminURL, "tool": taskTool}, &r)
			report, _ := json.Marshal(r)
			if r.Fatal != nil {
				t.Fatalf("the client failed: %s", report)
			}
			first, second := r.First, r.Second
			if len(first) < 2 || first[0].Type != "taskCreated" || first[0].Status != "working" ||
				first[len(first)-1].Type != "result" || first[len(first)-1].Text != "slow: done" {
				t.Errorf("first run: %s; want the task created working, then the tool's result", report)
			}
			// The bucket of 1 an hour refills in an hour, less the time
			// since the first run took its token.
			var data struct{ RetryAfterSeconds int }
			if len(second) != 1 || second[0].Type != "error" || second[0].Error == nil ||
				second[0].Error.Class != "McpError" || second[0].Error.Code != tt.code ||
				!strings.Contains(second[0].Error.Message, rateLimitMessage) ||
				(string(second[0].Error.Data) == "null") == tt.data ||
				tt.data && (json.Unmarshal(second[0].Error.Data, &data) != nil || data.RetryAfterSeconds < 3600-int(testTimeout.Seconds()) || data.RetryAfterSeconds > 3600) {
				t.Errorf("second run: %s; want one McpError, code %d, the message naming the rate limit, the filter's data: %v", report, tt.code, tt.data)
			}
			sent := map[string][]int{}
			for _, p := range r.Posts {
				sent[p.Method] = append(sent[p.Method], p.Status)
			}
			if got, want := fmt.Sprint(sent["tools/call"]), fmt.Sprintf("[200 %d]", tt.rejectStatus); got != want {
				t.Errorf("tools/call statuses %s, want %s", got, want)
			}
			polls := uint64(len(sent["tasks/get"]))
			if polls == 0 {
				t.Errorf("the client sent no tasks/get: %s", report)
			}
			if got := ts.started(t); got != 1 {
				t.Errorf("the server started %d runs, want 1", got)
			}
			s.expectCounters(t, map[string]uint64{
				"tools_call.admitted":       1,
				"tools_call.rejected":       1,
				"method.tasks_get.admitted": polls,
				"method.tasks_get.rejected": 0,
			})
		})
	}
}
