#!/bin/sh
# tests/fuzz/run-fuzzers.sh BUILD_DIR SECONDS: run every libFuzzer target
# (built into BUILD_DIR/fuzz/) briefly from its seed corpus (tests/fuzz/corpus/<target>/). Any crash,
# leak or sanitizer report fails the run and leaves the reproducer in
# BUILD_DIR/fuzz-out/<target>/.
set -eu
build=$1
secs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
targets=$(cat "$build/fuzz-targets.txt")
pass=0
fail=0
for t in $targets; do
	out="$build/fuzz-out/$t"
	rm -rf "$out"
	mkdir -p "$out/corpus"
	[ -d "$here/corpus/$t" ] && cp -r "$here/corpus/$t/." "$out/corpus/"
	if (cd "$out" && "$build/fuzz/$t" -max_total_time="$secs" -max_len=65536 -timeout=10 \
		-print_final_stats=1 corpus >"$out/log.txt" 2>&1); then
		echo "ok   fuzz $t ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$out/log.txt" | grep -o '[0-9]*$') runs)"
		pass=$((pass + 1))
	else
		echo "FAIL fuzz $t"
		tail -n 60 "$out/log.txt"
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
