// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The pc example's snapshot file format (examples/pc/README.md, "Snapshot
 * file format"): a header, then sections of tag, version, length and
 * CRC-32, each padded to 8 bytes, the last one "END ".  All integers are
 * little-endian.  This file knows nothing of what the sections hold; the
 * device models serialise themselves with struct snap_out / snap_in.
 */
#ifndef PLUGVM_EXAMPLES_PC_SNAPSHOT_H
#define PLUGVM_EXAMPLES_PC_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "PLUGVMPC"
/* Version 2 adds each vcpu's XSAVE area; version 1 files are still read. */
#define SNAP_FORMAT_VERSION 2u
#define SNAP_FORMAT_OLDEST 1u
#define SNAP_HEADER_SIZE 32u
#define SNAP_SECTION_HEADER 24u
#define SNAP_MAX_SECTIONS 1024u

/* A section tag from four characters, as it reads in a hex dump. */
#define SNAP_TAG(a, b, c, d) \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define SNAP_TAG_END SNAP_TAG('E', 'N', 'D', ' ')

/* ---- payloads in memory ---- */

/* A growing buffer; after an allocation failure it keeps `failed` and drops everything. */
struct snap_out {
	uint8_t *buf;
	size_t len, cap;
	bool failed;
};

void snap_put(struct snap_out *o, const void *p, size_t n);
void snap_put_u8(struct snap_out *o, uint8_t v);
void snap_put_u16(struct snap_out *o, uint16_t v);
void snap_put_u32(struct snap_out *o, uint32_t v);
void snap_put_u64(struct snap_out *o, uint64_t v);
void snap_out_free(struct snap_out *o);

/* Reading a payload: a read past the end sets `bad` and yields zeros. */
struct snap_in {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};

void snap_in_init(struct snap_in *in, const void *p, size_t len);
void snap_get(struct snap_in *in, void *dst, size_t n);
uint8_t snap_get_u8(struct snap_in *in);
uint16_t snap_get_u16(struct snap_in *in);
uint32_t snap_get_u32(struct snap_in *in);
uint64_t snap_get_u64(struct snap_in *in);
bool snap_get_bool(struct snap_in *in); /* anything but 0 or 1 makes `bad` */
/* Points at the next n bytes without copying (NULL and `bad` if there are fewer). */
const uint8_t *snap_get_ptr(struct snap_in *in, size_t n);
/* The payload was consumed exactly and nothing was out of range. */
bool snap_in_ok(const struct snap_in *in);

/* ---- writing a file ---- */

struct snap_writer {
	int fd;
	uint64_t off;        /* bytes written so far */
	uint64_t sect_off;   /* where the open section's header is */
	uint64_t sect_len;
	uint32_t sect_tag, sect_version, sect_crc;
	uint32_t nsections;
	int err;             /* first error, as -errno */
};

/* Starts a file on `fd` (empty, positioned at 0); the header is written by snap_write_finish. */
void snap_write_begin(struct snap_writer *w, int fd);
void snap_section_begin(struct snap_writer *w, uint32_t tag, uint32_t version);
void snap_section_data(struct snap_writer *w, const void *p, size_t n);
void snap_section_end(struct snap_writer *w);
void snap_write_section(struct snap_writer *w, uint32_t tag, uint32_t version,
			const struct snap_out *o);
/* Adds "END " and the header; returns 0 or the first error (-ENOMEM for a failed snap_out). */
int snap_write_finish(struct snap_writer *w);

/* ---- reading a file ---- */

struct snap_section {
	uint32_t tag, version;
	const uint8_t *data;
	uint64_t len;
};

struct snap_file {
	void *map;
	size_t size;
	struct snap_section *sect;
	unsigned int nsect;
};

/*
 * Maps `path` and checks all of it: magic, format version, length, every
 * section's bounds and CRC-32, the END section last.  On failure one line
 * in `err` says what is wrong and -EINVAL (or the errno of open/read) comes
 * back; nothing stays mapped.
 */
int snap_open(const char *path, struct snap_file *f, char *err, size_t errlen);
/* The nth section with `tag` (0 for the first), or NULL. */
const struct snap_section *snap_find(const struct snap_file *f, uint32_t tag, unsigned int nth);
unsigned int snap_count(const struct snap_file *f, uint32_t tag);
void snap_close(struct snap_file *f);
/* "RAM " for a tag, into buf[5]. */
const char *snap_tag_name(uint32_t tag, char buf[5]);

#endif /* PLUGVM_EXAMPLES_PC_SNAPSHOT_H */
