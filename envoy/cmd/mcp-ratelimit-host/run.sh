#!/usr/bin/env bash
# `make run`: start the demo MCP server (127.0.0.1:8080) and the local
# proxy-wasm host in front of it (127.0.0.1:10000, admin 127.0.0.1:9901),
# print how to try it, and stop both on Ctrl-C.
#
# usage: run.sh DEMO_SERVER_BIN HOST_BIN CONFIG [host flags...]
set -euo pipefail

demo_bin=$1
host_bin=$2
config=$3
shift 3

demo_pid=""
host_pid=""
cleanup() {
	trap - EXIT INT TERM
	[ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null || true
	[ -n "$demo_pid" ] && kill "$demo_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'echo; echo "stopping..."; exit 0' INT TERM

# wait_port PORT NAME PID: wait until 127.0.0.1:PORT accepts connections.
wait_port() {
	for _ in $(seq 1 150); do
		if ! kill -0 "$3" 2>/dev/null; then
			echo "run: $2 exited before listening on 127.0.0.1:$1" >&2
			exit 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "run: $2 is not listening on 127.0.0.1:$1 after 15s" >&2
	exit 1
}

"$demo_bin" --addr 127.0.0.1:8080 >/dev/null &
demo_pid=$!
wait_port 8080 "the demo MCP server" "$demo_pid"

"$host_bin" --config "$config" "$@" &
host_pid=$!
wait_port 10000 "mcp-ratelimit-host" "$host_pid"

call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}'
cat <<EOT

MCP server behind the rate-limit filter: http://127.0.0.1:10000/mcp
Metrics:                                  http://127.0.0.1:9901/stats/prometheus
Configuration:                            $config (5 tools/call per minute, 2 for "search")

Try it (the 6th call within a minute is answered 429 with a JSON-RPC error and Retry-After):

  for i in 1 2 3 4 5 6; do curl -s -i -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d '$call' http://127.0.0.1:10000/mcp | head -1; done

  curl -s -i -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d '$call' http://127.0.0.1:10000/mcp

Press Ctrl-C to stop.
EOT
wait "$host_pid"
