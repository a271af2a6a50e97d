#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright 2026 The plugvm Authors.
#
# Installs the build into a staging directory, then builds the hello-serial
# example from its sources using only `pkg-config --cflags --libs
# crosvm_plugin` (shared and static), and runs it with the installed plugvm.
# Usage: test-install.sh BUILD_DIR SOURCE_DIR
set -eu
# meson test points LD_LIBRARY_PATH at the build tree; the installed tree must stand alone.
unset LD_LIBRARY_PATH
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

meson install --no-rebuild --quiet -C "$BUILD" --destdir "$STAGE" >"$STAGE/install.log" 2>&1 ||
	{ cat "$STAGE/install.log" >&2; fail "meson install"; }

pc=$(find "$STAGE" -name crosvm_plugin.pc | head -n 1)
[ -n "$pc" ] || fail "crosvm_plugin.pc not installed"
plugvm=$(find "$STAGE" -type f -name plugvm -perm -u+x | head -n 1)
[ -n "$plugvm" ] || fail "plugvm not installed"
for f in crosvm.h libcrosvm_plugin.so.0 libcrosvm_plugin.so libcrosvm_plugin.a plugvm.1 crosvm_plugin.3; do
	[ -n "$(find "$STAGE" -name "$f" | head -n 1)" ] || fail "$f not installed"
done
so=$(find "$STAGE" -name libcrosvm_plugin.so.0 | head -n 1)
readelf -d "$so" | grep -q 'SONAME.*libcrosvm_plugin.so.0' || fail "wrong soname"

# Point the .pc file's prefix at its staged location, as a package build would.
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
prefix=$(pkg-config --variable=prefix crosvm_plugin)
PC="pkg-config --define-variable=prefix=$STAGE$prefix"
$PC --exists crosvm_plugin || fail "pkg-config does not find crosvm_plugin"
[ "$($PC --modversion crosvm_plugin)" = 0.23.0 ] || fail "wrong version"
cflags=$($PC --cflags crosvm_plugin)
# A sanitized build's library needs its runtime in the program too.
[ "${PLUGVM_SANITIZE:-none}" != none ] && cflags="$cflags -fsanitize=$PLUGVM_SANITIZE"
libs=$($PC --libs crosvm_plugin)
libdir=$($PC --variable=libdir crosvm_plugin)
case "$libdir" in "$STAGE"/*) ;; *) fail "libdir $libdir is not in the staging prefix" ;; esac

ex="$SRC/examples"
# Shared: runtime path to the staged library directory.
cc -o "$STAGE/hello-shared" $cflags "$ex/hello-serial.c" "$ex/hello-serial-guest.S" \
	$libs -Wl,-rpath,"$libdir" -pthread || fail "build against the shared library"
# Static: --static pulls in the private requirements (libprotobuf-c).
cc -o "$STAGE/hello-static" $cflags "$ex/hello-serial.c" "$ex/hello-serial-guest.S" \
	-Wl,-Bstatic -lcrosvm_plugin -Wl,-Bdynamic $($PC --static --libs-only-other --libs-only-L crosvm_plugin) \
	$(pkg-config --libs libprotobuf-c) -pthread || fail "build against the static library"
ldd "$STAGE/hello-static" | grep -q libcrosvm_plugin && fail "static build still needs the .so"
ldd "$STAGE/hello-shared" | grep -q "$libdir/libcrosvm_plugin.so.0" || fail "shared build does not use the staged library"

man -l --warnings "$(find "$STAGE" -name plugvm.1 | head -n 1)" >/dev/null 2>"$STAGE/man.err" || true
[ -s "$STAGE/man.err" ] && { cat "$STAGE/man.err" >&2; fail "plugvm.1 renders with warnings"; }
man -l --warnings "$(find "$STAGE" -name crosvm_plugin.3 | head -n 1)" >/dev/null 2>"$STAGE/man.err" || true
[ -s "$STAGE/man.err" ] && { cat "$STAGE/man.err" >&2; fail "crosvm_plugin.3 renders with warnings"; }

if ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
	echo "SKIP: /dev/kvm not usable; built but not run" >&2
	exit 77
fi
for v in shared static; do
	out=$("$plugvm" run --disable-sandbox --plugin "$STAGE/hello-$v" 2>"$STAGE/err") ||
		{ cat "$STAGE/err" >&2; fail "installed plugvm with the $v example exited $?"; }
	echo "$out" | grep -q "Hello" || fail "no greeting from the $v example: $out"
done
echo "installed tree builds and runs the example (shared and static)"
