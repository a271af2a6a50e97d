#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Seeds fuzz/corpus from real sessions: runs the host and kvm suites with the
# recorder preloaded into every plugin, then converts the recordings.
# Usage: fuzz/record-corpus.sh BUILD_DIR   (a build where fuzz/plugvm-record.so exists)
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")" && pwd)
rec=$(mktemp -d)
trap 'rm -rf "$rec"' EXIT
PLUGVM_RECORD_DIR=$rec LD_PRELOAD=$build/fuzz/plugvm-record.so \
	meson test -C "$build" --suite host --suite kvm --no-rebuild >/dev/null 2>&1 || true
echo "recorded $(ls "$rec" | wc -l) plugin sessions"
python3 "$src/corpus-from-records.py" "$rec" "$src/corpus"
for d in "$src"/corpus/*; do echo "$(basename "$d"): $(ls "$d" | wc -l) seeds"; done
# Keep only seeds that add coverage, when the fuzz targets are built here.
for d in "$src"/corpus/*; do
	t=$(basename "$d")
	if [ -x "$build/fuzz/$t" ]; then
		mkdir -p "$rec/min-$t"
		"$build/fuzz/$t" -merge=1 "$rec/min-$t" "$d" >/dev/null 2>&1 &&
			rm -rf "$d" && mv "$rec/min-$t" "$d"
		echo "$t: $(ls "$d" | wc -l) seeds after merge"
	fi
done
