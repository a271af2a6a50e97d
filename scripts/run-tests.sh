#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Runs meson's tests in BUILD (further arguments go to `meson test`) and ends
# with "N passed, N failed, N skipped".
set -u
BUILD=${1:-build}
shift 2>/dev/null || true

meson test -C "$BUILD" --print-errorlogs "$@"
status=$?
python3 "$(dirname "$0")/count-tests.py" "$BUILD/meson-logs/testlog.json"
py=$?
[ $status -ne 0 ] && exit $status
exit $py
