// Process-wide state the VMs of one host share, with Envoy's semantics:
// shared data (proxy-wasm-cpp-host src/shared_data.cc), the stats store
// (Envoy source/extensions/common/wasm/context.cc defineMetric and
// incrementMetric) and the clock every VM reads.

import { Result } from './abi.mjs';

// SharedData is one key space per vm_id and one global CAS counter.
//   - every successful set takes the next counter value (from 1, skipping 0
//     when it wraps);
//   - cas 0 never checks; a set on a missing key succeeds whatever cas it
//     carries (there is no atomic create-if-absent);
//   - get of a missing key is NotFound; there is no deletion.
export class SharedData {
  constructor() {
    this.nextCas = 1;
    this.spaces = new Map(); // vm_id -> Map(key -> {value: Uint8Array, cas})
  }

  get(vmId, key) {
    const entry = this.spaces.get(vmId)?.get(key);
    if (!entry) return { result: Result.NotFound };
    return { result: Result.OK, value: entry.value.slice(), cas: entry.cas };
  }

  set(vmId, key, value, cas) {
    let space = this.spaces.get(vmId);
    if (!space) {
      space = new Map();
      this.spaces.set(vmId, space);
    }
    const entry = space.get(key);
    if (entry && cas !== 0 && cas !== entry.cas) return Result.CasMismatch;
    space.set(key, { value: value.slice(), cas: this.takeCas() });
    return Result.OK;
  }

  takeCas() {
    const cas = this.nextCas;
    this.nextCas = (this.nextCas + 1) >>> 0;
    if (this.nextCas === 0) this.nextCas = 1;
    return cas;
  }

  keys(vmId) {
    return this.spaces.get(vmId)?.size ?? 0;
  }
}

// Metric kinds (proxy-wasm ABI MetricType).
export const MetricKind = { Counter: 0, Gauge: 1, Histogram: 2 };

// Stats holds the metrics every VM defines: one stat per name for the
// whole process, so the counts of all workers add up.
export class Stats {
  constructor() {
    this.byName = new Map(); // name -> {kind, value: bigint}
  }

  // define returns the stat of that name, creating it; a name already
  // defined with another kind is refused.
  define(name, kind) {
    let stat = this.byName.get(name);
    if (stat) {
      if (stat.kind !== kind) throw new Error(`metric ${name} is already a ${stat.kind}, not a ${kind}`);
      return stat;
    }
    stat = { kind, value: 0n };
    this.byName.set(name, stat);
    return stat;
  }

  // snapshot returns every counter and gauge by name (sorted), as numbers.
  snapshot() {
    const out = {};
    for (const name of [...this.byName.keys()].sort()) {
      const stat = this.byName.get(name);
      if (stat.kind !== MetricKind.Histogram) out[name] = Number(stat.value);
    }
    return out;
  }
}

// Clock is the wall clock the VMs read (WASI clock_time_get realtime and
// proxy_get_current_time_nanoseconds), in nanoseconds since the epoch. It
// only moves when advance is called, so waits are deterministic.
export class Clock {
  constructor(startNs) {
    this.ns = BigInt(startNs);
  }

  now() {
    return this.ns;
  }

  advance(ms) {
    this.ns += BigInt(ms) * 1000000n;
  }
}
