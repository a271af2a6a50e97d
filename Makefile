# SPDX-License-Identifier: BSD-3-Clause
# Thin wrapper over meson: `make run` and `make test` work on a fresh Debian 12 machine.

BUILD ?= build
MESON_OPTS ?= --werror

.PHONY: all deps configure build run test bench install clean

all: build

deps:
	@sh scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

configure: deps $(BUILD)/build.ninja

build: configure
	ninja -C $(BUILD)

# The main job: a real KVM guest, driven by the example plugin, greets through a plugin-emulated serial port.
run: build
	$(BUILD)/host/plugvm run --plugin $(BUILD)/examples/hello-serial

test: build
	sh scripts/run-tests.sh $(BUILD)

bench: build
	meson test -C $(BUILD) --benchmark --verbose

# make install [PREFIX=/usr/local] [DESTDIR=/staging]
PREFIX ?= /usr/local
install: build
	meson configure $(BUILD) -Dprefix=$(PREFIX)
	meson install -C $(BUILD) $(if $(DESTDIR),--destdir $(DESTDIR))

clean:
	rm -rf $(BUILD)
