#!/usr/bin/env bash
# `make run-redis`: Redis (127.0.0.1:16379) and webdis (127.0.0.1:7379, the
# hardened envoy/webdis.json) on loopback, the demo MCP server
# (127.0.0.1:8080), and TWO local proxy-wasm hosts in front of it
# (127.0.0.1:10000, admin 9901; 127.0.0.1:10001, admin 9902) whose filters
# keep their buckets in that one Redis: the limits hold across both. Ctrl-C
# stops everything.
#
# usage: run-redis.sh DEMO_SERVER_BIN HOST_BIN CONFIG WEBDIS_JSON [host flags...]
set -euo pipefail

demo_bin=$1
host_bin=$2
config=$3
webdis_json=$4
shift 4

redis_port=16379
webdis_port=7379

missing=""
for bin in redis-server webdis; do
	command -v "$bin" >/dev/null 2>&1 || missing="$missing $bin"
done
if [ -n "$missing" ]; then
	echo "run-redis: missing:$missing. Install them with: sudo apt-get install -y redis-server webdis" >&2
	exit 1
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
	trap - EXIT INT TERM
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill "${pids[$i]}" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo; echo "stopping..."; exit 0' INT TERM

# wait_port PORT NAME PID: wait until 127.0.0.1:PORT accepts connections.
wait_port() {
	for _ in $(seq 1 150); do
		if ! kill -0 "$3" 2>/dev/null; then
			echo "run-redis: $2 exited before listening on 127.0.0.1:$1" >&2
			exit 1
		fi
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "run-redis: $2 is not listening on 127.0.0.1:$1 after 15s" >&2
	exit 1
}

redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
	--dir "$tmp" --daemonize no --logfile "$tmp/redis.log" &
pids+=($!)
wait_port "$redis_port" "redis-server (log: $tmp/redis.log)" "${pids[-1]}"

# The shipped webdis.json, pointed at this Redis, logging to the temp dir.
sed -e "s/\"redis_port\": *[0-9]*/\"redis_port\": $redis_port/" \
	-e "s/\"http_port\": *[0-9]*/\"http_port\": $webdis_port/" \
	-e "s|\"logfile\": *\"[^\"]*\"|\"logfile\": \"$tmp/webdis.log\"|" \
	"$webdis_json" >"$tmp/webdis.json"
webdis "$tmp/webdis.json" &
pids+=($!)
wait_port "$webdis_port" "webdis (log: $tmp/webdis.log)" "${pids[-1]}"

"$demo_bin" --addr 127.0.0.1:8080 >/dev/null &
pids+=($!)
wait_port 8080 "the demo MCP server" "${pids[-1]}"

"$host_bin" --config "$config" "$@" &
pids+=($!)
wait_port 10000 "mcp-ratelimit-host (first)" "${pids[-1]}"

"$host_bin" --config "$config" --listen 127.0.0.1:10001 --admin 127.0.0.1:9902 "$@" &
pids+=($!)
wait_port 10001 "mcp-ratelimit-host (second)" "${pids[-1]}"

call='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}'
cat <<EOT

Two proxies, one set of buckets in Redis (127.0.0.1:$redis_port, through webdis 127.0.0.1:$webdis_port):

MCP server through proxy 1: http://127.0.0.1:10000/mcp   (metrics: http://127.0.0.1:9901/stats/prometheus)
MCP server through proxy 2: http://127.0.0.1:10001/mcp   (metrics: http://127.0.0.1:9902/stats/prometheus)
Configuration:              $config (5 tools/call per minute across both, 2 for "search")

Try it (six calls alternating between the proxies: the sixth is answered 429):

  for port in 10000 10001 10000 10001 10000 10001; do curl -s -i -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' -d '$call' http://127.0.0.1:\$port/mcp | head -1; done

Press Ctrl-C to stop.
EOT
wait "${pids[-1]}"
