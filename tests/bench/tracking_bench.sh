#!/bin/sh
# tests/bench/tracking_bench.sh [BUILD_DIR] [SECONDS]
#
# The tracking hot paths through `cairn server` (fsync per acknowledged
# write, the default), side by side in the same run with nginx answering the
# same requests with a fixed body:
#   - log-batch: 1000-metric batches, 8 connections, to 8 runs -> points/s
#     (issue 3 target: >= 1,000,000 points/s);
#   - log-metric: single calls, 32 connections, to 32 runs -> req/s
#     (target: >= 40% of nginx's fixed-body rate);
#   - get-run of a run with 10 params, 10 metrics and 5 tags, 32 connections;
#   - get-history of one metric with 100,000 points, every page, one client
#     (target: under 100 ms), median of 15.
# Prints figures and ratios. Not a test: numbers vary by machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/nginx_ref.sh"
build=${1:-$here/../../build}
secs=${2:-10}
cairn=$build/cairn
threads=2
work=$(mktemp -d /tmp/cairn-tbench.XXXXXX)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
non2xx() { awk '/Non-2xx/ {print $NF}' "$1"; }

port=$(free_port)
"$cairn" server --port "$port" --data "$work/data" --log-level warn >"$work/cairn.log" 2>&1 &
echo $! >"$work/cairn.pid"
python3 - "$port" <<'PY'
import http.client, sys, time
for _ in range(500):
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=1)
        c.request("GET", "/health")
        if c.getresponse().status == 200:
            sys.exit(0)
    except OSError:
        time.sleep(0.01)
sys.exit("cairn did not start")
PY

# Runs to log to, one read-heavy run, and a 100k-point history.
python3 - "$port" "$work" <<'PY'
import http.client, json, sys
port, work = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
def post(path, obj):
    c.request("POST", "/api/2.0/mlflow/" + path, json.dumps(obj), {"Content-Type": "application/json"})
    r = c.getresponse(); body = r.read()
    assert r.status == 200, (path, r.status, body[:200])
    return json.loads(body)
