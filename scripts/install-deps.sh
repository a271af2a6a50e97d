#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Installs the Debian 12 packages plugvm needs to build and test, if missing.
set -eu

PKGS="meson ninja-build gcc clang libclang-rt-14-dev pkg-config binutils python3 \
protobuf-c-compiler libprotobuf-c-dev libcmocka-dev libseccomp-dev libcap-dev \
iproute2 util-linux man-db groff-base seabios valgrind \
grub-pc-bin mtools fdisk qemu-system-x86 busybox-static linux-image-cloud-amd64"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
else
	SUDO="sudo"
fi
echo "install-deps: installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
