// A proxy-wasm host on V8 (Node.js 20+, no dependencies): it runs a
// proxy-wasm module the way Envoy's Wasm host runs it, for the host calls
// a standard-Go module built with proxy-wasm-go-sdk uses. Every behaviour
// names its source; the Go host on wazero (envoy/host/proxywasm) implements
// the same ones.
//
// Sources: Envoy source/extensions/common/wasm/context.cc (C),
// proxy-wasm-cpp-host src/exports.cc (X), src/wasm.cc and
// include/proxy-wasm/wasm.h (W), src/shared_data.cc (S), and
// proxy-wasm-cpp-host PRs #427 (in Envoy 1.33) and #533 (Envoy 1.39).
//
// A Host holds what the VMs of one Envoy process share (shared data, stats,
// the clock); a VM is one worker's instance of the module.

import { WASI } from 'node:wasi';
import { Result, MapType, BufferType, StreamType, marshalPairs, unmarshalPairs, fromLatin1, text } from './abi.mjs';
import { SharedData, Stats, Clock, MetricKind } from './store.mjs';

// Log levels (proxy-wasm ABI LogLevel).
export const LogLevel = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, critical: 5 };
const levelNames = ['trace', 'debug', 'info', 'warn', 'error', 'critical'];

// WASI errno values.
const ERRNO = { SUCCESS: 0, BADF: 8, FAULT: 21, NOSYS: 52, NOTSUP: 58 };

const wasiNames = (...names) => names.map((n) => 'wasi_snapshot_preview1.' + n);

// profileFor returns what differs between Envoy releases for a standard-Go
// module: poll_oneoff's answer and the imports allowed while the host is
// inside _initialize and inside proxy_on_memory_allocate (W startVm and
// allocMemory call setRestrictedCallback; anything else traps with
// "restricted_callback").
export function profileFor(version = '1.33') {
  const m = /^v?1\.(\d+)/.exec(String(version).trim());
  if (!m) throw new Error(`envoy version ${JSON.stringify(version)}: want 1.N (e.g. 1.33)`);
  const minor = Number(m[1]);
  if (minor < 33) throw new Error(`envoy version ${version}: Envoy before 1.33 lacks WASI imports a standard-Go module needs`);
  if (minor >= 39) {
    // PR #533: poll_oneoff succeeds with zero events; every WASI call is
    // allowed in _initialize; polling and yielding during allocation.
    return {
      name: `1.${minor}`,
      pollOneoffENOSYS: false,
      initAllowed: null, // every import except the proxy_* ones other than proxy_log
      initAllowsAllWasi: true,
      allocAllowed: new Set(['env.proxy_log', ...wasiNames('fd_write', 'clock_time_get', 'poll_oneoff', 'sched_yield')]),
    };
  }
  return {
    name: `1.${minor}`,
    // PR #427 (Envoy 1.33-1.38): poll_oneoff answers ENOSYS.
    pollOneoffENOSYS: true,
    initAllowed: new Set(['env.proxy_log', ...wasiNames('fd_write', 'args_sizes_get', 'args_get', 'environ_sizes_get',
      'environ_get', 'fd_prestat_get', 'fd_prestat_dir_name', 'clock_time_get', 'random_get', 'fd_fdstat_get',
      'fd_fdstat_set_flags')]),
    initAllowsAllWasi: false,
    allocAllowed: new Set(['env.proxy_log', ...wasiNames('fd_write', 'clock_time_get')]),
  };
}

// Trap aborts the module call in progress (a host call the VM may not make).
export class Trap extends Error {}

// VMFailed is thrown by calls into a VM that trapped.
export class VMFailed extends Error {}

