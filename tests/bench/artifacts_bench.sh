#!/bin/sh
# tests/bench/artifacts_bench.sh [BUILD_DIR] [SIZE_MIB] [DIR]
#
# Throughput of the artifact proxy to local disk: upload (PUT, curl -T) and
# download (GET, curl -o) of one SIZE_MIB file (default 1024) through
# `cairn server`, side by side in the same run with `cp` of the same file on
# the same disk (DIR, default /tmp). Three rounds each; the median is shown,
# as MB/s and as a ratio of cp's time (target: within 2x). The upload fsyncs
# before it answers (an acknowledged artifact survives a crash) while cp does
# not, so `cp + sync FILE` is shown too. Not a test: numbers vary by machine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
mib=${2:-1024}
base=${3:-/tmp}
cairn=$build/cairn
work=$(mktemp -d "$base/cairn-artbench.XXXXXX")
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s%N; }
# median of three numbers
med() { printf '%s\n' "$@" | sort -n | sed -n 2p; }

src=$work/src.bin
head -c $((mib * 1048576)) /dev/urandom >"$src"
sync

port=$(free_port)
"$cairn" server --port "$port" --data "$work/data" --log-level warn >"$work/cairn.log" 2>&1 &
echo $! >"$work/cairn.pid"
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.05; done
url="http://127.0.0.1:$port/api/2.0/mlflow-artifacts/artifacts/bench/blob.bin"

cp_t="" cps_t="" up_t="" down_t=""
# Each step starts with no dirty pages left by the one before (sync), so
# that none pays for another's write-back.
for round in 1 2 3; do
	sync
	t0=$(now); cp "$src" "$work/copy.bin"; t1=$(now)
	cp_t="$cp_t $((t1 - t0))"
	rm -f "$work/copy.bin"
	sync
	t0=$(now); cp "$src" "$work/copy.bin"; sync "$work/copy.bin"; t1=$(now)
	cps_t="$cps_t $((t1 - t0))"
	rm -f "$work/copy.bin"
	sync
	t0=$(now); curl -sf -X PUT -T "$src" "$url" >/dev/null; t1=$(now)
	up_t="$up_t $((t1 - t0))"
	sync
	t0=$(now); curl -sf -o "$work/down.bin" "$url"; t1=$(now)
	down_t="$down_t $((t1 - t0))"
	cmp -s "$src" "$work/down.bin" || { echo "download differs" >&2; exit 1; }
	rm -f "$work/down.bin"
	curl -sf -X DELETE "$url" >/dev/null
done

cp_m=$(med $cp_t); cps_m=$(med $cps_t); up_m=$(med $up_t); down_m=$(med $down_t)
rate() { echo "$mib * 1048576 / $1" | bc; } # MB/s (10^6 bytes/s) from microseconds
ratio() { echo "scale=2; $1 / $2" | bc; }
echo "artifact proxy to local disk, $mib MiB, median of 3 ($(nproc) CPUs, $base)"
printf '  %-22s %6s MB/s\n' "cp" "$(rate $((cp_m / 1000)))"
printf '  %-22s %6s MB/s\n' "cp + sync FILE" "$(rate $((cps_m / 1000)))"
printf '  %-22s %6s MB/s   time vs cp %sx   vs cp+sync %sx\n' "gateway upload (PUT)" \
	"$(rate $((up_m / 1000)))" "$(ratio "$up_m" "$cp_m")" "$(ratio "$up_m" "$cps_m")"
printf '  %-22s %6s MB/s   time vs cp %sx\n' "gateway download (GET)" \
	"$(rate $((down_m / 1000)))" "$(ratio "$down_m" "$cp_m")"
