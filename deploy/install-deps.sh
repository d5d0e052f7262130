#!/bin/sh
# deploy/install-deps.sh: install the Debian 12 packages Cairn needs.
#   install-deps.sh          build and run (the server)
#   install-deps.sh --test   also what the tests need (clang for sanitizers
#                            and fuzzers, python3, curl, openssl for TLS
#                            test certificates; Node.js and npm for the
#                            third-party peers in tests/peers/ when the
#                            machine has no npm yet)
#   install-deps.sh --bench  also what tests/bench needs (nginx and wrk for the
#                            HTTP reference, RocksDB's db_bench, bc)
# Idempotent: packages already present are not fetched again.
set -eu

BUILD_PKGS="build-essential cmake ninja-build pkg-config libnng-dev flatbuffers-compiler \
librocksdb-dev libcurl4-openssl-dev libssl-dev libjansson-dev libmicrohttpd-dev libyaml-dev"
# OTLP/HTTP ingestion (core/otlp): protobuf-c for our .proto files, zlib for gzip bodies.
BUILD_PKGS="$BUILD_PKGS protobuf-c-compiler libprotobuf-c-dev zlib1g-dev"
TEST_PKGS="clang clang-format libclang-rt-14-dev python3 curl openssl procps git"
BENCH_PKGS="$TEST_PKGS nginx-light wrk bc rocksdb-tools"

pkgs="$BUILD_PKGS"
case "${1:-}" in
--test)
	pkgs="$pkgs $TEST_PKGS"
	# A machine may carry its own Node.js (e.g. nodesource's, which bundles
	# npm and conflicts with Debian's npm package): only add Debian's when
	# there is no npm at all.
	command -v npm >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
	;;
--bench) pkgs="$pkgs $BENCH_PKGS" ;;
esac

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "install-deps: installing$missing" >&2
$SUDO apt-get update -qq
# nginx must not start a system daemon on port 80 just because it was installed.
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