// Host is what Envoy's VMs share in one process.
export class Host {
  // options: profile (Envoy version, default "1.33"), clockStartNs,
  // logLevel (default "info"), onLog(level, line).
  constructor(options = {}) {
    this.profile = profileFor(options.profile ?? '1.33');
    this.sharedData = new SharedData();
    this.stats = new Stats();
    this.clock = new Clock(options.clockStartNs ?? 0n);
    this.logLevel = LogLevel[options.logLevel ?? 'info'];
    this.logs = [];
    this.onLog = options.onLog ?? ((level, line) => this.logs.push({ level: levelNames[level], line }));
    this.monotonicBase = process.hrtime.bigint();
  }

  log(level, line) {
    if (level >= this.logLevel) this.onLog(level, line);
  }

  // newVM instantiates the module for one worker (W createWasm, cloned per
  // worker thread): every import must be one the host provides (Envoy:
  // "Failed to load Wasm module due to a missing import"), a
  // proxy_abi_version_* export is required, then _initialize runs under the
  // profile's restricted list.
  async newVM(module, { vmId = '', name = 'worker 0', configuration = new Uint8Array(0) } = {}) {
    const vm = new VM(this, { vmId, name, configuration });
    await vm.instantiate(module);
    return vm;
  }
}

// VM is one instance of the module (one Envoy worker's VM).
export class VM {
  constructor(host, cfg) {
    this.host = host;
    this.cfg = cfg;
    this.failed = null;
    this.restricted = null; // Set of "module.name", or null when unrestricted
    this.nextContextId = 1; // 0 is the VM context (W next_context_id_)
    this.roots = new Map();
    this.streams = new Map();
    this.current = 0;
    this.effective = 0;
    this.metricIds = new Map(); // id -> stat
    this.nextMetric = [0, 1, 2];
  }

  async instantiate(module) {
    const wasi = new WASI({ version: 'preview1', args: [], env: {}, returnOnExit: true });
    const imports = { wasi_snapshot_preview1: this.wasiImports(wasi.getImportObject().wasi_snapshot_preview1), env: this.envImports() };
    const missing = WebAssembly.Module.imports(module)
      .filter((i) => i.kind === 'function' && typeof imports[i.module]?.[i.name] !== 'function')
      .map((i) => `${i.module}.${i.name}`);
    if (missing.length) throw new Error(`Failed to load Wasm module due to a missing import: ${[...new Set(missing)].sort().join(', ')}`);
    for (const mod of Object.keys(imports)) {
      for (const [name, fn] of Object.entries(imports[mod])) imports[mod][name] = this.guard(`${mod}.${name}`, fn);
    }
    const exportNames = WebAssembly.Module.exports(module).map((e) => e.name);
    this.abi = ['proxy_abi_version_0_2_1', 'proxy_abi_version_0_2_0', 'proxy_abi_version_0_1_0'].find((v) => exportNames.includes(v));
    if (!this.abi) throw new Error('Wasm module is missing the Proxy-Wasm ABI version (no proxy_abi_version_* export)');
    this.instance = await WebAssembly.instantiate(module, imports);
    this.exports = this.instance.exports;
    this.memory = this.exports.memory;
    // W getFunctions: proxy_on_memory_allocate, else malloc.
    this.malloc = this.exports.proxy_on_memory_allocate ?? this.exports.malloc;
    const profile = this.host.profile;
    this.restricted = profile.initAllowsAllWasi ? new Set(['env.proxy_log', ...Object.keys(imports.wasi_snapshot_preview1).map((n) => 'wasi_snapshot_preview1.' + n)]) : profile.initAllowed;
    try {
      // node:wasi runs the reactor's _initialize (the Go runtime and init
      // functions), as W startVm does.
      wasi.initialize(this.instance);
    } catch (e) {
      this.fail('_initialize', e);
      throw new Error(`${this.cfg.name}: _initialize failed: ${this.failed.message}`);
    } finally {
      this.restricted = null;
    }
  }

  // guard enforces the restricted-callback lists around every import.
  guard(fullName, fn) {
    return (...args) => {
      if (this.restricted && !this.restricted.has(fullName)) {
        this.restrictedHit = fullName;
        throw new Trap(`restricted_callback: ${fullName}`);
      }
      return fn(...args);
    };
  }

