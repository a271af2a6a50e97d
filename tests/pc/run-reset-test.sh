#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Guest resets under the real host: a boot sector of examples/pc/resetsect.S counts its boots
# in RAM that a reset keeps and resets the machine until boot BOOTS.
#   run-reset-test.sh PLUGVM PC_PLUGIN IMAGE BOOTS MODE
# MODE:
#   jailed         the default jail (unjailed where the plugin is sanitized: the default
#                  seccomp policy kills the sanitizer runtime), BOOTS POSTs, then the last line
#   unjailed       the same with --disable-sandbox
#   smp            unjailed with --cpus 2: every POST finds both vcpus again
#   no-reboot      --no-reboot: the first reset powers off (one line; exit 1, or 0 with --stay
#                  after the --expect text)
#   no-extensions  plugvm run --no-extensions (no reset extension): the same power off
# A reboot shows as one more SeaBIOS banner (the version line that starts a POST and is followed
# by its BUILD line; SeaBIOS prints the version once more when its console comes up) before the
# next boot's line.  The output must be exactly: banner, "boot 1, resetting", banner, ...,
# banner, "boot BOOTS, done".
set -u
PLUGVM=$1
PC=$2
IMAGE=$(realpath "$3")
BOOTS=$4
MODE=$5

. "$(dirname "$0")/pc-test-setup.sh"

# run HOST_OPTIONS... -- PLUGIN_OPTIONS...
run() {
	timeout -k 5 100 "$PLUGVM" run "$@" >"$OUT" 2>"$ERR"
	status=$?
}

check() {
	if ! eval "$1"; then
		echo "FAIL: $2"
		fail=1
	fi
}

# The sequence of banners (B) and the sector's lines (its text after "boot ") in the output.
events() {
	awk '/^SeaBIOS \(version / { v = 1; next }
	     v && /^BUILD: / { printf "B;" }
	     { v = 0 }
	     /^plugvm reset sector: / { sub(/^plugvm reset sector: (boot )?/, ""); sub(/\r$/, "");
	                                printf "%s;", $0 }' "$OUT"
}

# The events of N boots that reset until the last one.
expected() {
	i=1
	while [ "$i" -lt "$1" ]; do
		printf 'B;%d, resetting;' "$i"
		i=$((i + 1))
	done
	printf 'B;%d, done;' "$1"
}

host=--disable-sandbox
if [ "$MODE" = jailed ] && [ "${PLUGVM_SANITIZE:-none}" = none ]; then
	host="--plugin-mount $(dirname "$BIOS") --plugin-mount $(dirname "$IMAGE")"
fi
cpus=1
[ "$MODE" = smp ] && cpus=2
last="boot $BOOTS, done"

case "$MODE" in
jailed | unjailed | smp)
	# shellcheck disable=SC2086 # $host is a list of options
	run $host --cpus "$cpus" --plugin "$PC" -- --bios "$BIOS" --disk "$IMAGE" \
		--timeout 90 --expect "$last"
	check '[ "$status" -eq 0 ]' "exit status $status, expected 0"
	got=$(events)
	want=$(expected "$BOOTS")
	check '[ "$got" = "$want" ]' "boots: got '$got', want '$want'"
	n=$(grep -c "^plugin: pc: guest requested a reset (.*) at .*; rebooting$" "$ERR")
	[ "$(basename "$IMAGE" .bin)" = resetsect-triple ] &&
		n=$(grep -c "^plugin: pc: triple fault on vcpu 0 at .*; rebooting$" "$ERR")
	check '[ "$n" -eq $((BOOTS - 1)) ]' "$n reboot lines on stderr, expected $((BOOTS - 1))"
	if [ "$MODE" = smp ]; then
		n=$(grep -c "^Found 2 cpu(s) max supported 2 cpu(s)" "$OUT")
		check '[ "$n" -eq "$BOOTS" ]' "$n POSTs found both vcpus, expected $BOOTS"
	fi
	;;
no-reboot | no-extensions)
	if [ "$MODE" = no-reboot ]; then
		hostopt=
		plugopt=--no-reboot
	else
		hostopt=--no-extensions
		plugopt=
	fi
	# Until the --expect text: exit 1 (README: "It exits 1 ... on a guest reset").
	# shellcheck disable=SC2086
	run --disable-sandbox $hostopt --plugin "$PC" -- $plugopt --bios "$BIOS" \
		--disk "$IMAGE" --timeout 90 --expect "$last"
	check '[ "$status" -eq 1 ]' "exit status $status, expected 1"
	got=$(events)
	check '[ "$got" = "B;1, resetting;" ]' "boots: got '$got', want one"
	check 'grep -q "^plugin: pc: guest requested a reset (.*) at .*; powering off$" "$ERR"' \
		"no power-off line"
	if [ "$MODE" = no-reboot ]; then
		check '[ "$(grep -c "^plugin: pc: " "$ERR")" -eq 1 ]' "more than one line"
	else
		check 'grep -q "^plugin: pc: the host cannot reset vcpus: a guest reset powers off$" \
			"$ERR"' "no line about the missing extension"
		check '[ "$(grep -c "^plugin: pc: " "$ERR")" -eq 2 ]' "more than two lines"
	fi
	# After the --expect text, with --stay: the power off ends the run with 0.
	# shellcheck disable=SC2086
	run --disable-sandbox $hostopt --plugin "$PC" -- $plugopt --bios "$BIOS" \
		--disk "$IMAGE" --timeout 90 --expect "boot 1, resetting" --stay
	check '[ "$status" -eq 0 ]' "--stay: exit status $status, expected 0"
	got=$(events)
	check '[ "$got" = "B;1, resetting;" ]' "--stay: boots: got '$got', want one"
	check 'grep -q "^plugin: pc: guest requested a reset (.*) at .*; powering off$" "$ERR"' \
		"--stay: no power-off line"
	;;
*)
	echo "unknown mode $MODE"
	exit 2
	;;
esac

finish "$(basename "$IMAGE") $MODE, $BOOTS boots"
