#!/bin/sh
# tests/run-all.sh: build Cairn and run every test, as CI does.
#   1. install the Debian packages (deploy/install-deps.sh --test) and the npm
#      test peers (tests/peers/install.sh), check formatting
#   2. release build + unit tests (ctest) + integration tests (real processes, real HTTP)
#   3. the same under AddressSanitizer + UndefinedBehaviorSanitizer
#   4. every libFuzzer target, briefly (FUZZ_SECONDS, default 30)
# Build trees: build/, build-san/, build-fuzz/.
set -eu
cd "$(dirname "$0")/.."
./deploy/install-deps.sh --test
./tests/peers/install.sh
jobs=$(nproc)

step() { printf '\n==== %s ====\n' "$*"; }

step "format (clang-format, .clang-format)"
unformatted=$(git ls-files '*.c' '*.h' | while read -r f; do
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
if [ -n "$unformatted" ]; then
	echo "not formatted with clang-format:" $unformatted
	exit 1
fi

step "release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
step "unit and integration tests"
ctest --test-dir build --output-on-failure -j "$jobs"

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build-san -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON >/dev/null
cmake --build build-san
step "unit and integration tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-san --output-on-failure -j "$jobs"

step "fuzz targets"
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCAIRN_FUZZ=ON >/dev/null
cmake --build build-fuzz --target fuzzers
./tests/fuzz/run-fuzzers.sh "$PWD/build-fuzz" "${FUZZ_SECONDS:-30}"
