#!/bin/sh
# tests/bench/ab_metric.sh BUILD_A BUILD_B [SECONDS] [ROUNDS] [CONNS]
#
# log-metric single calls (tracking_bench.sh's request), CONNS connections
# (32), through two builds of `cairn server` and nginx's fixed body, run
# interleaved in the same window: each round runs nginx, A and B (order
# alternating per round) for SECONDS each. On a shared machine only
# figures from the same window compare. For A and B, perf stat (when
# available) counts per request: futex calls, context switches, CPU ms of
# the server process, and fdatasync calls. Prints one line per run and
# the medians per build. Not a test: numbers vary by machine.
#
# Extra `cairn server` flags for each side: CAIRN_A_ARGS, CAIRN_B_ARGS.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/nginx_ref.sh"
a=${1:?build A}
b=${2:?build B}
secs=${3:-8}
rounds=${4:-4}
conns=${5:-32}
work=$(mktemp -d /tmp/cairn-ab.XXXXXX)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rps() { awk '/Requests\/sec/ {print $2}' "$1"; }

start() { # name build port extra-args
	"$2/cairn" server --port "$3" --data "$work/data-$1" --log-level warn $4 \
		>"$work/$1.log" 2>&1 &
	echo $! >"$work/$1.pid"
	python3 - "$3" "$work/runs-$1" "$conns" <<'PY'
import http.client, json, sys, time
port = int(sys.argv[1])
for _ in range(500):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/health")
        if c.getresponse().status == 200:
            break
    except OSError:
        time.sleep(0.01)
else:
    sys.exit("cairn did not start")
c = http.client.HTTPConnection("127.0.0.1", port)
ids = []
for _ in range(int(sys.argv[3])):
    c.request("POST", "/api/2.0/mlflow/runs/create", json.dumps({"experiment_id": "0"}),
              {"Content-Type": "application/json"})
    ids.append(json.loads(c.getresponse().read())["run"]["info"]["run_id"])
open(sys.argv[2], "w").write("\n".join(ids) + "\n")
PY
	cat >"$work/$1.lua" <<LUA
local runs = {}
for line in io.lines("$work/runs-$1") do runs[#runs + 1] = line end
local n = 0
request = function()
  n = n + 1
  local body = '{"run_id":"' .. runs[n % #runs + 1] .. '","key":"loss","value":0.5,"timestamp":1700000000000,"step":' .. n .. '}'
  return wrk.format("POST", "/api/2.0/mlflow/runs/log-metric",
                    {["Content-Type"] = "application/json"}, body)
end
LUA
}

pa=$(free_port)
start A "$a" "$pa" "${CAIRN_A_ARGS:-}"
pb=$(free_port)
start B "$b" "$pb" "${CAIRN_B_ARGS:-}"

nport=$(free_port)
nginx_ref_start "$work" "$nport" "" "location / { default_type application/json; return 200 '{}'; }"

have_perf=0
perf stat -e context-switches -- true >/dev/null 2>&1 && have_perf=1

one() { # name port lua -> prints "rps futex/req cs/req cpu_us/req fdatasync/req"
	out=$work/$1.wrk
	if [ "$1" != N ] && [ $have_perf = 1 ]; then
		perf stat -x, -e 'syscalls:sys_enter_futex,context-switches,task-clock,syscalls:sys_enter_fdatasync' \
			-p "$(cat "$work/$1.pid")" -o "$work/$1.perf" -- sleep "$secs" &
		pp=$!
		wrk -t2 -c"$conns" -d"${secs}s" -s "$3" "http://127.0.0.1:$2" >"$out"
		wait $pp || true
		r=$(rps "$out")
		n=$(awk '/requests in/ {print $1}' "$out")
		awk -F, -v n="$n" -v r="$r" '
			/sys_enter_futex/ {f=$1} /context-switches/ {c=$1} /task-clock/ {t=$1}
			/sys_enter_fdatasync/ {s=$1}
			END {printf "%s %.2f %.2f %.1f %.3f\n", r, f/n, c/n, t*1000/n, s/n}' "$work/$1.perf"
	else
		wrk -t2 -c"$conns" -d"${secs}s" -s "$3" "http://127.0.0.1:$2" >"$out"
		echo "$(rps "$out") - - - -"
	fi
	grep -q Non-2xx "$out" && echo "  non-2xx in $1: $(grep Non-2xx "$out")" >&2
	true
}

echo "== log-metric A/B, $conns conns, ${secs}s x $rounds rounds, $(nproc) CPUs"
echo "   A=$a ${CAIRN_A_ARGS:-}"
echo "   B=$b ${CAIRN_B_ARGS:-}"
printf '%-6s %-3s %10s %7s %8s %8s %8s %9s\n' round run req/s ratio futex/rq cs/rq cpu_us/rq fdsync/rq
: >"$work/res"
i=1
while [ $i -le "$rounds" ]; do
	set -- $(one N "$nport" "$work/A.lua")
	nr=$1
	printf '%-6s %-3s %10s\n' "$i" N "$nr"
	if [ $((i % 2)) = 1 ]; then order="A B"; else order="B A"; fi
	for s in $order; do
		if [ $s = A ]; then p=$pa; else p=$pb; fi
		set -- $(one $s "$p" "$work/$s.lua")
		ratio=$(echo "$1 / $nr" | bc -l)
		printf '%-6s %-3s %10s %7.3f %8s %8s %8s %9s\n' "$i" $s "$1" "$ratio" "$2" "$3" "$4" "$5"
		echo "$s $1 $ratio $2 $3 $4" >>"$work/res"
	done
	i=$((i + 1))
done
for s in A B; do
	awk -v s=$s '$1 == s {print $2, $3, $4, $5, $6}' "$work/res" | sort -n -k2 | awk -v s=$s '
		{r[NR]=$1; q[NR]=$2; f[NR]=$3; c[NR]=$4; u[NR]=$5}
		END {m=int((NR+1)/2); printf "median %s (by ratio): %s req/s, ratio %.3f, futex/rq %s, cs/rq %s, cpu_us/rq %s\n", s, r[m], q[m], f[m], c[m], u[m]}'
done
uptime
