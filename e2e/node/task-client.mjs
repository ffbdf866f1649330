// task-client.mjs runs a tool as an MCP task with the official TypeScript
// client (@modelcontextprotocol/sdk, pinned in package.json,
// client.experimental.tasks.callToolStream) through the filter to
// task-server.mjs, twice, and prints one JSON object on stdout: what the
// client yielded each time and the method of every POST it sent.
//
// Usage: node task-client.mjs '{"endpoint": URL, "admin": URL, "tool": name}'
//
// When a run's task is created, the script releases it on the server's
// admin listener (POST /release), so that the run ends. The Go
// test (e2e/tasks_test.go) sets the limits and asserts every observation;
// the script never decides what is right.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { connectAndReport, describe } from './report.mjs';

const spec = JSON.parse(process.argv[2] ?? '{}');
if (!spec.endpoint || !spec.admin || !spec.tool) {
  console.error('usage: node task-client.mjs \'{"endpoint":...,"admin":...,"tool":...}\'');
  process.exit(2);
}
const timeout = 20000; // per request, so that a hang shows as an error

// posts are the JSON-RPC methods of the POSTs sent, with their statuses.
const posts = [];
const wireFetch = async (url, init) => {
  const response = await fetch(url, init);
  if (init?.method === 'POST') {
    let method = null;
    try {
      method = JSON.parse(init.body).method ?? null;
    } catch {
      // not a single JSON object: recorded without a method
    }
    posts.push({ method, status: response.status });
  }
  return response;
};

// run calls the tool as a task and records each message the stream
// yields.
async function run(client) {
  const messages = [];
  try {
    const stream = client.experimental.tasks.callToolStream(
      { name: spec.tool, arguments: {} }, undefined, { task: { ttl: 60000 }, timeout });
    for await (const message of stream) {
      switch (message.type) {
        case 'taskCreated': {
          messages.push({ type: message.type, status: message.task.status });
          const released = await fetch(`${spec.admin}/release`, { method: 'POST' });
          if (!released.ok) {
            throw new Error(`POST /release: ${released.status}`);
          }
          break;
        }
        case 'taskStatus':
          messages.push({ type: message.type, status: message.task.status });
          break;
        case 'result':
          messages.push({ type: message.type, text: message.result.content?.[0]?.text ?? null });
          break;
        case 'error':
          messages.push({ type: message.type, error: describe(message.error) });
          break;
        default:
          messages.push({ type: message.type });
      }
    }
  } catch (err) {
    messages.push({ type: 'thrown', error: describe(err) });
  }
  return messages;
}

const transport = new StreamableHTTPClientTransport(new URL(spec.endpoint), { fetch: wireFetch });
const client = new Client({ name: 'e2e-typescript-tasks', version: '0' });
await connectAndReport(client, transport, { posts }, async (report) => {
  report.first = await run(client);
  report.second = await run(client);
});
