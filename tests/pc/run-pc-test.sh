#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Runs the pc example under the real host and checks what SeaBIOS printed.
#   run-pc-test.sh PLUGVM PC_PLUGIN BOOTSECT CASE
# CASE: post | post-jailed | cmos | bootsector | smp | rtc-rate | rtc-rate-smp | rtc-rate-thread |
#       fail | bad-input
# Exit 77 (skip) only when /usr/share/seabios/bios.bin is missing or /dev/kvm unusable.
set -u
PLUGVM=$1
PC=$2
BOOTSECT=$3
CASE=$4
# Debian's linux-image-cloud-amd64 (scripts/install-deps.sh), for the bad-input case.
KERNEL=$(ls /boot/vmlinuz-*-cloud-amd64 2>/dev/null | tail -n 1)

. "$(dirname "$0")/pc-test-setup.sh"

# run [host options] -- [plugin options]; the host never needs more than the plugin's timeout.
run() {
	timeout -k 5 90 "$PLUGVM" run --disable-sandbox "$@" >"$OUT" 2>"$ERR"
	status=$?
}

expect_line() {
	if ! grep -qF -- "$1" "$OUT"; then
		echo "FAIL: output lacks: $1"
		fail=1
	fi
}

expect_status() {
	if [ "$status" -ne "$1" ]; then
		echo "FAIL: exit status $status, expected $1"
		fail=1
	fi
}

case "$CASE" in
post)
	# fw_cfg present: RAM size from etc/e820, no boot menu, no reboot after the failure.
	run --plugin "$PC" -- --bios "$BIOS" --timeout 60
	expect_status 0
	expect_line "SeaBIOS (version"
	expect_line "Running on QEMU (i440fx)"
	expect_line "Found QEMU fw_cfg"
	expect_line "qemu/e820: addr 0x0000000000000000 len 0x0000000008000000 [RAM]"
	expect_line "PIIX3/PIIX4 init: elcr=00 0c"
	expect_line "Found 1 serial ports"
	expect_line "PS2 keyboard initialized"
	expect_line "No bootable device."
	if grep -q "Retrying in" "$OUT"; then
		echo "FAIL: etc/boot-fail-wait was not honoured"
		fail=1
	fi
	;;
post-jailed)
	# The same POST in the default jail: only the firmware directory is mounted in.
	# A sanitized plugin cannot run there: the default seccomp policy (rightly) kills
	# the sanitizer runtime's extra system calls.
	if [ "${PLUGVM_SANITIZE:-none}" != none ]; then
		echo "SKIP: plugin built with -fsanitize=$PLUGVM_SANITIZE cannot run under the default policy"
		exit 77
	fi
	timeout -k 5 90 "$PLUGVM" run --plugin-mount "$(dirname "$BIOS")" --plugin "$PC" -- \
		--bios "$BIOS" --timeout 60 >"$OUT" 2>"$ERR"
	status=$?
	expect_status 0
	expect_line "SeaBIOS (version"
	expect_line "No bootable device."
	;;
cmos)
	# No fw_cfg: SeaBIOS takes RAM size from the CMOS registers and shows the boot menu
	# prompt, whose 2.5 s wait needs the in-kernel PIT's IRQ 0.
	run --plugin "$PC" -- --bios "$BIOS" --no-fw-cfg --mem 200 --timeout 60
	expect_status 0
	expect_line "RamSize: 0x0c800000 [cmos]"
	expect_line "Press ESC for boot menu."
	expect_line "No bootable device."
	;;
bootsector)
	# ATA PIO disk: SeaBIOS finds it, boots the sector, which sleeps on the RTC interrupt
	# and writes to COM1.
	run --plugin "$PC" -- --bios "$BIOS" --disk "$BOOTSECT" --timeout 60 \
		--expect "plugvm boot sector: slept 20 ms, booted from drive 0x80"
	expect_status 0
	expect_line "ata0-0: plugvm pc example disk ATA-6 Hard-Disk"
	expect_line "Booting from Hard Disk..."
	expect_line "plugvm boot sector: slept 20 ms, booted from drive 0x80"
	;;
smp)
	# Two vcpus: SeaBIOS wakes the second through the in-kernel LAPIC and counts it.
	run --cpus 2 --plugin "$PC" -- --bios "$BIOS" --timeout 60
	expect_status 0
	expect_line "Found 2 cpu(s) max supported 2 cpu(s)"
	expect_line "No bootable device."
	;;
