#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Runs one fuzz target: first every saved regression input (each must pass),
# then SECONDS of fuzzing from the seed corpus.  New inputs go to WORK_DIR so
# the source tree is never written.
# Usage: run-fuzz.sh TARGET SEED_DIR REGRESSION_DIR WORK_DIR SECONDS [libFuzzer args...]
set -u
# Absolute paths: the run happens in the work directory.
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
target=$(abs "$1") seeds=$(abs "$2") regressions=$(abs "$3") work=$(abs "$4") secs=$5
shift 5
mkdir -p "$work/corpus"
# Crash artifacts land in the work directory too.
cd "$work" || exit 1
if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions" 2>/dev/null)" ]; then
	"$target" -runs=1 "$regressions"/* >regressions.log 2>&1 || {
		cat regressions.log
		echo "FAIL: a saved regression input fails again"
		exit 1
	}
	echo "regressions: $(ls "$regressions" | wc -l) inputs pass"
fi
exec "$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	-close_fd_mask=1 "$@" "$work/corpus" "$seeds"
