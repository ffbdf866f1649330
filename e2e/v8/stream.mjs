// One HTTP stream through one Wasm filter, with Envoy's semantics: the
// HTTP context's callbacks (Envoy source/extensions/common/wasm/context.cc
// decodeHeaders, decodeData, decodeTrailers, encodeHeaders, encodeData,
// log, onDestroy) and the part of Envoy's filter manager
// (source/common/http/filter_manager.cc) a single filter in front of the
// router meets: held headers, buffered data with the per-stream buffer
// limit (413), continue, and local replies encoded back through the filter.

import { Body, DataStatus, HeaderMap, HeadersStatus, MapType, TrailersStatus } from './abi.mjs';

// Default per-stream buffer limit (Envoy per_connection_buffer_limit_bytes).
export const DEFAULT_BUFFER_LIMIT = 1 << 20;

// Response code details Envoy uses for the replies of this file.
const DETAILS_PAYLOAD_TOO_LARGE = 'request_payload_too_large';
const DETAILS_WASM_FAIL = 'wasm_fail_stream';

// Stream is an HTTP context of a root context plus its filter manager.
// The upstream is a function (requestHeaders, body) => {headers, body}
// called once the whole request went through the filter.
export class Stream {
  constructor(root, props, { bufferLimit = DEFAULT_BUFFER_LIMIT, upstream } = {}) {
    this.vm = root.vm;
    this.root = root;
    this.id = this.vm.nextContextId++;
    this.props = props;
    this.bufferLimit = bufferLimit;
    this.upstreamFn = upstream;
    this.vm.streams.set(this.id, this);

    this.created = false;
    this.reqHeaders = this.reqTrailers = this.respHeaders = this.respTrailers = null;
    this.reqBody = this.respBody = null; // current chunk
    this.bufferingReq = false;
    this.origRequestHeaders = null;
    this.logPhase = false;
    this.logInfo = null;
    this.stopNext = false;
    this.pendingReply = null;
    this.pendingContinue = false;
    this.failureReplySent = false;

    // Filter manager state of the one filter.
    this.fs = { stopped: false, stopAll: false, headersPending: null, headersEnd: false, endSeen: false, trailers: null, buffered: null };
    this.localReplied = false;
    this.requestDone = false;
    this.upstream = null; // {headers, body: Body, trailers, done}
    this.response = null; // {headers: HeaderMap, body: Body}
    this.details = '';
  }

  // --- what the module reaches through host calls ---

  headerMap(type, mutable) {
    if (this.logPhase && !mutable && this.logInfo) {
      if (type === MapType.RequestHeaders) return this.logInfo.requestHeaders;
      if (type === MapType.ResponseHeaders) return this.logInfo.responseHeaders;
      return null;
    }
    switch (type) {
      case MapType.RequestHeaders:
        return this.reqHeaders;
      case MapType.RequestTrailers:
        return this.reqTrailers;
      case MapType.ResponseHeaders:
        return this.respHeaders;
      case MapType.ResponseTrailers:
        return this.respTrailers;
    }
    return null;
  }

  // bodyBuffer: the filter's buffered data while buffering, else the
  // current chunk (C getBuffer).
  bodyBuffer(request) {
    if (request) {
      if (this.bufferingReq && this.fs.buffered) return this.fs.buffered;
      return this.reqBody;
    }
    return this.respBody;
  }

  // proxy_send_local_response: sent after the VM call returns; the
  // filter's status then becomes a stop (cpp-host stopNextIteration).
  sendLocalResponse(reply) {
    this.stopNext = true;
    this.details = reply.details;
    if (!this.pendingReply) this.pendingReply = reply;
  }

  // proxy_continue_stream: continueDecoding after the VM call; the request
  // maps and body stop being reachable (C continueStream).
  continueStream(request) {
    if (request) this.pendingContinue = true;
    this.reqHeaders = this.reqBody = this.reqTrailers = null;
  }