rtc-rate | rtc-rate-smp | rtc-rate-thread)
	# BOOTSECT is tests/pc/rtcrate.S: the RTC at 64 Hz must interrupt 128 times in 2 s of
	# the RTC's own clock, timed on vcpu 0's thread (the default, one or two vcpus) or on
	# its own (--rtc-thread).  The window allows one off at either end and the ticks a
	# loaded machine loses (a thread not scheduled for a whole period fires one tick, as
	# an RTC whose interrupt is not acknowledged does; 114 seen once in 30 runs); half or
	# double the rate, or no interrupts, fall far outside.
	cpus=1
	[ "$CASE" = rtc-rate-smp ] && cpus=2
	opt=
	[ "$CASE" = rtc-rate-thread ] && opt=--rtc-thread
	# shellcheck disable=SC2086
	run --cpus "$cpus" --plugin "$PC" -- --bios "$BIOS" --disk "$BOOTSECT" $opt --timeout 60 \
		--expect " interrupts in 2 s"
	expect_status 0
	n=$(sed -n 's/^plugvm rtc rate: \([0-9]*\) interrupts in 2 s.*/\1/p' "$OUT")
	if [ -z "$n" ] || [ "$n" -lt 108 ] || [ "$n" -gt 134 ]; then
		echo "FAIL: '$n' RTC interrupts in 2 s at 64 Hz, expected 108..134"
		fail=1
	fi
	if grep -q "the RTC runs on a thread of its own" "$ERR"; then
		echo "FAIL: the library's vcpu kick was not used"
		fail=1
	fi
	;;
fail)
	# The run must fail cleanly when the expected text never comes.
	run --plugin "$PC" -- --bios "$BIOS" --timeout 3 --expect "this text is never printed"
	expect_status 1
	if ! grep -q "timed out after 3.0 s" "$ERR"; then
		echo "FAIL: no timeout message"
		fail=1
	fi
	;;
bad-input)
	# Disks that cannot be one: a single clear line from the plugin and exit status 1.
	D=$(mktemp -d)
	trap 'rm -rf "$OUT" "$ERR" "$D"' EXIT
	cat "$BOOTSECT" "$BOOTSECT" | head -c 1000 >"$D/short.img"
	printf 'not a disk\n' >"$D/text.img"
	truncate -s 4096 "$D/text.img"
	# A partition table that claims 100 sectors from sector 2048 on an 8-sector file.
	cp "$BOOTSECT" "$D/cut.img"
	printf '\000\010\000\000\144\000\000\000' |
		dd of="$D/cut.img" bs=1 seek=$((446 + 8)) conv=notrunc status=none
	printf '\006' | dd of="$D/cut.img" bs=1 seek=$((446 + 4)) conv=notrunc status=none
	truncate -s 4096 "$D/cut.img"
	for c in "missing:$D/none.img:cannot open" "directory:$D:not a regular file" \
		"short:$D/short.img:not a whole number of 512-byte sectors" \
		"text:$D/text.img:not a disk image" "cut:$D/cut.img:partition 1 ends at sector 2148"; do
		name=${c%%:*}
		rest=${c#*:}
		img=${rest%%:*}
		msg=${rest#*:}
		run --plugin "$PC" -- --bios "$BIOS" --disk "$img" --timeout 10
		expect_status 1
		if [ "$(grep -c '^plugin: pc: ' "$ERR")" != 1 ] || ! grep -qF -- "$msg" "$ERR"; then
			echo "FAIL: $name disk: want one line with '$msg'"
			fail=1
		fi
	done
	run --plugin "$PC" -- --disk-writable
	expect_status 1
	grep -q "needs --disk" "$ERR" || { echo "FAIL: --disk-writable without --disk"; fail=1; }
	# Kernels: not a bzImage, and an initrd bigger than the RAM the kernel leaves.
	truncate -s 16M "$D/initrd"
	for c in "notbz:$BOOTSECT::not a bzImage" "bigrd:$KERNEL:$D/initrd:do not fit"; do
		name=${c%%:*}
		rest=${c#*:}
		kernel=${rest%%:*}
		rest=${rest#*:}
		initrd=${rest%%:*}
		msg=${rest#*:}
		[ -n "$kernel" ] && [ -r "$kernel" ] || continue
		[ -e /usr/share/qemu/linuxboot_dma.bin ] || continue
		run --plugin "$PC" -- --bios "$BIOS" --mem 64 --kernel "$kernel" \
			${initrd:+--initrd "$initrd"} --timeout 10
		expect_status 1
		if [ "$(grep -c '^plugin: pc: ' "$ERR")" != 1 ] || ! grep -qF -- "$msg" "$ERR"; then
			echo "FAIL: $name kernel: want one line with '$msg'"
			fail=1
		fi
	done
	;;
*)
	echo "unknown case $CASE"
	exit 2
	;;
esac

finish "$CASE"
