#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Builds a tiny initramfs from Debian's busybox-static: /init mounts /proc, /sys and
# /dev, prints "plugvm initramfs: shell ready" on the console and starts a shell there.
#
#   mk-initramfs.sh OUT.cpio.gz
#
# No root needed: the archive is written by busybox's own cpio (newc), with every file
# owned by root inside the archive.
set -eu
[ $# -eq 1 ] || { echo "usage: mk-initramfs.sh OUT.cpio.gz" >&2; exit 1; }
out=$1
bb=/bin/busybox
[ -x "$bb" ] && "$bb" --list 2>/dev/null | grep -qx cpio || {
	echo "mk-initramfs.sh: $bb with cpio is missing (apt-get install busybox-static)" >&2
	exit 1
}
case "$out" in /*) ;; *) out=$(pwd)/$out ;; esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/root/bin" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/dev" "$tmp/root/tmp"
cp "$bb" "$tmp/root/bin/busybox"
for applet in sh mount echo cat ls uname poweroff; do
	ln -s busybox "$tmp/root/bin/$applet"
done
cat >"$tmp/root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "plugvm initramfs: shell ready ($(uname -r))"
exec sh </dev/console >/dev/console 2>&1
INIT
chmod 755 "$tmp/root/init"
# -R 0:0: root-owned files whoever builds the archive.
(cd "$tmp/root" && find . | "$bb" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -9 >"$out"
echo "mk-initramfs.sh: $out: $(stat -c %s "$out") bytes"
