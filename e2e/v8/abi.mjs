// Constants and data formats of the proxy-wasm ABI 0.2.0
// (proxy-wasm/spec abi-versions/v0.2.0, proxy-wasm-cpp-host
// include/proxy-wasm/exports.h): result codes, map and buffer types, the
// pairs serialisation of header maps, and Envoy's header map.

// WasmResult codes.
export const Result = {
  OK: 0,
  NotFound: 1,
  BadArgument: 2,
  SerializationFailed: 3,
  ParseFailure: 4,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  InternalFailure: 10,
  BrokenConnection: 11,
  Unimplemented: 12,
};

// WasmHeaderMapType.
export const MapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  GrpcInitialMetadata: 4,
  GrpcTrailingMetadata: 5,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
  Max: 7,
};

// WasmBufferType: 6 is the VM configuration, 7 the plugin configuration.
export const BufferType = {
  RequestBody: 0,
  ResponseBody: 1,
  DownstreamData: 2,
  UpstreamData: 3,
  HttpCallResponseBody: 4,
  GrpcReceiveBuffer: 5,
  VmConfiguration: 6,
  PluginConfiguration: 7,
  CallData: 8,
  Max: 8,
};

// WasmStreamType.
export const StreamType = { Request: 0, Response: 1, Downstream: 2, Upstream: 3 };

// Filter statuses of Envoy's filter manager (envoy/http/filter.h), which
// the module's answers are converted to (proxy-wasm-cpp-host
// convertVmCallResultTo*Status: anything unknown stops).
export const HeadersStatus = { Continue: 0, StopIteration: 1, ContinueAndEndStream: 2, StopAllIterationAndBuffer: 3, StopAllIterationAndWatermark: 4 };
export const DataStatus = { Continue: 0, StopIterationAndBuffer: 1, StopIterationAndWatermark: 2, StopIterationNoBuffer: 3 };
export const TrailersStatus = { Continue: 0, StopIteration: 1 };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

export const utf8 = (s) => encoder.encode(s);
// latin1 keeps every byte of header names and values as one char, so
// they travel through JS strings unchanged.
export const fromLatin1 = (b) => {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
  return s;
};
export const toLatin1 = (s) => {
  const b = new Uint8Array(s.length);
  writeLatin1(b, 0, s);
  return b;
};
// writeLatin1 writes s's latin1 bytes into b from off and returns the
// offset after them.
const writeLatin1 = (b, off, s) => {
  for (let i = 0; i < s.length; i++) b[off++] = s.charCodeAt(i) & 0xff;
  return off;
};
export const text = (b) => decoder.decode(b);

// marshalPairs is exports.h marshalPairs: u32 count, then per pair u32 key
// size and u32 value size, then per pair key bytes, NUL, value bytes, NUL.
// No pairs give no bytes.
export function marshalPairs(pairs) {
  if (pairs.length === 0) return new Uint8Array(0);
  // Names and values are latin1 (one byte per char): their lengths are
  // their sizes. Written straight into one array, with no array per pair
  // or per string: a module that reads the header map of every request
  // would otherwise be timed mostly in this function (e2e/v8/bench.mjs).
  let size = 4;
  for (const [k, v] of pairs) size += 8 + k.length + 1 + v.length + 1;
  const out = new Uint8Array(size);
  const u32 = (off, n) => {
    out[off] = n & 0xff;
    out[off + 1] = (n >>> 8) & 0xff;
    out[off + 2] = (n >>> 16) & 0xff;
    out[off + 3] = n >>> 24;
  };
  u32(0, pairs.length);
  let off = 4;
  for (const [k, v] of pairs) {
    u32(off, k.length);
    u32(off + 4, v.length);
    off += 8;
  }
  for (const [k, v] of pairs) {
    off = writeLatin1(out, off, k) + 1; // then NUL
    off = writeLatin1(out, off, v) + 1;
  }
  return out;
}

// unmarshalPairs is exports.cc toPairs; malformed input gives no pairs.
export function unmarshalPairs(b) {
  if (b.length < 4) return [];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = view.getUint32(0, true);
  if (4 + n * 8 > b.length) return [];
  const sizes = [];
  let off = 4;
  for (let i = 0; i < n; i++) {
    sizes.push([view.getUint32(off, true), view.getUint32(off + 4, true)]);
    off += 8;
  }
  const out = [];
  for (const [ks, vs] of sizes) {
    if (off + ks + 1 + vs + 1 > b.length) return [];
    const k = fromLatin1(b.subarray(off, off + ks));
    off += ks + 1;
    const v = fromLatin1(b.subarray(off, off + vs));
    off += vs + 1;
    out.push([k, v]);
  }
  return out;
}

// HeaderMap is an ordered list of entries with lower-case names, as
// Envoy's header maps are.
export class HeaderMap {
  constructor(pairs = []) {
    this.entries = [];
    for (const [k, v] of pairs) this.add(k, v);
  }

  get size() {
    return this.entries.length;
  }

  // get returns the first value (Envoy getHeaderMapValue: entry[0]).
  get(name) {
    name = name.toLowerCase();
    const e = this.entries.find(([k]) => k === name);
    return e ? e[1] : undefined;
  }

  add(name, value) {
    this.entries.push([name.toLowerCase(), value]);
  }

  // set replaces the first entry's value, or adds one (HeaderMap::setCopy).
  set(name, value) {
    name = name.toLowerCase();
    const e = this.entries.find(([k]) => k === name);
    if (e) e[1] = value;
    else this.entries.push([name, value]);
  }

  remove(name) {
    name = name.toLowerCase();
    this.entries = this.entries.filter(([k]) => k !== name);
  }

  replace(pairs) {
    this.entries = [];
    for (const [k, v] of pairs) this.add(k, v);
  }

  pairs() {
    return this.entries.map(([k, v]) => [k, v]);
  }

  // byteSize is the sum of names' and values' lengths (HeaderMap::byteSize).
  byteSize() {
    return this.entries.reduce((n, [k, v]) => n + k.length + v.length, 0);
  }
}

// Body is a body buffer kept as chunks; bytes() joins them once.
export class Body {
  constructor(chunk) {
    this.chunks = [];
    this.length = 0;
    this.joined = null;
    if (chunk && chunk.length) this.append(chunk);
  }

  append(chunk) {
    if (!chunk.length) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
    this.joined = null;
  }

  // move appends other's content and empties other.
  move(other) {
    for (const c of other.chunks) this.append(c);
    other.chunks = [];
    other.length = 0;
    other.joined = null;
  }

  bytes() {
    if (this.joined) return this.joined;
    if (this.chunks.length === 1) return (this.joined = this.chunks[0]);
    const out = new Uint8Array(this.length);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    this.chunks = out.length ? [out] : [];
    return (this.joined = out);
  }

  set(bytes) {
    this.chunks = bytes.length ? [bytes.slice()] : [];
    this.length = bytes.length;
    this.joined = null;
  }
}
