// Unit tests of the V8 host's own pieces (node --test e2e/v8/host.test.mjs;
// e2e TestV8Host runs them): shared data, pairs, header maps, profiles,
// WASI answers, restricted callbacks, metrics and module checks. The
// compiled filter itself is exercised by run.mjs and TestScenarios.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Result, HeaderMap, marshalPairs, unmarshalPairs, utf8 } from './abi.mjs';
import { SharedData, Stats, MetricKind } from './store.mjs';
import { Host, VM, RootContext, Trap, profileFor } from './host.mjs';

test('shared data: NotFound, CAS from one global counter, cas 0 never checks, set on a missing key succeeds', () => {
  const s = new SharedData();
  assert.equal(s.get('', 'k').result, Result.NotFound);
  assert.equal(s.set('', 'k', utf8('a'), 42), Result.OK, 'a set on a missing key succeeds whatever its cas');
  assert.deepEqual(s.get('', 'k'), { result: Result.OK, value: utf8('a'), cas: 1 });
  assert.equal(s.set('vm2', 'k', utf8('b'), 0), Result.OK);
  assert.equal(s.get('vm2', 'k').cas, 2, 'one counter for every vm_id');
  assert.equal(s.get('', 'k').cas, 1, 'vm_ids are separate key spaces');
  assert.equal(s.set('', 'k', utf8('c'), 7), Result.CasMismatch);
  assert.deepEqual(s.get('', 'k').value, utf8('a'), 'a mismatch changes nothing');
  assert.equal(s.set('', 'k', utf8('c'), 1), Result.OK);
  assert.equal(s.set('', 'k', utf8('d'), 0), Result.OK, 'cas 0 means no check');
  assert.equal(s.get('', 'k').cas, 4);
  const got = s.get('', 'k');
  got.value[0] = 0;
  assert.deepEqual(s.get('', 'k').value, utf8('d'), 'get returns a copy');
  s.nextCas = 0xffffffff;
  s.set('', 'w', utf8('x'), 0);
  assert.equal(s.nextCas, 1, 'the counter skips 0 when it wraps');
});

test('pairs serialisation: layout, round trip, empty and malformed input', () => {
  const b = marshalPairs([[':path', '/mcp'], ['x', '']]);
  const view = new DataView(b.buffer);
  assert.equal(view.getUint32(0, true), 2);
  assert.deepEqual([view.getUint32(4, true), view.getUint32(8, true), view.getUint32(12, true), view.getUint32(16, true)], [5, 4, 1, 0]);
  assert.equal(Buffer.from(b.subarray(20)).toString('latin1'), ':path\0/mcp\0x\0\0');
  assert.deepEqual(unmarshalPairs(b), [[':path', '/mcp'], ['x', '']]);
  assert.equal(marshalPairs([]).length, 0);
  assert.deepEqual(unmarshalPairs(b.subarray(0, b.length - 1)), []);
  assert.deepEqual(unmarshalPairs(Uint8Array.of(1, 0)), []);
});

test('header map: lower-case names, first value, setCopy replaces the first, remove drops all', () => {
  const h = new HeaderMap([['X-A', '1'], ['x-a', '2']]);
  assert.equal(h.get('x-A'), '1');
  h.set('X-A', '3');
  assert.deepEqual(h.pairs(), [['x-a', '3'], ['x-a', '2']]);
  h.set('y', '4');
  h.remove('X-a');
  assert.deepEqual(h.pairs(), [['y', '4']]);
  assert.equal(h.byteSize(), 2);
});

test('profiles: 1.33-1.38 answer poll_oneoff with ENOSYS and restrict more; older releases are refused', () => {
  assert.equal(profileFor('1.33').pollOneoffENOSYS, true);
  assert.equal(profileFor('v1.38.2').pollOneoffENOSYS, true);
  assert.equal(profileFor('1.39').pollOneoffENOSYS, false);
  assert.ok(profileFor('1.33').allocAllowed.has('wasi_snapshot_preview1.clock_time_get'));
  assert.ok(!profileFor('1.33').allocAllowed.has('wasi_snapshot_preview1.poll_oneoff'));
  assert.ok(profileFor('1.39').allocAllowed.has('wasi_snapshot_preview1.poll_oneoff'));
  assert.throws(() => profileFor('1.32'), /before 1\.33/);
  assert.throws(() => profileFor('2.0'), /want 1\.N/);
});

