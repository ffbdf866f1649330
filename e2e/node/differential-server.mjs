// Two MCP servers made with the official TypeScript SDK, for the
// differential test (e2e/differential_test.go): the test sends the same
// request through the filter to each of them and checks that every tool a
// server ran was counted by the filter.
//
//   express: createMcpExpressApp() (Express 5, body-parser's express.json(),
//            which honours the Content-Type charset via iconv-lite and
//            inflates gzip/deflate/br) + StreamableHTTPServerTransport,
//            stateless, one McpServer and transport per request, as the
//            SDK's stateless example does;
//   web:     WebStandardStreamableHTTPServerTransport served by node:http,
//            stateless: the transport reads the body itself (TextDecoder
//            UTF-8, JSON.parse), with no charset or Content-Encoding
//            handling.
//
// Every tool named on the command line (one JSON array of names) counts its
// runs per server. The test reads the counts from the admin listener:
// GET /counts answers {"express": {"<tool>": n}, "web": {...}}.
//
// Usage: node differential-server.mjs '["t","a"]'
// The first stdout line is {"express": port, "web": port, "admin": port}
// (all on 127.0.0.1); the process ends when stdin closes, so it never
// outlives the test that started it.
import http from 'node:http';
import { Readable } from 'node:stream';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';

import { listen, statelessHandler } from './serve.mjs';

const tools = JSON.parse(process.argv[2] ?? '[]');
if (!Array.isArray(tools) || tools.length === 0 || !tools.every((t) => typeof t === 'string')) {
  console.error('usage: node differential-server.mjs \'["tool", ...]\'');
  process.exit(2);
}

// counts[server][tool] = runs of that tool at that server.
const counts = { express: {}, web: {} };

// newServer returns an McpServer whose tools count their runs under kind.
function newServer(kind) {
  const server = new McpServer({ name: `differential-${kind}`, version: '1.0.0' });
  for (const name of tools) {
    server.registerTool(name, { description: `counts its runs (${kind})` }, async () => {
      counts[kind][name] = (counts[kind][name] ?? 0) + 1;
      return { content: [{ type: 'text', text: `ran ${name}` }] };
    });
  }
  return server;
}

// express: the SDK's Express app. A request whose body body-parser refused
// (415 charset, 400 JSON) never reaches the handler.
const app = createMcpExpressApp();
app.all('/mcp', statelessHandler(() => newServer('express')));
// Errors body-parser raises (bad charset, bad JSON, bad encoding) are
// answered like Express does, without the HTML page.
app.use((err, _req, res, _next) => {
  res.status(err.status ?? 500).json({ jsonrpc: '2.0', id: null, error: { code: -32700, message: String(err.message) } });
});

// web: node:http request -> web-standard Request, headers kept as sent
// (rawHeaders, duplicates appended in order).
// Like a router mounted at /mcp, it serves that pathname only (the query
// aside).
async function handleWeb(req, res) {
  if (new URL(req.url, 'http://127.0.0.1').pathname !== '/mcp') {
    res.writeHead(404);
    res.end();
    return;
  }
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  const request = new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url}`, {
    method: req.method,
    headers,
    body: hasBody ? Readable.toWeb(req) : undefined,
    duplex: hasBody ? 'half' : undefined,
  });
  const server = newServer('web');
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  try {
    await server.connect(transport);
    const response = await transport.handleRequest(request);
    res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
    res.end(response.body ? Buffer.from(await response.arrayBuffer()) : undefined);
  } catch (err) {
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'application/json' });
    }
    res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: String(err) } }));
  } finally {
    await transport.close();
    await server.close();
  }
}

const expressServer = http.createServer(app);
const webServer = http.createServer((req, res) => {
  handleWeb(req, res).catch((err) => {
    console.error('web server:', err);
    res.destroy();
  });
});
const adminServer = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/counts') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(counts));
    return;
  }
  res.writeHead(404);
  res.end();
});

const ports = {
  express: await listen(expressServer),
  web: await listen(webServer),
  admin: await listen(adminServer),
};
process.stdout.write(JSON.stringify(ports) + '\n');

// The test holds stdin open; when it closes (the test ended or died), stop.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
