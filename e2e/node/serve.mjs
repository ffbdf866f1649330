// What the e2e tests' servers made with the official TypeScript SDK share.
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

// statelessHandler is an Express handler that serves each request with a
// new McpServer from newServer() and a stateless transport answering in
// JSON, as the SDK's stateless example does.
export function statelessHandler(newServer) {
  return async (req, res) => {
    const server = newServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      if (!res.headersSent) {
        res.status(500).json({ jsonrpc: '2.0', id: null, error: { code: -32603, message: String(err) } });
      }
    }
  };
}

// listen starts server on a free loopback port and resolves to the port.
export function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}