  // --- the HTTP context's callbacks ---

  callVM(name, ...args) {
    try {
      return this.vm.call(this.id, name, ...args).value;
    } catch {
      return 0; // the VM failed: checkFailed answers
    }
  }

  // checkFailed is cpp-host CHECK_FAIL_HTTP under FAIL_CLOSED: a failed VM
  // answers 503 once.
  checkFailed() {
    if (!this.vm.failed) return false;
    if (!this.failureReplySent) {
      this.failureReplySent = true;
      this.pendingReply = { status: 503, body: new Uint8Array(0), headers: [], details: DETAILS_WASM_FAIL };
    }
    return true;
  }

  onCreate() {
    if (this.created) return;
    this.created = true;
    this.callVM('proxy_on_context_create', this.id, this.root.id);
  }

  // after applies what the module asked for during a call: a local reply
  // first, then a continue. It reports whether iteration stopped.
  after() {
    if (this.pendingReply) {
      const reply = this.pendingReply;
      this.pendingReply = null;
      this.sendLocalReply(reply);
      return true;
    }
    if (this.pendingContinue) {
      this.pendingContinue = false;
      this.continueDecoding();
    }
    return this.localReplied;
  }

  decodeHeadersVM(h, end) {
    this.origRequestHeaders = h;
    if (this.checkFailed()) return HeadersStatus.StopAllIterationAndWatermark;
    this.onCreate();
    this.reqHeaders = h;
    this.stopNext = false;
    const res = this.callVM('proxy_on_request_headers', this.id, h.size, end ? 1 : 0);
    if (this.checkFailed()) return HeadersStatus.StopAllIterationAndWatermark;
    const status = this.stopNext || res > HeadersStatus.StopAllIterationAndWatermark ? HeadersStatus.StopAllIterationAndWatermark : res;
    this.stopNext = false;
    if (status === HeadersStatus.Continue) this.reqHeaders = null;
    return status;
  }

  decodeDataVM(chunk, end) {
    if (!this.created) return DataStatus.Continue;
    if (this.checkFailed()) return DataStatus.StopIterationNoBuffer;
    if (this.bufferingReq) {
      // While the module buffers, the chunk joins the filter's buffered
      // data first and the module sees the whole of it (C decodeData).
      if (!this.bufferData(chunk)) return DataStatus.StopIterationAndBuffer;
    }
    this.reqBody = chunk;
    const size = this.bodyBuffer(true)?.length ?? 0;
    this.stopNext = false;
    const res = this.callVM('proxy_on_request_body', this.id, size, end ? 1 : 0);
    if (this.checkFailed()) return DataStatus.StopIterationNoBuffer;
    const status = this.stopNext || res > DataStatus.StopIterationNoBuffer ? DataStatus.StopIterationNoBuffer : res;
    this.stopNext = false;
    this.bufferingReq = status === DataStatus.StopIterationAndBuffer;
    if (status === DataStatus.Continue) this.reqBody = null;
    return status;
  }

  decodeTrailersVM(t) {
    if (!this.created) return TrailersStatus.Continue;
    if (this.checkFailed()) return TrailersStatus.StopIteration;
    this.reqTrailers = t;
    this.stopNext = false;
    const res = this.callVM('proxy_on_request_trailers', this.id, t.size);
    if (this.checkFailed()) return TrailersStatus.StopIteration;
    const status = this.stopNext || res > TrailersStatus.Continue ? TrailersStatus.StopIteration : TrailersStatus.Continue;
    this.stopNext = false;
    if (status === TrailersStatus.Continue) this.reqTrailers = null;
    return status;
  }

