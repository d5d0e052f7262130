#!/bin/sh
# core/codec/flatc_interop_test.sh: proves our FlatBuffers are real ones.
#   (a) buffers built by our builder decode with `flatc --json`;
#   (b) buffers flatc builds from JSON read back with our generated readers.
# usage: flatc_interop_test.sh <codec_flatc_interop> <flatc> <schemas dir> <tmp dir>
set -eu
prog=$1
flatc=$2
schemas=$3
tmp=$4

rm -rf "$tmp"
mkdir -p "$tmp"
"$prog" write "$tmp"

# (a) our bytes -> flatc's JSON
"$flatc" --json --strict-json --raw-binary -I "$schemas" -o "$tmp" \
	--root-type cairn.bus.Envelope "$schemas/cairn.fbs" -- "$tmp/env.bin"
"$flatc" --json --strict-json --raw-binary -I "$schemas" -o "$tmp" \
	--root-type cairn.tracking.Experiment "$schemas/cairn.fbs" -- "$tmp/exp.bin"
"$prog" check-json "$tmp"

# (b) flatc's bytes -> our readers
"$flatc" -b -I "$schemas" -o "$tmp" --root-type cairn.bus.Envelope \
	"$schemas/cairn.fbs" "$tmp/env_in.json"
"$flatc" -b -I "$schemas" -o "$tmp" --root-type cairn.tracking.Experiment \
	"$schemas/cairn.fbs" "$tmp/exp_in.json"
"$prog" check-bin "$tmp"

echo "flatc interop: ok"