def run():
    return post("runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
open(work + "/runs8", "w").write("\n".join(run() for _ in range(8)) + "\n")
open(work + "/runs32", "w").write("\n".join(run() for _ in range(32)) + "\n")
rid = run()
post("runs/log-batch", {"run_id": rid,
     "metrics": [{"key": "m%d" % i, "value": i * 0.5, "timestamp": 1, "step": 0} for i in range(10)],
     "params": [{"key": "p%d" % i, "value": "v%d" % i} for i in range(10)],
     "tags": [{"key": "t%d" % i, "value": "v%d" % i} for i in range(4)]})
open(work + "/readrun", "w").write(rid)
hist = run()
for b in range(100):
    post("runs/log-batch", {"run_id": hist, "metrics": [
        {"key": "loss", "value": 1.0 / (s + 1), "timestamp": 1700000000000 + s, "step": s}
        for s in range(b * 1000, b * 1000 + 1000)]})
open(work + "/histrun", "w").write(hist)
PY

# --- nginx: a fixed body for every request, GET or POST -------------------
nport=$(free_port)
nginx_ref_start "$work" "$nport" "client_max_body_size 16m;" "location / { default_type application/json; return 200 '{}'; }"

# wrk scripts: requests are formatted once (per run id) and rotated, so the
# load generator spends its share of the two CPUs on sending, not on Lua.
cat >"$work/batch.lua" <<LUA
local runs = {}
for line in io.lines("$work/runs8") do runs[#runs + 1] = line end
local reqs, n = {}, 0
init = function(args)
  for i, rid in ipairs(runs) do
    local m = {}
    for s = 0, 999 do
      m[#m + 1] = string.format('{"key":"m%d","value":%d.25,"timestamp":1700000000000,"step":%d}', s % 10, s, s)
    end
    local body = '{"run_id":"' .. rid .. '","metrics":[' .. table.concat(m, ",") .. ']}'
    reqs[i] = wrk.format("POST", "/api/2.0/mlflow/runs/log-batch",
                         {["Content-Type"] = "application/json"}, body)
  end
end
request = function() n = n + 1; return reqs[n % #reqs + 1] end
LUA
cat >"$work/metric.lua" <<LUA
local runs = {}
for line in io.lines("$work/runs32") do runs[#runs + 1] = line end
local n = 0
request = function()
  n = n + 1
  local body = '{"run_id":"' .. runs[n % #runs + 1] .. '","key":"loss","value":0.5,"timestamp":1700000000000,"step":' .. n .. '}'
  return wrk.format("POST", "/api/2.0/mlflow/runs/log-metric",
                    {["Content-Type"] = "application/json"}, body)
end
LUA

readrun=$(cat "$work/readrun")
getrun="/api/2.0/mlflow/runs/get?run_id=$readrun"

wrk -t$threads -c8 -d${secs}s -s "$work/batch.lua" "http://127.0.0.1:$nport" >"$work/nginx_batch.txt"
wrk -t$threads -c8 -d${secs}s -s "$work/batch.lua" "http://127.0.0.1:$port" >"$work/batch.txt"
wrk -t$threads -c32 -d${secs}s -s "$work/metric.lua" "http://127.0.0.1:$nport" >"$work/nginx_metric.txt"
wrk -t$threads -c32 -d${secs}s -s "$work/metric.lua" "http://127.0.0.1:$port" >"$work/metric.txt"
wrk -t$threads -c32 -d${secs}s "http://127.0.0.1:$nport$getrun" >"$work/nginx_get.txt"
wrk -t$threads -c32 -d${secs}s "http://127.0.0.1:$port$getrun" >"$work/getrun.txt"

# get-history: every page of the 100k-point metric, timed end to end.
hist_ms=$(python3 - "$port" "$(cat "$work/histrun")" <<'PY'
import http.client, json, re, statistics, sys, time, urllib.parse
port, rid = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port)
def fetch_all():
    tok, points = None, 0
    while True:
        q = {"run_id": rid, "metric_key": "loss"}
        if tok:
            q["page_token"] = tok
        c.request("GET", "/api/2.0/mlflow/metrics/get-history?" + urllib.parse.urlencode(q))
        r = c.getresponse(); body = r.read()
        assert r.status == 200, body[:200]
        points += body.count(b'"step"')
        m = re.search(rb'"next_page_token":"([^"]*)"', body)
        if not m:
            return points
        tok = m.group(1).decode()
times = []
for _ in range(15):
    t0 = time.perf_counter()
    n = fetch_all()
    times.append((time.perf_counter() - t0) * 1000)
assert n == 100000, n
print("%.1f %.1f %.1f" % (statistics.median(times), min(times), max(times)))
PY
)

nb=$(rps "$work/nginx_batch.txt"); b=$(rps "$work/batch.txt")
nm=$(rps "$work/nginx_metric.txt"); m=$(rps "$work/metric.txt")
ng=$(rps "$work/nginx_get.txt"); g=$(rps "$work/getrun.txt")
echo "== cairn tracking benchmark (${secs}s each, $threads wrk threads, $(nproc) CPUs, sync_writes on)"
printf '%-44s %14s   nginx same requests %s req/s, ratio %.2f\n' "log-batch 1000 points, 8 conns" \
	"$b req/s" "$nb" "$(echo "$b / $nb" | bc -l)"
printf '%-44s %14s   target 1000000, ratio %.2f\n' "  = metric points/s" \
	"$(echo "$b * 1000 / 1" | bc)" "$(echo "$b * 1000 / 1000000" | bc -l)"
printf '%-44s %14s   nginx fixed body %s req/s, ratio %.2f (target 0.40)\n' \
	"log-metric, 32 conns" "$m req/s" "$nm" "$(echo "$m / $nm" | bc -l)"
printf '%-44s %14s   nginx fixed body %s req/s, ratio %.2f\n' "get-run (10 params/metrics, 5 tags), 32 conns" \
	"$g req/s" "$ng" "$(echo "$g / $ng" | bc -l)"
set -- $hist_ms
printf '%-44s %14s   min %s, max %s (target < 100 ms)\n' "get-history 100k points, all pages" "$1 ms" "$2" "$3"
for f in batch metric getrun; do
	e=$(non2xx "$work/$f.txt")
	[ -n "$e" ] && echo "non-2xx responses in $f: $e"
done
grep -h "Latency" "$work/batch.txt" "$work/metric.txt" "$work/getrun.txt" | sed 's/^/latency (batch, metric, get-run): /'
exit 0