  encodeHeadersVM(h, end) {
    if (!this.created || this.failureReplySent) return HeadersStatus.Continue;
    if (this.checkFailed()) return HeadersStatus.StopAllIterationAndWatermark;
    this.respHeaders = h;
    this.stopNext = false;
    const res = this.callVM('proxy_on_response_headers', this.id, h.size, end ? 1 : 0);
    const status = this.stopNext || res > HeadersStatus.StopAllIterationAndWatermark ? HeadersStatus.StopAllIterationAndWatermark : res;
    this.stopNext = false;
    if (status === HeadersStatus.Continue) this.respHeaders = null;
    return status;
  }

  encodeDataVM(chunk, end) {
    if (!this.created || this.failureReplySent) return DataStatus.Continue;
    if (this.checkFailed()) return DataStatus.StopIterationNoBuffer;
    this.respBody = chunk;
    this.stopNext = false;
    const res = this.callVM('proxy_on_response_body', this.id, chunk.length, end ? 1 : 0);
    const status = this.stopNext || res > DataStatus.StopIterationNoBuffer ? DataStatus.StopIterationNoBuffer : res;
    this.stopNext = false;
    if (status === DataStatus.Continue) this.respBody = null;
    return status;
  }

  // finish is Envoy's end of stream: proxy_on_log with the headers
  // readable (access-log phase), then proxy_on_done and proxy_on_delete.
  finish() {
    if (!this.vm.failed) {
      this.onCreate();
      this.logPhase = true;
      this.logInfo = { requestHeaders: this.origRequestHeaders, responseHeaders: this.response?.headers ?? null };
      this.callVM('proxy_on_log', this.id);
      this.logPhase = false;
      this.logInfo = null;
      if (this.created) {
        this.callVM('proxy_on_done', this.id);
        this.callVM('proxy_on_delete', this.id);
      }
    }
    this.vm.streams.delete(this.id);
  }

  // --- the filter manager ---

  // bufferData adds a chunk to the filter's buffered data; over the limit
  // it answers 413 (FM requestDataTooLarge) and returns false.
  bufferData(chunk) {
    if (!this.fs.buffered) this.fs.buffered = new Body();
    this.fs.buffered.move(chunk);
    if (this.fs.buffered.length > this.bufferLimit) {
      if (!this.pendingReply) this.pendingReply = { status: 413, body: Buffer.from('Payload Too Large'), headers: [], details: DETAILS_PAYLOAD_TOO_LARGE };
      return false;
    }
    return true;
  }

  requestHeaders(h, end) {
    if (end) this.requestDone = true;
    const status = this.decodeHeadersVM(h, end);
    if (this.after()) return;
    switch (status) {
      case HeadersStatus.Continue:
        this.toUpstreamHeaders(h, end);
        return;
      case HeadersStatus.ContinueAndEndStream:
        this.toUpstreamHeaders(h, true);
        return;
      case HeadersStatus.StopAllIterationAndBuffer:
      case HeadersStatus.StopAllIterationAndWatermark:
        Object.assign(this.fs, { stopped: true, stopAll: true, headersPending: h, headersEnd: end, endSeen: end });
        return;
      default:
        Object.assign(this.fs, { stopped: true, stopAll: false, headersPending: h, headersEnd: end, endSeen: end });
    }
  }

  requestData(bytes, end) {
    if (end) this.requestDone = true;
    if (this.localReplied) return;
    const chunk = new Body(bytes);
    const fs = this.fs;
    if (fs.stopped && fs.stopAll) {
      if (end) fs.endSeen = true;
      this.bufferData(chunk);
      this.after();
      return;
    }
    const status = this.decodeDataVM(chunk, end);
    if (this.after()) return;
    if (end) fs.endSeen = true;
    switch (status) {
      case DataStatus.Continue:
        if (fs.stopped) {
          if (!this.bufferData(chunk)) {
            this.after();
            return;
          }
          this.continueDecoding();
          return;
        }
        break;
      case DataStatus.StopIterationNoBuffer:
        fs.stopped = true;
        return;
      default:
        fs.stopped = true;
        this.bufferData(chunk);
        this.after();
        return;
    }
    this.toUpstreamData(chunk, end);
  }