// bareVM is a VM with one page of memory and no module, for the host calls.
function bareVM(profile) {
  const vm = new VM(new Host({ profile }), { vmId: '', name: 'worker 0', configuration: new Uint8Array(0) });
  vm.memory = new WebAssembly.Memory({ initial: 1 });
  return vm;
}

test('poll_oneoff: ENOSYS under 1.33, success with zero events under 1.39', () => {
  const old = bareVM('1.33').wasiImports({});
  assert.equal(old.poll_oneoff(0, 64, 1, 128), 52);
  const vm = bareVM('1.39');
  vm.view().setUint32(128, 7, true);
  assert.equal(vm.wasiImports({}).poll_oneoff(0, 64, 1, 128), 0);
  assert.equal(vm.view().getUint32(128, true), 0);
});

test("WASI: Envoy's answers for fd_fdstat_get, fd_read, fd_write and the clocks", () => {
  const vm = bareVM('1.33');
  const lines = [];
  vm.host.onLog = (level, line) => lines.push([level, line]);
  const w = vm.wasiImports({});
  assert.equal(w.fd_fdstat_get(0, 256), 8, 'only stdout and stderr');
  assert.equal(w.fd_fdstat_get(1, 256), 0);
  assert.equal(vm.bytes()[256], 0, 'file type unknown: never pollable');
  assert.equal(vm.bytes()[256 + 8], 64, 'rights FD_WRITE');
  assert.equal(w.fd_read(0, 0, 0, 0), 52);
  vm.bytes().set(utf8('hello\n'), 512);
  vm.view().setUint32(600, 512, true);
  vm.view().setUint32(604, 6, true);
  assert.equal(w.fd_write(2, 600, 1, 700), 0);
  assert.equal(vm.view().getUint32(700, true), 6);
  assert.deepEqual(lines, [[4, '[wasm] wasm log: hello']]);
  assert.equal(w.fd_write(3, 600, 1, 700), 8);
  vm.host.clock.advance(1500);
  assert.equal(w.clock_time_get(0, 0n, 800), 0);
  assert.equal(vm.view().getBigUint64(800, true), 1500000000n, 'realtime is the host clock');
  assert.equal(w.clock_time_get(2, 0n, 800), 58);
});

test('restricted callbacks trap outside the allowed list', () => {
  const vm = bareVM('1.33');
  const call = vm.guard('env.proxy_get_property', () => 0);
  assert.equal(call(), 0);
  vm.restricted = vm.host.profile.allocAllowed;
  assert.throws(() => call(), Trap);
  assert.equal(vm.guard('env.proxy_log', () => 0)(), 0);
});

test('metrics: ids carry the kind, counters take positive offsets only, one stat per name', () => {
  const vm = bareVM('1.33');
  const env = vm.envImports();
  vm.bytes().set(utf8('c.a'), 0);
  vm.bytes().set(utf8('g.a'), 16);
  assert.equal(env.proxy_define_metric(MetricKind.Counter, 0, 3, 100), Result.OK);
  const counter = vm.view().getUint32(100, true);
  assert.equal(env.proxy_define_metric(MetricKind.Gauge, 16, 3, 100), Result.OK);
  const gauge = vm.view().getUint32(100, true);
  assert.deepEqual([counter, gauge], [4, 5]);
  assert.equal(env.proxy_increment_metric(counter, 0n), Result.BadArgument);
  assert.equal(env.proxy_increment_metric(counter, 2n), Result.OK);
  assert.equal(env.proxy_increment_metric(gauge, -1n), Result.OK);
  assert.equal(env.proxy_increment_metric(8, 1n), Result.NotFound);
  assert.equal(env.proxy_get_metric(counter, 200), Result.OK);
  assert.equal(vm.view().getBigUint64(200, true), 2n);
  const other = bareVM('1.33');
  other.host = vm.host;
  other.bytes().set(utf8('c.a'), 0);
  other.envImports().proxy_define_metric(MetricKind.Counter, 0, 3, 100);
  other.envImports().proxy_increment_metric(4, 1n);
  assert.equal(vm.host.stats.snapshot()['c.a'], 3, 'workers add up in one stat');
  const stats = new Stats();
  stats.define('x', MetricKind.Counter);
  assert.throws(() => stats.define('x', MetricKind.Gauge), /already/);
});

