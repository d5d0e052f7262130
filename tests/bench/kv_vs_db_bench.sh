#!/bin/sh
# tests/bench/kv_vs_db_bench.sh [BUILD_DIR]
#
# Cairn's RocksDB layer (cn_kv_bench) side by side with RocksDB's own
# db_bench (Debian package rocksdb-tools) on the same disk, same key and
# value sizes, same operation counts. Prints each phase's ratio.
# Not a test: numbers vary by machine and disk.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
work=$(mktemp -d /tmp/cairn-kvbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
SYNC_OPS=${SYNC_OPS:-4000}
KEYS=${KEYS:-100000}

ours=$("$build/core/store/cn_kv_bench" --keys "$KEYS" --sync-ops "$SYNC_OPS" --gets "$KEYS")
r_sync1=$(db_bench --db="$work/a" --compression_type=lz4 --benchmarks=fillrandom --sync=1 --threads=1 --num="$SYNC_OPS" 2>/dev/null | awk '$1=="fillrandom" {print $5}')
r_sync8=$(db_bench --db="$work/b" --compression_type=lz4 --benchmarks=fillrandom --sync=1 --threads=8 --num=$((SYNC_OPS / 8)) 2>/dev/null | awk '$1=="fillrandom" {print $5}')
db_bench --db="$work/c" --compression_type=lz4 --benchmarks=fillseq --num="$KEYS" --batch_size=1000 >/dev/null 2>&1
r_load=$(db_bench --db="$work/d" --compression_type=lz4 --benchmarks=fillrandom --num="$KEYS" --batch_size=1000 2>/dev/null | awk '$1=="fillrandom" {print $5}')
r_get1=$(db_bench --db="$work/c" --use_existing_db=1 --benchmarks=readrandom --num="$KEYS" --reads="$KEYS" --threads=1 2>/dev/null | awk '$1=="readrandom" {print $5}')
r_get8=$(db_bench --db="$work/c" --use_existing_db=1 --benchmarks=readrandom --num="$KEYS" --reads="$KEYS" --threads=8 2>/dev/null | awk '$1=="readrandom" {print $5}')

o() { echo "$ours" | awk -v p="$1" 'index($0, p) == 1 {for (i = 1; i <= NF; i++) if ($(i+1) == "ops/s") {print $i; exit}}'; }
row() { printf '%-26s %10s ops/s   db_bench %10s ops/s   ratio %.2f\n' "$1" "$2" "$3" "$(echo "$2 / $3" | bc -l)"; }
echo "== cn_kv (core/store) vs RocksDB db_bench, 16 B keys, 100 B values, lz4"
row "synced put, 1 writer" "$(o 'synced put,  1')" "$r_sync1"
row "synced put, 8 writers" "$(o 'synced put,  8')" "$r_sync8"
row "load, batches of 1000" "$(o 'load')" "$r_load"
row "point get, 1 thread" "$(o 'point get,   1')" "$r_get1"
row "point get, 8 threads" "$(o 'point get,   8')" "$r_get8"