  requestTrailers(t) {
    this.requestDone = true;
    if (this.localReplied) return;
    const fs = this.fs;
    fs.endSeen = true;
    if (fs.stopped && fs.stopAll) {
      fs.trailers = t;
      return;
    }
    const status = this.decodeTrailersVM(t);
    if (this.after()) return;
    if (status !== TrailersStatus.Continue) {
      fs.stopped = true;
      fs.trailers = t;
      return;
    }
    if (fs.stopped) {
      fs.trailers = t;
      this.continueDecoding();
      return;
    }
    this.toUpstreamTrailers(t);
  }

  // continueDecoding releases held headers, then the buffered body, then
  // trailers (FM commonContinue).
  continueDecoding() {
    const fs = this.fs;
    if (!fs.stopped || this.localReplied) return;
    this.fs = { stopped: false, stopAll: false, headersPending: null, headersEnd: false, endSeen: false, trailers: null, buffered: null };
    this.bufferingReq = false;
    const hasBody = (fs.buffered?.length ?? 0) > 0;
    const trailers = fs.trailers;
    if (fs.headersPending) {
      const endWithHeaders = fs.headersEnd || (fs.endSeen && !hasBody && !trailers);
      this.toUpstreamHeaders(fs.headersPending, endWithHeaders);
      if (endWithHeaders) return;
    }
    if (hasBody || (fs.endSeen && !trailers && !fs.headersEnd)) {
      this.toUpstreamData(fs.buffered ?? new Body(), fs.endSeen && !trailers);
    }
    if (trailers) this.toUpstreamTrailers(trailers);
  }

  toUpstreamHeaders(h, end) {
    this.upstream = { headers: h, body: new Body(), trailers: null, done: false };
    if (end) this.upstreamDone();
  }

  toUpstreamData(body, end) {
    if (!this.upstream) return;
    this.upstream.body.move(body);
    if (end) this.upstreamDone();
  }

  toUpstreamTrailers(t) {
    if (!this.upstream) return;
    this.upstream.trailers = t;
    this.upstreamDone();
  }

  // upstreamDone: the router has the whole request; the upstream answers
  // and the answer is encoded through the filter.
  upstreamDone() {
    if (this.upstream.done) return;
    this.upstream.done = true;
    const answer = this.upstreamFn(this.upstream.headers, this.upstream.body.bytes());
    const h = new HeaderMap(answer.headers);
    const body = answer.body;
    this.encodeHeadersVM(h, body.length === 0);
    this.after();
    this.response = { headers: h, body: new Body() };
    if (body.length) {
      const chunk = new Body(body);
      this.encodeDataVM(chunk, true);
      this.after();
      this.response.body.move(chunk);
    }
  }

  // sendLocalReply answers the stream: :status, the reply's headers,
  // content-length and, for a non-empty body without one, content-type
  // text/plain (Envoy Utility::prepareLocalReply); the reply is encoded
  // through the filter. A second local reply is ignored.
  sendLocalReply(reply) {
    if (this.localReplied || this.response) return;
    this.localReplied = true;
    this.details = reply.details;
    this.upstream = null;
    this.fs = { stopped: false, stopAll: false, headersPending: null, headersEnd: false, endSeen: false, trailers: null, buffered: null };
    this.bufferingReq = false;
    const h = new HeaderMap([[':status', String(reply.status)], ...reply.headers]);
    if (reply.body.length > 0) {
      h.set('content-length', String(reply.body.length));
      if (h.get('content-type') === undefined) h.set('content-type', 'text/plain');
    }
    this.encodeHeadersVM(h, reply.body.length === 0);
    this.pendingReply = null;
    this.response = { headers: h, body: new Body() };
    if (reply.body.length) {
      const chunk = new Body(reply.body);
      this.encodeDataVM(chunk, true);
      this.pendingReply = null;
      this.response.body.move(chunk);
    }
  }
}
