#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Runs every meson test suite in BUILD and ends with "N passed, N failed, N skipped".
# With FUZZ_BUILD set (a configured clang build with -Dfuzz=enabled, its fuzz
# targets built), its 'fuzz' suite runs too and is counted in the same line.
set -u
BUILD=${1:-build}
shift 2>/dev/null || true

meson test -C "$BUILD" --print-errorlogs "$@"
status=$?
logs="$BUILD/meson-logs/testlog.json"
if [ -n "${FUZZ_BUILD:-}" ]; then
	meson test -C "$FUZZ_BUILD" --no-rebuild --print-errorlogs --suite fuzz
	fstatus=$?
	[ $status -eq 0 ] && status=$fstatus
	logs="$logs $FUZZ_BUILD/meson-logs/testlog.json"
fi

# shellcheck disable=SC2086 # one argument per log
python3 - $logs <<'PY'
import json, sys
passed = failed = skipped = 0
for log in sys.argv[1:]:
    try:
        with open(log) as f:
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
