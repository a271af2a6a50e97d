# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Sourced by run-pc-test.sh and run-reset-test.sh: skips (exit 77) where SeaBIOS's bios.bin is
# missing or /dev/kvm unusable; sets BIOS, OUT and ERR (removed at exit) and fail=0.
BIOS=/usr/share/seabios/bios.bin
[ -r "$BIOS" ] || { echo "SKIP: $BIOS not installed (apt-get install seabios)"; exit 77; }
if ! (exec 3<>/dev/kvm) 2>/dev/null; then
	echo "SKIP: /dev/kvm is not usable"
	exit 77
fi

OUT=$(mktemp)
ERR=$(mktemp)
trap 'rm -f "$OUT" "$ERR"' EXIT
fail=0

# Ends the test: 1 with the run's output if anything failed, else 0 with "ok: $1".
finish() {
	if [ "$fail" -ne 0 ]; then
		echo "---- stdout"
		cat "$OUT"
		echo "---- stderr"
		cat "$ERR"
		exit 1
	fi
	echo "ok: $1 (exit status $status)"
	exit 0
}
