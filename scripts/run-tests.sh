#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Runs every meson test suite in BUILD and ends with "N passed, N failed, N skipped".
set -u
BUILD=${1:-build}
shift 2>/dev/null || true

meson test -C "$BUILD" --print-errorlogs "$@"
status=$?

python3 - "$BUILD/meson-logs/testlog.json" <<'PY'
import json, sys
passed = failed = skipped = 0
try:
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get("result", "")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
            else:
                failed += 1
except FileNotFoundError:
    failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
py=$?
[ $status -ne 0 ] && exit $status
exit $py
