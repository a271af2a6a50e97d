// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Linux for the option ROM route: the plugin lays out a bzImage the way the
 * x86 boot protocol (Documentation/x86/boot.rst) asks a boot loader to, and
 * hands the pieces to the firmware through fw_cfg; QEMU's linuxboot option
 * ROM (Debian's qemu-system-data, run by SeaBIOS from "genroms/") copies
 * them into place and jumps to the real-mode setup code.
 *
 * Layout, as QEMU and SeaBIOS agree on it for a protocol >= 2.02 kernel
 * that loads high: setup code at 0x10000, its heap up to the command line
 * at 0x20000, the protected-mode kernel at 1 MiB, the initrd as high as the
 * kernel allows and RAM below 4 GiB leaves room for the firmware's tables.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pc.h"

/* Setup header offsets in the bzImage's first sectors. */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_CMDLINE_SIZE 0x238
#define HDR_INIT_SIZE 0x260
#define HDR_END 0x268

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80
#define LOADER_UNDEFINED 0xff /* "boot loader with no assigned id" */

#define SETUP_ADDR 0x10000u
#define CMDLINE_ADDR 0x20000u
#define CMDLINE_END 0x9f000u /* below the EBDA */
#define KERNEL_ADDR 0x100000u
/* Kept free at the top of RAM below 4 GiB: SeaBIOS's high zone and ACPI tables. */
#define FIRMWARE_RESERVE 0x100000u

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

int linux_prepare(uint8_t *image, size_t size, size_t initrd_size, size_t cmdline_len,
		  uint64_t ram_below_4g, struct linux_layout *out, char *err, size_t errlen)
{
	uint32_t setup_sects, setup_size, version, initrd_max, cmdline_max, kernel_need;
	uint64_t top;

	memset(out, 0, sizeof(*out));
	if (size < HDR_END || get32(image + HDR_MAGIC) != 0x53726448 /* "HdrS" */ ||
	    get16(image + HDR_BOOT_FLAG) != 0xaa55) {
		snprintf(err, errlen, "not a bzImage (no \"HdrS\" setup header)");
		return -EINVAL;
	}
	version = get16(image + HDR_VERSION);
	if (version < 0x0202 || !(image[HDR_LOADFLAGS] & LOADED_HIGH)) {
		snprintf(err, errlen,
			 "boot protocol %u.%02u%s: only bzImages of protocol 2.02 and later load",
			 version >> 8, version & 0xff,
			 (image[HDR_LOADFLAGS] & LOADED_HIGH) ? "" : " (a zImage)");
		return -EINVAL;
	}
	setup_sects = image[HDR_SETUP_SECTS] ? image[HDR_SETUP_SECTS] : 4;
	setup_size = (setup_sects + 1) * 512;
	if (setup_size >= size || setup_size > CMDLINE_ADDR - SETUP_ADDR) {
		snprintf(err, errlen, "setup code of %u sectors does not fit (file %zu bytes)",
			 setup_sects, size);
		return -EINVAL;
	}
	out->setup_size = setup_size;
	out->kernel_size = (uint32_t)(size - setup_size);

	/* The kernel decompresses in place: it needs init_size bytes from 1 MiB (2.10+). */
	kernel_need = out->kernel_size;
	if (version >= 0x020a && get32(image + HDR_INIT_SIZE) > kernel_need)
		kernel_need = get32(image + HDR_INIT_SIZE);
	top = ram_below_4g > FIRMWARE_RESERVE ? ram_below_4g - FIRMWARE_RESERVE : 0;
	if (KERNEL_ADDR + (uint64_t)kernel_need > top) {
		snprintf(err, errlen,
			 "needs %" PRIu32 " bytes from 1 MiB but RAM below 4 GiB ends at %" PRIu64
			 " MiB",
			 kernel_need, ram_below_4g >> 20);
		return -E2BIG;
	}

	cmdline_max = version >= 0x0206 ? get32(image + HDR_CMDLINE_SIZE) : 255;
	if (cmdline_len > cmdline_max || cmdline_len >= CMDLINE_END - CMDLINE_ADDR) {
		snprintf(err, errlen, "command line of %zu bytes is longer than the kernel's %u",
			 cmdline_len, cmdline_max);
		return -E2BIG;
	}

	if (initrd_size) {
		initrd_max = version >= 0x0203 ? get32(image + HDR_INITRD_ADDR_MAX) : 0x37ffffff;
		if (initrd_max > top - 1)
			initrd_max = (uint32_t)(top - 1);
		if (initrd_size > initrd_max ||
		    ((initrd_max - initrd_size + 1) & ~0xfffu) < KERNEL_ADDR + kernel_need) {
			snprintf(err, errlen,
				 "%zu bytes do not fit between the kernel's end (%" PRIu64
				 " MiB) and %u MiB",
				 initrd_size, ((uint64_t)KERNEL_ADDR + kernel_need) >> 20,
				 (initrd_max + 1) >> 20);
			return -E2BIG;
		}
		out->initrd_addr = (initrd_max - (uint32_t)initrd_size + 1) & ~0xfffu;
		out->initrd_size = (uint32_t)initrd_size;
	}

	out->setup_addr = SETUP_ADDR;
	out->cmdline_addr = CMDLINE_ADDR;
	out->kernel_addr = KERNEL_ADDR;
	out->version = (uint16_t)version;
	/* What a boot loader fills in (boot.rst, "Details of header fields"). */
	image[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	image[HDR_LOADFLAGS] |= CAN_USE_HEAP;
	image[HDR_HEAP_END_PTR] = (uint8_t)(CMDLINE_ADDR - SETUP_ADDR - 0x200);
	image[HDR_HEAP_END_PTR + 1] = (uint8_t)((CMDLINE_ADDR - SETUP_ADDR - 0x200) >> 8);
	put32(image + HDR_CMD_LINE_PTR, CMDLINE_ADDR);
	put32(image + HDR_RAMDISK_IMAGE, out->initrd_addr);
	put32(image + HDR_RAMDISK_SIZE, out->initrd_size);
	return 0;
}
