// client-rejection.mjs drives the official TypeScript MCP client
// (@modelcontextprotocol/sdk, pinned in package.json) against an MCP
// endpoint behind the rate-limit filter, and prints one JSON object on
// stdout: what the client hands to the calling code for each probe.
//
// Usage: node client-rejection.mjs '<spec JSON>'
//
// spec: {"endpoint": URL, "limited": {"name", "arguments"}, "other": {...}}
// where the limited tool has exactly one token left and the other tool is
// not limited. The Go test (e2e/clients_test.go) starts the stack, runs
// this script and asserts every observation.
//
// The script never decides what is right: it records the error class,
// its fields and message, the HTTP status on the wire, and whether later
// calls on the same session still work.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { JSONRPCMessageSchema } from '@modelcontextprotocol/sdk/types.js';
import { readFileSync } from 'node:fs';

import { connectAndReport, describe } from './report.mjs';

const spec = JSON.parse(process.argv[2] ?? '{}');
if (!spec.endpoint || !spec.limited || !spec.other) {
    console.error('usage: node client-rejection.mjs \'{"endpoint":...,"limited":{...},"other":{...}}\'');
    process.exit(2);
}
const sdkVersion = JSON.parse(readFileSync(new URL('./node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url), 'utf8')).version;
const timeout = 20000; // per request, so that a hang shows as an error

// The wire: every POST's status and Retry-After, and an optional body
// rewrite (to send what the SDK itself never sends).
let lastPost = null;
let rewriteBody = null;
const wireFetch = async (url, init) => {
    if (init?.method === 'POST' && rewriteBody) {
        init = { ...init, body: rewriteBody(init.body) };
    }
    const response = await fetch(url, init);
    if (init?.method === 'POST') {
        lastPost = { status: response.status, retryAfter: response.headers.get('retry-after') };
    }
    return response;
};

const transport = new StreamableHTTPClientTransport(new URL(spec.endpoint), {
    fetch: wireFetch,
    reconnectionOptions: { initialReconnectionDelay: 1000, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1, maxRetries: 0 }
});
const client = new Client({ name: 'e2e-typescript', version: '0' });
const asyncErrors = []; // what Client.onerror received during a probe
client.onerror = err => asyncErrors.push(String(err?.message ?? err));

// probe runs one action and records its outcome.
async function probe(action) {
    lastPost = null;
    asyncErrors.length = 0;
    const out = { ok: false, error: null };
    try {
        const result = await action();
        out.ok = true;
        if (result && typeof result === 'object' && 'isError' in result) {
            out.toolError = Boolean(result.isError);
        }
    } catch (err) {
        out.error = describe(err);
    }
    // The transport hands a JSON body to the protocol layer (and that
    // reports to Client.onerror) before send() settles: no wait needed.
    out.httpStatus = lastPost?.status ?? null;
    out.retryAfterHeader = lastPost?.retryAfter ?? null;
    out.asyncErrors = [...asyncErrors];
    return out;
}

const call = tool => () => client.callTool({ name: tool.name, arguments: tool.arguments }, undefined, { timeout });
const rawCall = (id, tool) => ({ jsonrpc: '2.0', ...(id === undefined ? {} : { id }), method: 'tools/call', params: { name: tool.name, arguments: tool.arguments } });

await connectAndReport(client, transport, { client: 'typescript', sdkVersion }, async (report) => {
    report.protocolVersion = transport.protocolVersion ?? null;
    report.admitted = await probe(call(spec.limited));
    report.rejected = await probe(call(spec.limited));
    report.otherToolAfter = await probe(call(spec.other));
    report.listAfter = await probe(() => client.listTools(undefined, { timeout }));
    // A tools/call sent as a notification (no id): its rejection has no id.
    report.notification = await probe(() => transport.send(rawCall(undefined, spec.limited)));
    // A tools/call sent with "id": null: answered without an id.
    report.nullID = await probe(() => transport.send(rawCall(null, spec.limited)));
    // A batch (batch "reject"): 400, -32600, no id.
    report.batch = await probe(() => transport.send([rawCall(9001, spec.other)]));
    // A body that is not JSON: 400, -32700, no id.
    rewriteBody = () => 'this is not JSON';
    report.notJSON = await probe(call(spec.other));
    rewriteBody = null;
    report.otherToolAtEnd = await probe(call(spec.other));
    // What the SDK's own message schema says about the two spellings.
    const error = { code: -32600, message: 'Invalid Request' };
    report.schema = {
        errorWithoutID: JSONRPCMessageSchema.safeParse({ jsonrpc: '2.0', error }).success,
        errorWithNullID: JSONRPCMessageSchema.safeParse({ jsonrpc: '2.0', id: null, error }).success
    };
});