  // --- memory ---

  bytes() {
    return new Uint8Array(this.memory.buffer);
  }

  view() {
    return new DataView(this.memory.buffer);
  }

  memoryBytes() {
    return this.memory.buffer.byteLength;
  }

  // read copies size bytes at ptr; null when out of bounds.
  read(ptr, size) {
    ptr >>>= 0;
    size >>>= 0;
    const mem = this.bytes();
    if (ptr + size > mem.length) return null;
    return mem.slice(ptr, ptr + size);
  }

  putU32(ptr, v) {
    ptr >>>= 0;
    if (ptr + 4 > this.memory.buffer.byteLength) return false;
    this.view().setUint32(ptr, v >>> 0, true);
    return true;
  }

  putU64(ptr, v) {
    ptr >>>= 0;
    if (ptr + 8 > this.memory.buffer.byteLength) return false;
    this.view().setBigUint64(ptr, BigInt.asUintN(64, BigInt(v)), true);
    return true;
  }

  // allocate asks the module for size bytes under the allocation's
  // restricted list (W allocMemory). A trap there fails the VM.
  allocate(size) {
    if (!this.malloc) return 0;
    const prev = this.restricted;
    this.restricted = this.host.profile.allocAllowed;
    try {
      return this.malloc(size) >>> 0;
    } catch (e) {
      const hit = this.restrictedHit ? ` (import ${this.restrictedHit} called inside proxy_on_memory_allocate)` : '';
      this.fail('proxy_on_memory_allocate', new Error(`${e.message}${hit}`));
      throw new Trap(`proxy_on_memory_allocate failed: ${e.message}${hit}`);
    } finally {
      this.restricted = prev;
    }
  }

  // copyOut allocates room in the module, copies data there and writes its
  // address and size as 4-byte words (W copyToPointerSize). Empty data
  // writes 0/0 without allocating.
  copyOut(data, ptrPtr, sizePtr) {
    let addr = 0;
    if (data.length > 0) {
      addr = this.allocate(data.length);
      if (addr === 0 || addr + data.length > this.memory.buffer.byteLength) return Result.InvalidMemoryAccess;
      this.bytes().set(data, addr);
    }
    if (!this.putU32(ptrPtr, addr) || !this.putU32(sizePtr, data.length)) return Result.InvalidMemoryAccess;
    return Result.OK;
  }

  // --- calls into the module ---

  fail(where, err) {
    if (this.failed) return;
    this.failed = new VMFailed(`${this.cfg.name}: Function: ${where} failed: ${err?.message ?? err}`);
    this.host.log(LogLevel.critical, `[wasm] ${this.cfg.name} (vm_id ${JSON.stringify(this.cfg.vmId)}): ${this.failed.message}`);
  }

  // call invokes a proxy_on_* export for a context. A missing export is a
  // no-op ({called: false}); a trap fails the VM and throws VMFailed.
  call(contextId, name, ...args) {
    if (this.failed) throw this.failed;
    const fn = this.exports[name];
    if (!fn) return { called: false, value: 0 };
    const prev = [this.current, this.effective];
    this.current = contextId;
    this.effective = 0;
    this.restrictedHit = '';
    try {
      const value = fn(...args);
      return { called: true, value: value === undefined ? 0 : value >>> 0 };
    } catch (e) {
      this.fail(name, e);
      throw this.failed;
    } finally {
      [this.current, this.effective] = prev;
    }
  }

  // contextOf is the context host calls act for: the effective context when
  // one was set and still exists, else the current one (X
  // ContextOrEffectiveContext).
  contextOf() {
    if (this.effective !== 0 && (this.roots.has(this.effective) || this.streams.has(this.effective))) return this.effective;
    return this.current;
  }

  rootOf(id) {
    return this.roots.get(id) ?? this.streams.get(id)?.root ?? null;
  }

