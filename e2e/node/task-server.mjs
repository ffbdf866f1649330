// An MCP server made with the official TypeScript SDK whose tool runs as
// an MCP task (specification 2025-11-25, "Tasks", experimental), for
// e2e/tasks_test.go: the test sends task-augmented tools/call requests
// through the filter and checks what the filter counts and holds.
//
// Tool "slow" (taskSupport "optional"): a task-augmented call is answered at
// once with the task's handle (status "working") while the task keeps
// running; a plain call waits for the same end. Every run stays "working"
// until the test releases it: POST /release on the admin listener completes
// every run that is working. GET /runs answers {"started": n} with the runs
// the server started (plain and task-augmented).
//
// The server is stateless (one McpServer and transport per request, as the
// SDK's stateless example does), with one task store shared by all of them,
// so that tasks/get and tasks/result find the tasks of earlier requests.
//
// Usage: node task-server.mjs
// The first stdout line is {"mcp": port, "admin": port} (127.0.0.1); the
// process ends when stdin closes, so it never outlives the test.
import http from 'node:http';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { InMemoryTaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js';

import { listen, statelessHandler } from './serve.mjs';

const taskStore = new InMemoryTaskStore();
let started = 0;
// waiting are the resolvers of the runs not yet released.
let waiting = [];

// run starts one run of the tool and resolves when the test releases it.
function run() {
  started++;
  return new Promise((resolve) => waiting.push(resolve));
}

const done = { content: [{ type: 'text', text: 'slow: done' }] };

// newServer is one request's McpServer with the task tool, over the
// shared task store.
function newServer() {
  const server = new McpServer(
    { name: 'task-server', version: '1.0.0' },
    { capabilities: { tasks: { requests: { tools: { call: {} } } } }, taskStore },
  );
  server.experimental.tasks.registerToolTask(
    'slow',
    { description: 'runs until the test releases it', execution: { taskSupport: 'optional' } },
    {
      async createTask(extra) {
        const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl });
        run().then(() => taskStore.storeTaskResult(task.taskId, 'completed', done));
        return { task };
      },
      async getTask(extra) {
        return await extra.taskStore.getTask(extra.taskId);
      },
      async getTaskResult(extra) {
        return await extra.taskStore.getTaskResult(extra.taskId);
      },
    },
  );
  return server;
}

const app = createMcpExpressApp();
app.all('/mcp', statelessHandler(newServer));

const adminServer = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/runs') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ started }));
    return;
  }
  if (req.method === 'POST' && req.url === '/release') {
    const released = waiting.length;
    for (const resolve of waiting) {
      resolve();
    }
    waiting = [];
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ released }));
    return;
  }
  res.writeHead(404);
  res.end();
});

const mcpServer = http.createServer(app);
const ports = { mcp: await listen(mcpServer), admin: await listen(adminServer) };
process.stdout.write(JSON.stringify(ports) + '\n');

process.stdin.resume();
process.stdin.on('end', () => {
  taskStore.cleanup(); // its tasks' TTL timers would keep the process alive
  mcpServer.close();
  adminServer.close();
  mcpServer.closeAllConnections();
  adminServer.closeAllConnections();
});
