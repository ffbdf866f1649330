#!/usr/bin/env python3
"""The third reader of the differential test (e2e/differential_test.go).

The official MCP Python SDK is not installed here (it is not needed by
anything else, and the test must run offline), so this script models how its
Streamable HTTP server transport, on Starlette, reads a POSTed body:

  * Content-Type: accepted when the part before the first ";", split at
    ",", has a part exactly equal to "application/json" (case-sensitive;
    the SDK's _check_content_type). The charset parameter is ignored.
  * Body: the raw bytes (Starlette's Request.body(): Content-Encoding is
    not inflated, the charset is not applied), then json.loads(bytes), as
    SDK releases 1.x do. json.loads on bytes picks UTF-8, UTF-16 or UTF-32
    from the BOM or the pattern of NUL bytes (json.detect_encoding) and
    accepts a UTF-8 BOM; duplicate member names keep the last value; NaN,
    Infinity and lone surrogate escapes are accepted. Newer SDK versions
    parse with pydantic_core.from_json instead; that parser is not modelled.
  * Message: a JSON object (batches are refused, as the SDK does since MCP
    2025-06-18) with "jsonrpc" exactly "2.0", an "id" that is a string or
    an integer (not a boolean), a string "method" and, when present, an
    object "params"; member names match exactly. For "tools/call" a string
    params.name naming a known tool runs it.

Only the path /mcp is served (a Starlette route; the query aside).

It is an HTTP server so that, like the SDK servers, it receives the request
exactly as the filter let it through (Content-Length or chunked bodies).
GET /counts answers {"python": {"<tool>": runs}}.

Usage: differential_reader.py '["t", "a"]'
The first stdout line is {"python": port} (127.0.0.1); the process ends when
stdin closes, so it never outlives the test that started it.
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOOLS = json.loads(sys.argv[1]) if len(sys.argv) > 1 else []
COUNTS = {}
LOCK = threading.Lock()


def json_content_type(value):
    """The SDK's Content-Type rule (see the module docstring)."""
    parts = [part.strip() for part in value.split(";")[0].split(",")]
    return any(part == "application/json" for part in parts)


def tool_to_run(message):
    """The tool a valid tools/call request message runs, else None."""
    if not isinstance(message, dict):
        return None
    if message.get("jsonrpc") != "2.0" or "id" not in message:
        return None
    request_id = message["id"]
    if isinstance(request_id, bool) or not isinstance(request_id, (str, int)):
        return None
    method = message.get("method")
    if not isinstance(method, str) or method != "tools/call":
        return None
    params = message.get("params")
    if not isinstance(params, dict):
        return None
    name = params.get("name")
    if isinstance(name, str) and name in TOOLS:
        return name
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per response (flushed after each request): a header write
    # and a body write would meet Nagle and delayed ACKs, 40 ms a request.
    wbufsize = -1

    def log_message(self, *args):
        pass

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def do_GET(self):
        if self.path == "/counts":
            with LOCK:
                self.reply(200, {"python": dict(COUNTS)})
            return
        self.reply(404, {})

    def do_POST(self):
        body = self.read_body()
        if self.path.split("?")[0] != "/mcp":
            self.reply(404, {"error": "not found"})
            return
        if not json_content_type(self.headers.get("Content-Type", "")):
            self.reply(415, {"error": "content-type"})
            return
        try:
            message = json.loads(body)
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
            self.reply(400, {"error": "parse: %s" % err})
            return
        name = tool_to_run(message)
        if name is None:
            self.reply(202, {"ran": None})
            return
        with LOCK:
            COUNTS[name] = COUNTS.get(name, 0) + 1
        self.reply(200, {"jsonrpc": "2.0", "id": message["id"], "result": {"ran": name}})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdout.write(json.dumps({"python": server.server_address[1]}) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # until the test closes stdin
    server.shutdown()


if __name__ == "__main__":
    main()
