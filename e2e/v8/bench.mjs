// Compares the time per request of proxy-wasm modules on V8, side by side:
//
//   node e2e/v8/bench.mjs [-n 500] [-rounds 60] [-warmup 20000] A.wasm B.wasm ...
//
// Each module gets its own VM and plugin (one shared bucket that admits
// everything) and the same requests: a 256-byte tools/call and a
// tools/list. After -warmup requests to each (so that V8 has optimised
// the hot functions; without it the first module measured pays for the
// compilation), the modules take turns in rounds of -n requests, in an
// order reversed every round. Prints one line per workload with each
// module's microseconds per request. docs/benchmarks.md records runs of
// the filter and the no-op plugin with and without direct jumps.

import { readFileSync } from 'node:fs';
import { Host } from './host.mjs';
import { Stream, DEFAULT_BUFFER_LIMIT } from './stream.mjs';
import { HeaderMap, utf8 } from './abi.mjs';
import { requestHeaders } from './run.mjs';

const config = utf8('{"shared":{"maxTokens":1000000000,"refillPeriod":"1s"}}');
const upstreamBody = utf8('{"jsonrpc":"2.0","id":1,"result":{}}');

// workloads are the bodies of envoy/host's BenchmarkVsNoop call-admitted
// (256 bytes) and tools-list.
const workloads = {
  'call-admitted': utf8(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"${'a'.repeat(146)}"}}}`),
  'tools-list': utf8('{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}'),
};

function parseArgs(argv) {
  const opts = { n: 500, rounds: 60, warmup: 20000, files: [] };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i].replace(/^-+/, '');
    if (argv[i].startsWith('-') && flag in opts && flag !== 'files') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`-${flag} needs a whole number, got ${argv[i]}`);
      opts[flag] = v;
    } else {
      opts.files.push(argv[i]);
    }
  }
  if (opts.files.length === 0 || opts.n === 0 || opts.rounds === 0) {
    throw new Error('usage: node e2e/v8/bench.mjs [-n 500] [-rounds 60] [-warmup 20000] A.wasm B.wasm ...');
  }
  return opts;
}

// request sends one POST with body, with the scenario runner's headers,
// through root's filter and fails unless the upstream's 200 comes back.
function request(root, body) {
  const st = new Stream(root, { remoteAddress: '127.0.0.1:40000', localAddress: '127.0.0.1:10000' }, {
    bufferLimit: DEFAULT_BUFFER_LIMIT,
    upstream: () => ({
      headers: [[':status', '200'], ['content-type', 'application/json'], ['content-length', String(upstreamBody.length)]],
      body: upstreamBody,
    }),
  });
  st.requestHeaders(new HeaderMap(requestHeaders({}, body.length)), false);
  st.requestData(body, true);
  const status = st.response ? Number(st.response.headers.get(':status')) : 0;
  st.finish();
  if (status !== 200) throw new Error(`status ${status}, want 200`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const host = new Host({ profile: '1.33', clockStartNs: 1767225600000000000n, logLevel: 'info' });
  const roots = [];
  for (const file of opts.files) {
    const vm = await host.newVM(new WebAssembly.Module(readFileSync(file)), { vmId: '', name: file });
    roots.push(vm.startPlugin({ name: 'mcp-ratelimit', rootId: 'mcp-ratelimit', configuration: config }));
  }
  for (const [name, body] of Object.entries(workloads)) {
    for (const root of roots) for (let k = 0; k < opts.warmup; k++) request(root, body);
    const ns = roots.map(() => 0n);
    const order = roots.map((_, i) => i);
    for (let r = 0; r < opts.rounds; r++) {
      for (const i of order) {
        const start = process.hrtime.bigint();
        for (let k = 0; k < opts.n; k++) request(roots[i], body);
        ns[i] += process.hrtime.bigint() - start;
      }
      order.reverse();
    }
    const per = ns.map((t) => Number(t) / (opts.n * opts.rounds) / 1000);
    console.log(`${name}: ` + opts.files.map((f, i) => `${f} ${per[i].toFixed(2)} µs/req`).join('  '));
  }
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