test('a module importing a call the host lacks, or without an ABI version, is refused', async () => {
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types = [0x01, 0x04, 0x01, 0x60, 0x00, 0x00];
  const name = [...utf8('proxy_nope')];
  const imports = [0x02, 1 + 4 + 1 + name.length + 2, 0x01, 0x03, ...utf8('env'), name.length, ...name, 0x00, 0x00];
  const host = new Host();
  await assert.rejects(host.newVM(new WebAssembly.Module(Uint8Array.from([...header, ...types, ...imports]))), /missing import: env\.proxy_nope/);
  await assert.rejects(host.newVM(new WebAssembly.Module(Uint8Array.from(header))), /Proxy-Wasm ABI version/);
});

test('ticks: proxy_on_tick once per elapsed period of the root that set it; 0 stops them', () => {
  const vm = bareVM('1.33');
  const ticks = [];
  vm.exports = { proxy_on_tick: (id) => ticks.push(id) };
  const root = new RootContext(vm, vm.nextContextId++, { name: 'p', rootId: 'p', configuration: new Uint8Array(0) });
  vm.roots.set(root.id, root);
  vm.current = root.id;
  assert.equal(vm.envImports().proxy_set_tick_period_milliseconds(100), Result.OK);
  vm.current = 0;
  assert.equal(vm.envImports().proxy_set_tick_period_milliseconds(100), Result.BadArgument, 'only a context may set a period');
  vm.host.clock.advance(99);
  vm.runTicks(vm.host.clock.now());
  assert.deepEqual(ticks, []);
  vm.host.clock.advance(201);
  vm.runTicks(vm.host.clock.now());
  assert.deepEqual(ticks, [1, 1, 1]);
  vm.current = root.id;
  vm.envImports().proxy_set_tick_period_milliseconds(0);
  vm.host.clock.advance(1000);
  vm.runTicks(vm.host.clock.now());
  assert.equal(ticks.length, 3);
});

test('set_effective_context: unknown ids are BadArgument, known ones redirect host calls', () => {
  const vm = bareVM('1.33');
  const root = new RootContext(vm, vm.nextContextId++, { name: 'p', rootId: 'r', configuration: new Uint8Array(0) });
  vm.roots.set(root.id, root);
  const env = vm.envImports();
  assert.equal(env.proxy_set_effective_context(9), Result.BadArgument);
  assert.equal(vm.contextOf(), 0);
  assert.equal(env.proxy_set_effective_context(root.id), Result.OK);
  assert.equal(vm.contextOf(), root.id);
  vm.malloc = () => 1024;
  vm.bytes().set(utf8('plugin_root_id'), 0);
  assert.equal(env.proxy_get_property(0, 14, 100, 104), Result.OK);
  assert.equal(vm.view().getUint32(100, true), 1024);
  assert.equal(vm.view().getUint32(104, true), 1);
  assert.equal(String.fromCharCode(vm.bytes()[1024]), 'r');
});

test('buffers: plugin configuration (7) only inside on_configure, VM configuration (6), clamping', () => {
  const vm = bareVM('1.33');
  vm.cfg.configuration = utf8('vm-conf');
  const root = new RootContext(vm, vm.nextContextId++, { name: 'p', rootId: 'r', configuration: utf8('{"a":1}') });
  vm.roots.set(root.id, root);
  vm.current = root.id;
  let next = 2048;
  vm.malloc = (n) => ((next += n), next - n);
  const env = vm.envImports();
  const read = () => Buffer.from(vm.bytes().subarray(vm.view().getUint32(100, true), vm.view().getUint32(100, true) + vm.view().getUint32(104, true))).toString();
  assert.equal(env.proxy_get_buffer_bytes(7, 0, 100, 100, 104), Result.NotFound, 'outside on_configure');
  root.inConfigure = true;
  assert.equal(env.proxy_get_buffer_bytes(7, 0, 100, 100, 104), Result.OK);
  assert.equal(read(), '{"a":1}', 'the length is clamped to the buffer');
  assert.equal(env.proxy_get_buffer_bytes(7, 2, 3, 100, 104), Result.OK);
  assert.equal(read(), 'a":');
  assert.equal(env.proxy_get_buffer_bytes(7, 8, 1, 100, 104), Result.InvalidMemoryAccess, 'start past the end');
  vm.view().setUint32(104, 99, true);
  assert.equal(env.proxy_get_buffer_bytes(7, 7, 1, 100, 104), Result.OK);
  assert.equal(vm.view().getUint32(104, true), 99, 'nothing is written for an empty range');
  assert.equal(env.proxy_get_buffer_bytes(6, 0, 100, 100, 104), Result.OK);
  assert.equal(read(), 'vm-conf');
  assert.equal(env.proxy_get_buffer_bytes(9, 0, 1, 100, 104), Result.BadArgument);
});
