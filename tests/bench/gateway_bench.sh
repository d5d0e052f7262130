#!/bin/sh
# tests/bench/gateway_bench.sh [BUILD_DIR] [SECONDS]
#
# Requests/s of get-experiment and create-experiment through `cairn server`
# with 32 connections (wrk), side by side in the same run with nginx
# returning the same fixed JSON body; plus idle RSS and time-to-ready of
# `cairn server`. Prints ratios. Not a test: numbers vary by machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/nginx_ref.sh"
build=${1:-$here/../../build}
secs=${2:-10}
cairn=$build/cairn
conns=32
threads=2
work=$(mktemp -d /tmp/cairn-bench.XXXXXX)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }

# --- cairn server: time to ready, idle RSS ---------------------------------
port=$(free_port)
ready_ms=$(python3 - "$cairn" "$port" "$work/data" "$work/cairn.pid" <<'PY'
import http.client, subprocess, sys, time
cairn, port, data, pidf = sys.argv[1:]
t0 = time.perf_counter()
p = subprocess.Popen([cairn, "server", "--port", port, "--data", data, "--log-level", "warn"],
                     stdout=open(data + ".log", "wb"), stderr=subprocess.STDOUT)
open(pidf, "w").write("%d\n" % p.pid)  # newline: the trap cats every *.pid into one kill
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=1)
        c.request("GET", "/health")
        if c.getresponse().status == 200:
            break
    except OSError:
        time.sleep(0.001)
print("%.1f" % ((time.perf_counter() - t0) * 1000))
PY
)
sleep 2
pid=$(cat "$work/cairn.pid")
idle_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)

# One experiment to read, and the exact body get-experiment returns.
eid=$(curl -s -X POST "http://127.0.0.1:$port/api/2.0/mlflow/experiments/create" \
	-d '{"name":"bench-read","tags":[{"key":"team","value":"bench"}]}' | sed 's/.*"experiment_id":"\([0-9]*\)".*/\1/')
get_path="/api/2.0/mlflow/experiments/get?experiment_id=$eid"
curl -s "http://127.0.0.1:$port$get_path" >"$work/body.json"

# --- nginx with the same body ---------------------------------------------
nport=$(free_port)
# A fixed body from a file, like `return 200 '...'`, but without quoting pains.
nginx_ref_start "$work" "$nport" "" "location / { default_type application/json; alias $work/body.json; }"

cat >"$work/create.lua" <<'LUA'
local counter = 0
local id = 0
setup = function(thread) id = id + 1; thread:set("tid", id) end
request = function()
  counter = counter + 1
  local body = '{"name":"bench-' .. tid .. '-' .. counter .. '-' .. math.random(1, 1e9) .. '"}'
  return wrk.format("POST", "/api/2.0/mlflow/experiments/create",
                    {["Content-Type"] = "application/json"}, body)
end
LUA

wrk -t$threads -c$conns -d${secs}s "http://127.0.0.1:$nport/" >"$work/nginx.txt"
wrk -t$threads -c$conns -d${secs}s "http://127.0.0.1:$port$get_path" >"$work/get.txt"
wrk -t$threads -c$conns -d${secs}s -s "$work/create.lua" "http://127.0.0.1:$port" >"$work/create.txt"
busy_rss_kb=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
errors=$(grep -h "Non-2xx" "$work/get.txt" "$work/create.txt" || true)

n=$(rps "$work/nginx.txt"); g=$(rps "$work/get.txt"); c=$(rps "$work/create.txt")
echo "== cairn gateway benchmark ($conns connections, $threads wrk threads, ${secs}s each, $(nproc) CPUs)"
printf '%-34s %12s\n' "nginx fixed body (reference)" "$n req/s"
printf '%-34s %12s   ratio to nginx %.2f\n' "cairn get-experiment" "$g req/s" "$(echo "$g / $n" | bc -l)"
printf '%-34s %12s   ratio to nginx %.2f\n' "cairn create-experiment (synced)" "$c req/s" "$(echo "$c / $n" | bc -l)"
printf '%-34s %12s ms\n' "time to ready (exec -> /health)" "$ready_ms"
printf '%-34s %12s MiB\n' "idle RSS" "$(echo "scale=1; $idle_rss_kb / 1024" | bc)"
printf '%-34s %12s MiB\n' "RSS after the runs" "$(echo "scale=1; $busy_rss_kb / 1024" | bc)"
[ -n "$errors" ] && echo "non-2xx responses: $errors"
grep -h "Latency" "$work/nginx.txt" "$work/get.txt" "$work/create.txt" | sed 's/^/latency (nginx, get, create): /'
exit 0