  // startPlugin creates a root context and starts it (ContextBase::onStart,
  // then onConfigure): proxy_on_context_create(root, 0),
  // proxy_on_vm_start(root, vm configuration size),
  // proxy_on_configure(root, plugin configuration size). False or a trap
  // refuses the plugin (Envoy rejects the configuration).
  startPlugin({ name = '', rootId = '', configuration = new Uint8Array(0) }) {
    const root = new RootContext(this, this.nextContextId++, { name, rootId, configuration });
    this.roots.set(root.id, root);
    try {
      this.call(root.id, 'proxy_on_context_create', root.id, 0);
      const start = this.call(root.id, 'proxy_on_vm_start', root.id, this.cfg.configuration.length);
      if (start.called && start.value === 0) {
        throw new Error(`${this.cfg.name}: plugin ${JSON.stringify(name)}: proxy_on_vm_start returned false (Envoy: Failed to start thread-local Wasm)`);
      }
      root.inConfigure = true;
      let configured;
      try {
        configured = this.call(root.id, 'proxy_on_configure', root.id, configuration.length);
      } finally {
        root.inConfigure = false;
      }
      if (configured.called && configured.value === 0) {
        throw new Error(`${this.cfg.name}: plugin ${JSON.stringify(name)}: proxy_on_configure returned false (Envoy: Failed to configure thread-local Wasm plugin)`);
      }
    } catch (e) {
      this.roots.delete(root.id);
      throw e;
    }
    return root;
  }

  // runTicks runs proxy_on_tick once for every tick period that elapsed on
  // each root context with one (W setTimerPeriod; Envoy's per-worker
  // timer). A trap fails the VM and stops its ticks.
  runTicks(nowNs) {
    for (const root of [...this.roots.values()]) {
      while (root.tickPeriodNs && root.nextTickNs <= nowNs && !this.failed) {
        root.nextTickNs += root.tickPeriodNs;
        try {
          this.call(root.id, 'proxy_on_tick', root.id);
        } catch {
          return;
        }
      }
    }
  }

  // --- WASI: Envoy's answers where they matter for a Go module ---

