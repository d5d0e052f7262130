#!/bin/sh
# tests/bench/otlp_bench.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
#
# OTLP ingestion in spans/s: CONNECTIONS (default 8) exporters posting
# pre-encoded 512-span protobuf batches (fresh trace ids every batch) to
# `cairn server`'s POST /v1/traces, with cn_otlp_bench as the load
# generator; beside it in the same run, the same client against nginx
# answering POST /v1/traces 200 with an empty body (the HTTP reference),
# and the decoder alone in process (spans per CPU-second). Issue 7's target:
# 100,000 spans/s. Prints the 429/503 answers too (overload back-pressure).
# Not a test: numbers vary by machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/nginx_ref.sh"
build=${1:-$here/../../build}
secs=${2:-10}
conns=${3:-8}
cairn=$build/cairn
bench=$build/core/otlp/cn_otlp_bench
work=$(mktemp -d /tmp/cairn-otlp-bench.XXXXXX)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

port=$(free_port)
"$cairn" server --port "$port" --data "$work/data" --log-level warn >"$work/cairn.log" 2>&1 &
echo "$!" >"$work/cairn.pid"
for _ in $(seq 100); do
	curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
	sleep 0.1
done
pid=$(cat "$work/cairn.pid")
eid=$(curl -s -X POST "http://127.0.0.1:$port/api/2.0/mlflow/experiments/create" \
	-d '{"name":"otlp-bench"}' | sed 's/.*"experiment_id": *"\([0-9]*\)".*/\1/')

nport=$(free_port)
nginx_ref_start "$work" "$nport" "client_max_body_size 64m; client_body_buffer_size 1m;" \
  'location /v1/traces { default_type application/x-protobuf; return 200 ""; }'

echo "== OTLP ingestion ($conns exporters, 512-span batches, ${secs}s each, $(nproc) CPUs)"
echo "nginx (reference, fixed empty 200):"
"$bench" http "$nport" "$eid" "$secs" "$conns" || true
echo "cairn server POST /v1/traces (experiment $eid):"
# The server's own CPU time (utime + stime, clock ticks) around the run: on a
# shared machine, spans per server CPU-second says more than the wall clock.
cpu() { awk '{print $14 + $15}' /proc/$pid/stat; }
c0=$(cpu)
"$bench" http "$port" "$eid" "$secs" "$conns" | tee "$work/http.txt" || true
c1=$(cpu)
spans=$(sed -n 's/.*: \([0-9]*\) spans\/s accepted.*/\1/p' "$work/http.txt")
el=$(sed -n 's/.*, \([0-9.]*\) s: .*/\1/p' "$work/http.txt")
tick=$(getconf CLK_TCK)
echo "cairn server CPU during the run: $(echo "scale=2; ($c1 - $c0) / $tick" | bc) s;" \
	"$(echo "scale=0; $spans * $el * $tick / ($c1 - $c0 + 1)" | bc) spans per server CPU-second"
echo "cairn RSS after the run: $(awk '/VmRSS/ {print $2}' /proc/$pid/status) kB"
echo "decoder alone:"
"$bench" decode 200
exit 0
