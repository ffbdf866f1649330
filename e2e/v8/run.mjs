// Runs the scenarios of e2e/testdata/scenarios.json against a compiled
// proxy-wasm module on V8 and prints what happened as JSON on stdout:
//
//   node e2e/v8/run.mjs build/mcp-ratelimit.wasm e2e/testdata/scenarios.json
//
// The Go test e2e/scenarios_test.go runs the same scenarios on wazero, reads
// this output and compares both engines with the scenarios' expectations
// and with each other. The file format is described in
// e2e/testdata/scenarios.md; the two runners build requests the same way.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Host } from './host.mjs';
import { Stream, DEFAULT_BUFFER_LIMIT } from './stream.mjs';
import { HeaderMap, fromLatin1, toLatin1, utf8, text } from './abi.mjs';

// requestBody builds a request's body: body, or a tools/call of call (with
// id), or bodyTemplate with "{{pad}}" replaced by "a"s up to bodySize bytes.
export function requestBody(r) {
  if (r.call !== undefined) {
    const id = r.id ?? 1;
    return utf8(`{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"tools/call","params":{"name":${JSON.stringify(r.call)},"arguments":{}}}`);
  }
  if (r.bodyTemplate !== undefined) {
    const template = utf8(r.bodyTemplate);
    const marker = utf8('{{pad}}');
    const at = Buffer.from(template).indexOf(Buffer.from(marker));
    if (at < 0) throw new Error('bodyTemplate without {{pad}}');
    const pad = r.bodySize - (template.length - marker.length);
    if (pad < 0) throw new Error(`bodySize ${r.bodySize} is smaller than the template`);
    const out = new Uint8Array(r.bodySize);
    out.set(template.subarray(0, at), 0);
    out.fill(0x61, at, at + pad);
    out.set(template.subarray(at + marker.length), at + pad);
    return out;
  }
  return utf8(r.body ?? '');
}

// requestHeaders: the pseudo-headers, content-type, accept and
// content-length (unless noContentLength or no body), then the request's
// own headers, in that order. Values travel as one char per byte.
export function requestHeaders(r, bodyLength) {
  const h = [
    [':method', r.method ?? 'POST'],
    [':path', r.path ?? '/mcp'],
    [':authority', 'mcp.example'],
    [':scheme', 'http'],
    ['content-type', 'application/json'],
    ['accept', 'application/json, text/event-stream'],
  ];
  if (bodyLength > 0 && !r.noContentLength) h.push(['content-length', String(bodyLength)]);
  for (const [k, v] of r.headers ?? []) h.push([k, fromLatin1(utf8(v))]);
  return h;
}

const parseTime = (s) => BigInt(Date.parse(s)) * 1000000n;

async function runScenario(module, file, sc) {
  const d = file.defaults;
  const workers = sc.workers ?? d.workers;
  const host = new Host({ profile: sc.envoyVersion ?? d.envoyVersion, clockStartNs: parseTime(sc.clockStart ?? d.clockStart), logLevel: 'info' });
  const configuration = sc.configText !== undefined ? utf8(sc.configText) : utf8(JSON.stringify(sc.config));
  const result = { name: sc.name, started: true, startError: '', steps: [], counters: {}, logs: [], memoryBytes: [] };
  const roots = [];
  const vms = [];
  for (let w = 0; w < workers; w++) {
    const vm = await host.newVM(module, { vmId: d.vmId, name: `worker ${w}` });
    vms.push(vm);
    try {
      roots.push(vm.startPlugin({ name: d.pluginName, rootId: d.rootId, configuration }));
    } catch (e) {
      result.started = false;
      result.startError = e.message;
      break;
    }
  }
  if (result.started) {
    for (const r of sc.requests ?? []) {
      for (let i = 0; i < (r.repeat ?? 1); i++) {
        if (r.advanceMs) {
          host.clock.advance(r.advanceMs);
          for (const vm of vms) vm.runTicks(host.clock.now());
        }
        result.steps.push(exchange(roots[r.worker ?? 0], file.upstream, r));
      }
    }
  }
  result.counters = host.stats.snapshot();
  result.logs = host.logs.filter((l) => l.line.startsWith('[wasm] wasm log')).map((l) => `${l.level} ${l.line}`);
  result.memoryBytes = vms.map((vm) => vm.memoryBytes());
  result.trap = vms.find((vm) => vm.failed)?.failed.message ?? '';
  return result;
}

// exchange sends one request through a worker's filter and records the
// answer the client gets.
function exchange(root, upstreamReply, r) {
  const body = requestBody(r);
  let upstreamBytes = -1;
  const st = new Stream(
    root,
    { remoteAddress: r.sourceAddress ?? '127.0.0.1:40000', localAddress: '127.0.0.1:10000', extra: r.properties },
    {
      bufferLimit: DEFAULT_BUFFER_LIMIT,
      upstream: (headers, reqBody) => {
        upstreamBytes = reqBody.length;
        const replyBody = utf8(upstreamReply.body);
        return {
          headers: [[':status', String(upstreamReply.status)], ...upstreamReply.headers, ['content-length', String(replyBody.length)]],
          body: replyBody,
        };
      },
    },
  );
  const trailers = r.trailers ? new HeaderMap(r.trailers) : null;
  st.requestHeaders(new HeaderMap(requestHeaders(r, body.length)), body.length === 0 && !trailers);
  const chunk = r.chunk > 0 ? r.chunk : body.length;
  for (let off = 0; off < body.length; off += chunk) {
    const end = Math.min(off + chunk, body.length);
    st.requestData(body.subarray(off, end), end === body.length && !trailers);
  }
  if (trailers) st.requestTrailers(trailers);
  const response = st.response;
  st.finish();
  return {
    upstream: upstreamBytes >= 0,
    upstreamBodyBytes: upstreamBytes,
    status: response ? Number(response.headers.get(':status')) : 0,
    headers: response ? response.headers.pairs().map(([k, v]) => [k, text(toLatin1(v))]) : [],
    body: response ? text(response.body.bytes()) : '',
    details: st.details,
  };
}

async function main() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < 20) {
    // node:wasi's version option and getImportObject are needed.
    console.error(`Node.js ${process.version} is too old: e2e/v8 needs Node.js 20 or later`);
    process.exit(2);
  }
  const [wasmPath, scenariosPath, only] = process.argv.slice(2);
  if (!wasmPath || !scenariosPath) {
    console.error('usage: node e2e/v8/run.mjs MODULE.wasm SCENARIOS.json [SCENARIO NAME]');
    process.exit(2);
  }
  const module = new WebAssembly.Module(readFileSync(wasmPath));
  const file = JSON.parse(readFileSync(scenariosPath, 'utf8'));
  const out = { engine: `V8 ${process.versions.v8} (Node.js ${process.version})`, scenarios: [] };
  for (const sc of file.scenarios) {
    if (only && sc.name !== only) continue;
    out.scenarios.push(await runScenario(module, file, sc));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

// Run as a command; imported (bench.mjs builds requests with
// requestHeaders), it only exports.
if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