  // wasiImports is node:wasi's preview1 object with Envoy's answers for the
  // calls whose answer a Go module's behaviour depends on (X, PR #427,
  // PR #533): poll_oneoff (ENOSYS up to 1.38, zero events from 1.39),
  // fd_write (stdout/stderr to the log), fd_read (ENOSYS), fd_fdstat_get
  // (only fds 1 and 2: type unknown, rights FD_WRITE, so Go's os package
  // never finds stdout pollable), fd_fdstat_set_flags (ENOSYS) and
  // clock_time_get (realtime from the host's clock, monotonic from the
  // process's).
  wasiImports(base) {
    const w = { ...base };
    w.poll_oneoff = (inPtr, outPtr, nsubs, neventsPtr) => {
      if (this.host.profile.pollOneoffENOSYS) return ERRNO.NOSYS;
      return this.putU32(neventsPtr, 0) ? ERRNO.SUCCESS : ERRNO.FAULT;
    };
    w.fd_write = (fd, iovs, iovsLen, nwrittenPtr) => {
      let level;
      if (fd === 1) level = LogLevel.info;
      else if (fd === 2) level = LogLevel.error;
      else return ERRNO.BADF;
      const view = this.view();
      const chunks = [];
      let written = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = view.getUint32(iovs + i * 8, true);
        const n = view.getUint32(iovs + i * 8 + 4, true);
        const data = this.read(ptr, n);
        if (!data) return ERRNO.FAULT;
        chunks.push(data);
        written += n;
      }
      if (written > 0) {
        const all = Buffer.concat(chunks);
        this.moduleLog(level, text(all).replace(/\n$/, ''));
      }
      return this.putU32(nwrittenPtr, written) ? ERRNO.SUCCESS : ERRNO.FAULT;
    };
    w.fd_read = () => ERRNO.NOSYS; // "Don't support reading of any files." (X)
    w.fd_fdstat_get = (fd, out) => {
      if (fd !== 1 && fd !== 2) return ERRNO.BADF;
      const stat = new Uint8Array(24);
      stat[8] = 64; // fs_rights_base = __WASI_RIGHTS_FD_WRITE
      if (out + 24 > this.memory.buffer.byteLength) return ERRNO.FAULT;
      this.bytes().set(stat, out);
      return ERRNO.SUCCESS;
    };
    w.fd_fdstat_set_flags = () => ERRNO.NOSYS;
    w.clock_time_get = (id, _precision, out) => {
      let v;
      if (id === 0) v = this.host.clock.now();
      else if (id === 1) v = process.hrtime.bigint() - this.host.monotonicBase + 1n;
      else return ERRNO.NOTSUP;
      return this.putU64(out, v) ? ERRNO.SUCCESS : ERRNO.FAULT;
    };
    return w;
  }

  moduleLog(level, msg) {
    const root = this.rootOf(this.contextOf());
    const prefix = root ? root.logPrefix() : this.cfg.vmId ? ' ' + this.cfg.vmId : '';
    this.host.log(level, `[wasm] wasm log${prefix}: ${msg}`);
  }

  // --- env: the proxy_* host calls ---

  envImports() {
    const R = Result;
    return {
      proxy_log: (level, ptr, size) => {
        if (level > LogLevel.critical + 1) return R.BadArgument;
        const msg = this.read(ptr, size);
        if (!msg) return R.InvalidMemoryAccess;
        this.moduleLog(Math.min(level, LogLevel.critical), text(msg));
        return R.OK;
      },
      proxy_get_log_level: (out) => (this.putU32(out, this.host.logLevel) ? R.OK : R.InvalidMemoryAccess),
      proxy_get_current_time_nanoseconds: (out) => (this.putU64(out, this.host.clock.now()) ? R.OK : R.InvalidMemoryAccess),
      proxy_set_tick_period_milliseconds: (ms) => {
        const root = this.rootOf(this.contextOf());
        if (!root) return R.BadArgument;
        root.tickPeriodNs = BigInt(ms >>> 0) * 1000000n;
        root.nextTickNs = this.host.clock.now() + root.tickPeriodNs;
        return R.OK;
      },
      proxy_get_property: (pathPtr, pathSize, outPtr, outSize) => {
        const raw = this.read(pathPtr, pathSize);
        if (!raw) return R.InvalidMemoryAccess;
        const { result, value } = this.property(raw);
        if (result !== R.OK) return result;
        return this.copyOut(value, outPtr, outSize);
      },
      proxy_send_local_response: (status, detailsPtr, detailsSize, bodyPtr, bodySize, headersPtr, headersSize, _grpcStatus) => {
        const details = this.read(detailsPtr, detailsSize);
        const body = this.read(bodyPtr, bodySize);
        const headers = this.read(headersPtr, headersSize);
        if (!details || !body || !headers) return R.InvalidMemoryAccess;
        const st = this.streams.get(this.contextOf());
        // Only an HTTP context has decoder callbacks; Envoy does nothing.
        if (!st) return R.OK;
        st.sendLocalResponse({
          status: status >>> 0,
          body,
          headers: unmarshalPairs(headers).map(([k, v]) => [k.toLowerCase(), v]),
          // Envoy replaces whitespace in details with "_" (C sendLocalResponse).
          details: fromLatin1(details).replace(/[ \t\n\r\f\v]/g, '_'),
        });
        return R.OK;
      },
      proxy_get_shared_data: (keyPtr, keySize, valuePtrPtr, valueSizePtr, casPtr) => {
        const key = this.read(keyPtr, keySize);
        if (!key) return R.InvalidMemoryAccess;
        const got = this.host.sharedData.get(this.cfg.vmId, fromLatin1(key));
        if (got.result !== R.OK) return got.result;
        const r = this.copyOut(got.value, valuePtrPtr, valueSizePtr);
        if (r !== R.OK) return r;
        return this.putU32(casPtr, got.cas) ? R.OK : R.InvalidMemoryAccess;
      },
      proxy_set_shared_data: (keyPtr, keySize, valuePtr, valueSize, cas) => {
        const key = this.read(keyPtr, keySize);
        const value = this.read(valuePtr, valueSize);
        if (!key || !value) return R.InvalidMemoryAccess;
        return this.host.sharedData.set(this.cfg.vmId, fromLatin1(key), value, cas >>> 0);
      },
      proxy_get_header_map_value: (type, keyPtr, keySize, outPtr, outSize) => {
        if (type > MapType.Max) return R.BadArgument;
        const key = this.read(keyPtr, keySize);
        if (!key) return R.InvalidMemoryAccess;
        const map = this.headerMap(type, false);
        if (!map) {
          // NotFound in the access-log phase, else BadArgument (C getHeaderMapValue).
          return this.streams.get(this.contextOf())?.logPhase ? R.NotFound : R.BadArgument;
        }
        const v = map.get(fromLatin1(key));
        if (v === undefined) return R.NotFound;
        return this.copyOut(Buffer.from(v, 'latin1'), outPtr, outSize);
      },
      proxy_add_header_map_value: (type, kp, ks, vp, vs) => this.mutateHeader(type, kp, ks, vp, vs, (m, k, v) => m.add(k, v)),
      proxy_replace_header_map_value: (type, kp, ks, vp, vs) => this.mutateHeader(type, kp, ks, vp, vs, (m, k, v) => m.set(k, v)),
      proxy_remove_header_map_value: (type, kp, ks) => this.mutateHeader(type, kp, ks, 0, 0, (m, k) => m.remove(k)),
      proxy_get_header_map_pairs: (type, outPtr, outSize) => {
        if (type > MapType.Max) return R.BadArgument;
        // An absent map gives an empty list (C headerMapToPairs(nullptr)).
        const map = this.headerMap(type, false);
        return this.copyOut(marshalPairs(map ? map.pairs() : []), outPtr, outSize);
      },
      proxy_set_header_map_pairs: (type, ptr, size) => {
        if (type > MapType.Max) return R.BadArgument;
        const data = this.read(ptr, size);
        if (!data) return R.InvalidMemoryAccess;
        const map = this.headerMap(type, true);
        if (!map) return R.BadArgument;
        map.replace(unmarshalPairs(data));
        return R.OK;
      },
      proxy_get_header_map_size: (type, out) => {
        if (type > MapType.Max) return R.BadArgument;
        const map = this.headerMap(type, true);
        if (!map) return R.BadArgument;
        return this.putU32(out, map.byteSize()) ? R.OK : R.InvalidMemoryAccess;
      },
      proxy_get_buffer_bytes: (type, start, length, outPtr, outSize) => {
        if (type > BufferType.Max) return R.BadArgument;
        const buf = this.buffer(type);
        if (!buf) return R.NotFound;
        const data = buf.bytes();
        start >>>= 0;
        length >>>= 0;
        // The C++ host's length arithmetic wraps and the copy fails.
        if (start > data.length) return R.InvalidMemoryAccess;
        if (start + length > data.length) length = data.length - start;
        // X get_buffer_bytes: nothing is written for length 0.
        if (length === 0) return R.OK;
        return this.copyOut(data.subarray(start, start + length), outPtr, outSize);
      },
      proxy_get_buffer_status: (type, lengthPtr, flagsPtr) => {
        if (type > BufferType.Max) return R.BadArgument;
        const buf = this.buffer(type);
        if (!buf) return R.NotFound;
        return this.putU32(lengthPtr, buf.length) && this.putU32(flagsPtr, 0) ? R.OK : R.InvalidMemoryAccess;
      },
      proxy_continue_stream: (type) => {
        const st = this.streams.get(this.contextOf());
        switch (type) {
          case StreamType.Request:
          case StreamType.Response:
            st?.continueStream(type === StreamType.Request);
            return R.OK;
          case StreamType.Downstream:
            return R.OK;
          case StreamType.Upstream:
            return R.Unimplemented;
        }
        return R.BadArgument;
      },
      proxy_set_effective_context: (id) => {
        // X set_effective_context: an unknown id is BadArgument.
        id >>>= 0;
        if (!this.roots.has(id) && !this.streams.has(id)) return R.BadArgument;
        this.effective = id;
        return R.OK;
      },
      proxy_define_metric: (kind, namePtr, nameSize, idPtr) => {
        if (kind > MetricKind.Histogram) return R.BadArgument;
        const name = this.read(namePtr, nameSize);
        if (!name) return R.InvalidMemoryAccess;
        let stat;
        try {
          stat = this.host.stats.define(fromLatin1(name), kind);
        } catch (e) {
          this.host.log(LogLevel.warn, `[wasm] ${this.cfg.name}: define metric: ${e.message}`);
          return R.BadArgument;
        }
        // Ids carry the type in the low two bits and grow by 4 (Envoy
        // wasm.h kMetricTypeMask, kMetricIdIncrement).
        this.nextMetric[kind] += 4;
        const id = this.nextMetric[kind];
        this.metricIds.set(id, stat);
        return this.putU32(idPtr, id) ? R.OK : R.InvalidMemoryAccess;
      },
      proxy_increment_metric: (id, offset) => {
        // Counters take only positive offsets, gauges any, histograms none
        // (C incrementMetric).
        const stat = this.metricIds.get(id >>> 0);
        const kind = (id >>> 0) & 3;
        if (kind === MetricKind.Counter) {
          if (!stat) return R.NotFound;
          if (offset <= 0n) return R.BadArgument;
        } else if (kind === MetricKind.Gauge) {
          if (!stat) return R.NotFound;
        } else return R.BadArgument;
        stat.value = BigInt.asUintN(64, stat.value + offset);
        return R.OK;
      },
      proxy_record_metric: (id, value) => {
        // Only histograms take samples (C recordMetric); the V8 host keeps
        // their sample count, which no scenario compares.
        if (((id >>> 0) & 3) !== MetricKind.Histogram) return R.BadArgument;
        const stat = this.metricIds.get(id >>> 0);
        if (!stat) return R.NotFound;
        stat.value += 1n;
        return R.OK;
      },
      proxy_http_call: () => {
        // The V8 host has no clusters: Envoy answers a call to a cluster it
        // does not know with BadArgument (C httpCall), and the filter then
        // decides on its redis.failureMode. No scenario configures redis.
        return R.BadArgument;
      },
      proxy_get_metric: (id, out) => {
        if (((id >>> 0) & 3) === MetricKind.Histogram) return R.BadArgument;
        const stat = this.metricIds.get(id >>> 0);
        if (!stat) return R.NotFound;
        return this.putU64(out, stat.value) ? R.OK : R.InvalidMemoryAccess;
      },
    };
  }

  mutateHeader(type, keyPtr, keySize, valuePtr, valueSize, apply) {
    if (type > MapType.Max) return Result.BadArgument;
    const key = this.read(keyPtr, keySize);
    const value = this.read(valuePtr, valueSize);
    if (!key || !value) return Result.InvalidMemoryAccess;
    const map = this.headerMap(type, true);
    if (!map) return Result.BadArgument;
    apply(map, fromLatin1(key).toLowerCase(), fromLatin1(value));
    return Result.OK;
  }

  // headerMap is the map a host call addresses, or null when Envoy would
  // not expose it now (C getMap / getConstMap).
  headerMap(type, mutable) {
    const st = this.streams.get(this.contextOf());
    if (!st) return null;
    return st.headerMap(type, mutable);
  }

  // buffer is the buffer a host call addresses: the VM configuration, the
  // plugin configuration (only inside proxy_on_configure), or a body.
  buffer(type) {
    const id = this.contextOf();
    switch (type) {
      case BufferType.VmConfiguration:
        return { bytes: () => this.cfg.configuration, length: this.cfg.configuration.length };
      case BufferType.PluginConfiguration: {
        const root = this.rootOf(id);
        if (!root || !root.inConfigure) return null;
        const c = root.plugin.configuration;
        return { bytes: () => c, length: c.length };
      }
      case BufferType.RequestBody:
      case BufferType.ResponseBody:
        return this.streams.get(id)?.bodyBuffer(type === BufferType.RequestBody) ?? null;
    }
    return null;
  }

  // property resolves the Envoy attributes the filter reads (C getProperty,
  // serializeValue: strings raw, integers 8-byte little-endian).
  property(raw) {
    const path = fromLatin1(raw).replace(/\0$/, '').split('\0');
    const id = this.contextOf();
    const st = this.streams.get(id);
    const root = this.rootOf(id);
    const dotted = path.join('.');
    const str = (s) => ({ result: Result.OK, value: Buffer.from(s, 'latin1') });
    const int64 = (n) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64LE(BigInt(n));
      return { result: Result.OK, value: b };
    };
    const notFound = { result: Result.NotFound };
    if (st?.props.extra && Object.hasOwn(st.props.extra, dotted)) return str(st.props.extra[dotted]);
    switch (path.length === 1 ? path[0] : '') {
      case 'plugin_name':
        return root ? str(root.plugin.name) : notFound;
      case 'plugin_root_id':
        return root ? str(root.plugin.rootId) : notFound;
      case 'plugin_vm_id':
        return root ? str(this.cfg.vmId) : notFound;
    }
    if (!st || path.length !== 2) return notFound;
    switch (dotted) {
      case 'source.address':
        return st.props.remoteAddress ? str(st.props.remoteAddress) : notFound;
      case 'source.port':
        return st.props.remoteAddress ? int64(st.props.remoteAddress.split(':').pop()) : notFound;
      case 'destination.address':
        return st.props.localAddress ? str(st.props.localAddress) : notFound;
      case 'destination.port':
        return st.props.localAddress ? int64(st.props.localAddress.split(':').pop()) : notFound;
      case 'connection.mtls':
        return { result: Result.OK, value: Uint8Array.of(0) };
      case 'request.path':
      case 'request.method':
      case 'request.host':
      case 'request.scheme': {
        const header = { path: ':path', method: ':method', host: ':authority', scheme: ':scheme' }[path[1]];
        const v = st.origRequestHeaders?.get(header);
        return v === undefined ? notFound : str(v);
      }
    }
    // TLS attributes (connection.uri_san_peer_certificate, ...) are absent
    // on a plaintext connection.
    return notFound;
  }
}

// RootContext is a plugin's root context in one VM.
export class RootContext {
  constructor(vm, id, plugin) {
    this.vm = vm;
    this.id = id;
    this.plugin = plugin;
    this.inConfigure = false;
    this.tickPeriodNs = 0n;
    this.nextTickNs = 0n;
  }

  // logPrefix is Envoy's PluginBase::makeLogPrefix: " name root_id vm_id".
  logPrefix() {
    return [this.plugin.name, this.plugin.rootId, this.vm.cfg.vmId].filter((s) => s !== '').map((s) => ' ' + s).join('');
  }

  // shutdown is W startShutdown: proxy_on_done, then proxy_on_delete when
  // it returned true.
  shutdown() {
    const done = this.vm.call(this.id, 'proxy_on_done', this.id);
    if (!done.called || done.value !== 0) {
      this.vm.call(this.id, 'proxy_on_delete', this.id);
      this.vm.roots.delete(this.id);
    }
  }
}
