// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * QEMU's firmware configuration device, traditional (non-DMA) interface:
 * a 16-bit selector at 0x510 and a byte-wide data port at 0x511 that
 * streams the selected item.  SeaBIOS reads the file directory with one
 * "rep insb" per entry, so reads of any length are a byte stream.  The ID
 * item advertises the DMA interface (0x514) only when the plugin can reach
 * guest RAM for it (guest_ptr); the linuxboot_dma option ROM needs it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pc.h"

#define FWCFG_DIR_ENTRY 64 /* be32 size, be16 select, be16 reserved, name[56] */

void fwcfg_init(struct fwcfg *f)
{
	memset(f, 0, sizeof(*f));
	f->next_file_key = FWCFG_FILE_FIRST;
}

void fwcfg_free(struct fwcfg *f)
{
	unsigned int i;

	for (i = 0; i < f->nitems; i++)
		free(f->items[i].data);
	free(f->dir);
	f->nitems = 0;
	f->dir = NULL;
}

static struct fwcfg_item *fwcfg_find(struct fwcfg *f, uint16_t key)
{
	unsigned int i;

	for (i = 0; i < f->nitems; i++)
		if (f->items[i].key == key)
			return &f->items[i];
	return NULL;
}

static int fwcfg_insert(struct fwcfg *f, uint16_t key, const char *name, const void *data,
			uint32_t size)
{
	struct fwcfg_item *it;

	if (fwcfg_find(f, key) || key == FWCFG_FILE_DIR)
		return -EEXIST;
	if (f->nitems == FWCFG_MAX_ITEMS)
		return -ENOSPC;
	it = &f->items[f->nitems];
	memset(it, 0, sizeof(*it));
	if (size) {
		it->data = malloc(size);
		if (!it->data)
			return -ENOMEM;
		memcpy(it->data, data, size);
	}
	it->key = key;
	it->size = size;
	if (name)
		strcpy(it->name, name); /* length checked by the caller */
	f->nitems++;
	/* The directory is rebuilt on its next selection. */
	free(f->dir);
	f->dir = NULL;
	return 0;
}

int fwcfg_add(struct fwcfg *f, uint16_t key, const void *data, uint32_t size)
{
	if (key >= FWCFG_FILE_FIRST && key < 0x8000)
		return -EINVAL; /* reserved for files */
	return fwcfg_insert(f, key, NULL, data, size);
}

int fwcfg_add_file(struct fwcfg *f, const char *name, const void *data, uint32_t size)
{
	unsigned int i;
	int r;

	if (!name[0] || strlen(name) >= FWCFG_NAME_MAX)
		return -ENAMETOOLONG;
	for (i = 0; i < f->nitems; i++)
		if (!strcmp(f->items[i].name, name))
			return -EEXIST;
	if (f->next_file_key >= 0x4000)
		return -ENOSPC;
	r = fwcfg_insert(f, f->next_file_key, name, data, size);
	if (r == 0)
		f->next_file_key++;
	return r;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void fwcfg_build_dir(struct fwcfg *f)
{
	unsigned int i, n = 0;
	uint8_t *e;

	for (i = 0; i < f->nitems; i++)
		n += f->items[i].name[0] != 0;
	f->dir_size = 4 + n * FWCFG_DIR_ENTRY;
	f->dir = calloc(1, f->dir_size);
	if (!f->dir) {
		f->dir_size = 0;
		return; /* reads as an empty item: the firmware sees no files */
	}
	put_be32(f->dir, n);
	e = f->dir + 4;
	for (i = 0; i < f->nitems; i++) {
		const struct fwcfg_item *it = &f->items[i];

		if (!it->name[0])
			continue;
		put_be32(e, it->size);
		e[4] = (uint8_t)(it->key >> 8);
		e[5] = (uint8_t)it->key;
		memcpy(e + 8, it->name, strlen(it->name));
		e += FWCFG_DIR_ENTRY;
	}
}

static void fwcfg_read(struct fwcfg *f, uint8_t *data, uint32_t len)
{
	const uint8_t *src = NULL;
	uint32_t size = 0, n = 0;
	struct fwcfg_item *it;

	if (f->selector == FWCFG_FILE_DIR) {
		if (!f->dir)
			fwcfg_build_dir(f);
		src = f->dir;
		size = f->dir_size;
	} else if ((it = fwcfg_find(f, f->selector)) != NULL) {
		src = it->data;
		size = it->size;
	}
	/* Past the end of an item (or for an unknown key) the port reads zeros. */
	if (f->offset < size) {
		n = size - f->offset < len ? size - f->offset : len;
		memcpy(data, src + f->offset, n);
		f->offset += n;
	}
	memset(data + n, 0, len - n);
}

void fwcfg_io(struct fwcfg *f, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	if (port == 0x510) {
		if (is_write) {
			/* The write-channel bit (0x4000) is not supported; keep the key. */
			f->selector = (uint16_t)(data[0] | (len > 1 ? data[1] << 8 : 0));
			f->offset = 0;
		} else {
			memset(data, 0, len);
		}
		return;
	}
	if (is_write)
		return; /* data writes were removed from fw_cfg long ago */
	fwcfg_read(f, data, len);
}

/* DMA descriptor control bits (be32). */
#define DMA_ERROR 0x01
#define DMA_READ 0x02
#define DMA_SKIP 0x04
#define DMA_SELECT 0x08
#define DMA_WRITE 0x10

static uint64_t get_be(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* One descriptor: { be32 control, be32 length, be64 address }; control becomes 0 or ERROR. */
static void fwcfg_dma_run(struct fwcfg *f, uint64_t desc_gpa)
{
	uint8_t *desc = f->guest_ptr(f->guest_ptr_opaque, desc_gpa, 16), *dst;
	uint32_t control, length;
	uint64_t addr;

	if (!desc)
		return; /* nowhere to report an error either */
	control = (uint32_t)get_be(desc, 4);
	length = (uint32_t)get_be(desc + 4, 4);
	addr = get_be(desc + 8, 8);
	if (control & DMA_SELECT) {
		f->selector = (uint16_t)(control >> 16);
		f->offset = 0;
	}
	if (control & DMA_WRITE) {
		control = DMA_ERROR; /* writable items are not supported */
	} else if (control & DMA_READ) {
		dst = length ? f->guest_ptr(f->guest_ptr_opaque, addr, length) : desc;
		if (!dst)
			control = DMA_ERROR;
		else {
			fwcfg_read(f, dst, length);
			control = 0;
		}
	} else if (control & DMA_SKIP) {
		/* Skipping is reading into nowhere: the offset moves the same way. */
		f->offset = length > UINT32_MAX - f->offset ? UINT32_MAX : f->offset + length;
		control = 0;
	} else {
		control = 0;
	}
	put_be32(desc, control);
}

void fwcfg_dma_io(struct fwcfg *f, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	static const uint8_t signature[8] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };
	unsigned int off = (unsigned int)(port - 0x514), i;

	for (i = 0; i < len && off + i < 8; i++) {
		if (!is_write) {
			data[i] = f->guest_ptr ? signature[off + i] : 0xff;
			continue;
		}
		f->dma_addr[off + i] = data[i];
		if (off + i == 7 && f->guest_ptr) {
			fwcfg_dma_run(f, get_be(f->dma_addr, 8));
			memset(f->dma_addr, 0, sizeof(f->dma_addr));
		}
	}
	for (; i < len; i++)
		if (!is_write)
			data[i] = 0xff;
}
