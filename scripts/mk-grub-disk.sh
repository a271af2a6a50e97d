#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Builds a BIOS disk image that boots GRUB 2 to its prompt on COM1, from Debian's
# grub-pc-bin, mtools and fdisk (sfdisk), without loop devices or root:
#
#   mk-grub-disk.sh OUT.img [--kernel BZIMAGE] [--initrd FILE] [--size MIB]
#
# Layout: an MBR partition table made by sfdisk on the file, one FAT partition from
# sector 2048 (mformat on a separate file, copied in with dd), GRUB's boot.img in the
# MBR's first 440 bytes and a grub-mkimage core image (every module it needs built in,
# serial console set up by an embedded config) in the gap from sector 1.  The FAT
# holds /hello.txt, an empty /boot/grub/grubenv for save_env, and with --kernel and
# --initrd the files /vmlinuz and /initrd.img.  There is no grub.cfg: GRUB stops at
# "grub>".
set -eu

usage() {
	echo "usage: mk-grub-disk.sh OUT.img [--kernel BZIMAGE] [--initrd FILE] [--size MIB]" >&2
	exit 1
}

[ $# -ge 1 ] || usage
out=$1
shift
kernel= initrd= size=
while [ $# -gt 0 ]; do
	case "$1" in
	--kernel) [ $# -ge 2 ] || usage; kernel=$2; shift 2 ;;
	--initrd) [ $# -ge 2 ] || usage; initrd=$2; shift 2 ;;
	--size) [ $# -ge 2 ] || usage; size=$2; shift 2 ;;
	*) usage ;;
	esac
done

grubdir=/usr/lib/grub/i386-pc
for tool in grub-mkimage grub-editenv sfdisk mformat mcopy mmd; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$tool" >/dev/null 2>&1 || {
		echo "mk-grub-disk.sh: $tool is missing (apt-get install grub-pc-bin mtools fdisk)" >&2
		exit 1
	}
done
[ -r "$grubdir/boot.img" ] || {
	echo "mk-grub-disk.sh: $grubdir/boot.img is missing (apt-get install grub-pc-bin)" >&2
	exit 1
}
for f in $kernel $initrd; do
	[ -r "$f" ] || { echo "mk-grub-disk.sh: cannot read $f" >&2; exit 1; }
done

# Big enough for the files plus FAT overhead; 32 MiB without a kernel.
if [ -z "$size" ]; then
	payload=0
	for f in $kernel $initrd; do
		payload=$((payload + $(stat -c %s "$f")))
	done
	size=$((payload / 1048576 + 32))
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The partition: everything after the first MiB.
part_sectors=$(( (size - 1) * 2048 ))
rm -f "$out"
truncate -s "${size}M" "$out"
echo "start=2048, size=$part_sectors, type=06, bootable" | sfdisk --quiet --label dos "$out"

truncate -s "$((part_sectors * 512))" "$tmp/part"
# 16 heads x 63 sectors as the BIOS sees the disk; the FAT starts 2048 sectors in.
mformat -i "$tmp/part" -T "$part_sectors" -h 16 -s 63 -H 2048 -v PLUGVM ::
echo "plugvm says hello from a FAT partition" >"$tmp/hello.txt"
grub-editenv "$tmp/grubenv" create
mmd -i "$tmp/part" ::/boot ::/boot/grub
mcopy -i "$tmp/part" "$tmp/hello.txt" ::/hello.txt
mcopy -i "$tmp/part" "$tmp/grubenv" ::/boot/grub/grubenv
[ -z "$kernel" ] || mcopy -i "$tmp/part" "$kernel" ::/vmlinuz
[ -z "$initrd" ] || mcopy -i "$tmp/part" "$initrd" ::/initrd.img
dd if="$tmp/part" of="$out" bs=1M seek=1 conv=notrunc,sparse status=none

# The serial console before anything else, so that "grub>" appears on COM1.
cat >"$tmp/early.cfg" <<'CFG'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set root=(hd0,msdos1)
CFG
grub-mkimage -O i386-pc -d "$grubdir" -o "$tmp/core.img" -c "$tmp/early.cfg" \
	-p "(hd0,msdos1)/boot/grub" \
	biosdisk part_msdos fat normal serial terminal ls cat echo test loadenv \
	linux boot minicmd halt sleep configfile
core_sectors=$(( ($(stat -c %s "$tmp/core.img") + 511) / 512 ))
[ "$core_sectors" -lt 2047 ] || { echo "mk-grub-disk.sh: core image too big" >&2; exit 1; }
# boot.img's code (not its partition table or signature) into the MBR; it loads the core
# image from sector 1, whose first sector (diskboot) loads the rest from sector 2.
dd if="$grubdir/boot.img" of="$out" bs=440 count=1 conv=notrunc status=none
dd if="$tmp/core.img" of="$out" bs=512 seek=1 conv=notrunc status=none
echo "mk-grub-disk.sh: $out: ${size} MiB, core image $core_sectors sectors"
