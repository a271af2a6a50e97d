// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Snapshot file format of the pc example (see snapshot.h and
 * examples/pc/README.md).  The writer streams sections and patches each
 * section header (and the file header, last) in place once its length and
 * CRC are known, so a file cut short by a crash has no valid header.  The
 * reader validates the whole file before any caller looks at a section.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "snapshot.h"

/* ---- payloads in memory ---- */

void snap_put(struct snap_out *o, const void *p, size_t n)
{
	if (o->failed || !n)
		return;
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		uint8_t *b;

		while (cap < o->len + n)
			cap *= 2;
		b = realloc(o->buf, cap);
		if (!b) {
			o->failed = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void put_le(struct snap_out *o, uint64_t v, unsigned int n)
{
	uint8_t b[8];
	unsigned int i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	snap_put(o, b, n);
}

void snap_put_u8(struct snap_out *o, uint8_t v)
{
	snap_put(o, &v, 1);
}

void snap_put_u16(struct snap_out *o, uint16_t v)
{
	put_le(o, v, 2);
}

void snap_put_u32(struct snap_out *o, uint32_t v)
{
	put_le(o, v, 4);
}

void snap_put_u64(struct snap_out *o, uint64_t v)
{
	put_le(o, v, 8);
}

void snap_out_free(struct snap_out *o)
{
	free(o->buf);
	memset(o, 0, sizeof(*o));
}

void snap_in_init(struct snap_in *in, const void *p, size_t len)
{
	in->p = p;
	in->len = len;
	in->off = 0;
	in->bad = false;
}

const uint8_t *snap_get_ptr(struct snap_in *in, size_t n)
{
	const uint8_t *p;

	if (in->bad || n > in->len - in->off) {
		in->bad = true;
		return NULL;
	}
	p = in->p + in->off;
	in->off += n;
	return p;
}

void snap_get(struct snap_in *in, void *dst, size_t n)
{
	const uint8_t *p = snap_get_ptr(in, n);

	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t get_le_in(struct snap_in *in, unsigned int n)
{
	const uint8_t *p = snap_get_ptr(in, n);

	return p ? get_le(p, n) : 0;
}

uint8_t snap_get_u8(struct snap_in *in)
{
	return (uint8_t)get_le_in(in, 1);
}

uint16_t snap_get_u16(struct snap_in *in)
{
	return (uint16_t)get_le_in(in, 2);
}

uint32_t snap_get_u32(struct snap_in *in)
{
	return (uint32_t)get_le_in(in, 4);
}

uint64_t snap_get_u64(struct snap_in *in)
{
	return get_le_in(in, 8);
}

bool snap_get_bool(struct snap_in *in)
{
	uint8_t v = snap_get_u8(in);

	if (v > 1)
		in->bad = true;
	return v == 1;
}

bool snap_in_ok(const struct snap_in *in)
{
	return !in->bad && in->off == in->len;
}

/* ---- writing ---- */

static void put_le_buf(uint8_t *p, uint64_t v, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t crc(uint32_t c, const void *p, size_t n)
{
	const uint8_t *b = p;

	/* zlib takes lengths as uInt: feed it in pieces below 4 GiB. */
	while (n) {
		size_t k = n > (1u << 30) ? (1u << 30) : n;

		c = (uint32_t)crc32(c, b, (uInt)k);
		b += k;
		n -= k;
	}
	return c;
}

static void w_pwrite(struct snap_writer *w, const void *p, size_t n, uint64_t off)
{
	const uint8_t *b = p;

	while (!w->err && n) {
		ssize_t k = pwrite(w->fd, b, n, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			w->err = k < 0 ? -errno : -EIO;
			return;
		}
		b += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
}

static void w_append(struct snap_writer *w, const void *p, size_t n)
{
	w_pwrite(w, p, n, w->off);
	if (!w->err)
		w->off += n;
}

void snap_write_begin(struct snap_writer *w, int fd)
{
	static const uint8_t zero[SNAP_HEADER_SIZE];

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	/* Zeros until the end: an unfinished file has no magic. */
	w_append(w, zero, sizeof(zero));
}

void snap_section_begin(struct snap_writer *w, uint32_t tag, uint32_t version)
{
	static const uint8_t zero[SNAP_SECTION_HEADER];

	w->sect_off = w->off;
	w->sect_len = 0;
	w->sect_tag = tag;
	w->sect_version = version;
	w->sect_crc = (uint32_t)crc32(0, NULL, 0);
	w_append(w, zero, sizeof(zero));
}

void snap_section_data(struct snap_writer *w, const void *p, size_t n)
{
	w->sect_crc = crc(w->sect_crc, p, n);
	w->sect_len += n;
	w_append(w, p, n);
}

void snap_section_end(struct snap_writer *w)
{
	static const uint8_t pad[8];
	uint8_t h[SNAP_SECTION_HEADER];

	if (w->sect_len % 8)
		w_append(w, pad, 8 - w->sect_len % 8);
	put_le_buf(h, w->sect_tag, 4);
	put_le_buf(h + 4, w->sect_version, 4);
	put_le_buf(h + 8, w->sect_len, 8);
	put_le_buf(h + 16, w->sect_crc, 4);
	put_le_buf(h + 20, crc(0, h, 20), 4);
	w_pwrite(w, h, sizeof(h), w->sect_off);
	w->nsections++;
}

void snap_write_section(struct snap_writer *w, uint32_t tag, uint32_t version,
			const struct snap_out *o)
{
	if (o->failed && !w->err)
		w->err = -ENOMEM;
	snap_section_begin(w, tag, version);
	snap_section_data(w, o->buf, o->len);
	snap_section_end(w);
}

int snap_write_finish(struct snap_writer *w)
{
	uint8_t h[SNAP_HEADER_SIZE];

	snap_section_begin(w, SNAP_TAG_END, 1);
	snap_section_end(w);
	memcpy(h, SNAP_MAGIC, 8);
	put_le_buf(h + 8, SNAP_FORMAT_VERSION, 4);
	put_le_buf(h + 12, SNAP_HEADER_SIZE, 4);
	put_le_buf(h + 16, w->off, 8);
	put_le_buf(h + 24, w->nsections, 4);
	put_le_buf(h + 28, crc(0, h, 28), 4);
	w_pwrite(w, h, sizeof(h), 0);
	return w->err;
}

/* ---- reading ---- */

const char *snap_tag_name(uint32_t tag, char buf[5])
{
	unsigned int i;

	for (i = 0; i < 4; i++) {
		char c = (char)(tag >> (8 * i));

		buf[i] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	buf[4] = 0;
	return buf;
}

static int snap_check(struct snap_file *f, const char *path, char *err, size_t errlen)
{
	const uint8_t *p = f->map;
	uint64_t size, off;
	uint32_t version, hsize, n, i;
	char t[5];

	if (f->size < SNAP_HEADER_SIZE || memcmp(p, SNAP_MAGIC, 8)) {
		snprintf(err, errlen, "%s: not a pc snapshot (no %s header)", path, SNAP_MAGIC);
		return -EINVAL;
	}
	if (get_le(p + 28, 4) != crc(0, p, 28)) {
		snprintf(err, errlen, "%s: corrupted snapshot (header checksum mismatch)", path);
		return -EINVAL;
	}
	version = (uint32_t)get_le(p + 8, 4);
	hsize = (uint32_t)get_le(p + 12, 4);
	size = get_le(p + 16, 8);
	n = (uint32_t)get_le(p + 24, 4);
	if (version < SNAP_FORMAT_OLDEST || version > SNAP_FORMAT_VERSION ||
	    hsize != SNAP_HEADER_SIZE) {
		snprintf(err, errlen,
			 "%s: snapshot format version %u, this pc reads versions %u to %u", path,
			 version, SNAP_FORMAT_OLDEST, SNAP_FORMAT_VERSION);
		return -EINVAL;
	}
	if (size != f->size) {
		snprintf(err, errlen,
			 "%s: snapshot is %zu bytes but its header says %llu (truncated or "
			 "extended)",
			 path, f->size, (unsigned long long)size);
		return -EINVAL;
	}
	if (n < 1 || n > SNAP_MAX_SECTIONS) {
		snprintf(err, errlen, "%s: corrupted snapshot (%u sections)", path, n);
		return -EINVAL;
	}
	f->sect = calloc(n, sizeof(*f->sect));
	if (!f->sect) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	off = SNAP_HEADER_SIZE;
	for (i = 0; i < n; i++) {
		const uint8_t *h = p + off;
		struct snap_section *s = &f->sect[i];
		uint64_t padded;

		if (f->size - off < SNAP_SECTION_HEADER || get_le(h + 20, 4) != crc(0, h, 20)) {
			snprintf(err, errlen, "%s: corrupted snapshot (bad header of section %u)",
				 path, i);
			return -EINVAL;
		}
		s->tag = (uint32_t)get_le(h, 4);
		s->version = (uint32_t)get_le(h + 4, 4);
		s->len = get_le(h + 8, 8);
		off += SNAP_SECTION_HEADER;
		padded = (s->len + 7) & ~7ull;
		if (s->len > f->size - off || padded > f->size - off) {
			snprintf(err, errlen, "%s: corrupted snapshot (section %s runs past the end)",
				 path, snap_tag_name(s->tag, t));
			return -EINVAL;
		}
		s->data = p + off;
		if (get_le(h + 16, 4) != crc(0, s->data, s->len)) {
			snprintf(err, errlen,
				 "%s: corrupted snapshot (checksum mismatch in section %s)", path,
				 snap_tag_name(s->tag, t));
			return -EINVAL;
		}
		off += padded;
		if ((s->tag == SNAP_TAG_END) != (i == n - 1)) {
			snprintf(err, errlen, "%s: corrupted snapshot (END section misplaced)", path);
			return -EINVAL;
		}
	}
	if (off != f->size) {
		snprintf(err, errlen, "%s: corrupted snapshot (data after the END section)", path);
		return -EINVAL;
	}
	f->nsect = n;
	return 0;
}

int snap_open(const char *path, struct snap_file *f, char *err, size_t errlen)
{
	struct stat st;
	int fd, r;

	memset(f, 0, sizeof(*f));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	f->size = (size_t)st.st_size;
	if (f->size) {
		f->map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (f->map == MAP_FAILED) {
			r = -errno;
			snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
			f->map = NULL;
			close(fd);
			return r;
		}
	}
	close(fd);
	r = f->map ? snap_check(f, path, err, errlen) : -EINVAL;
	if (!f->map)
		snprintf(err, errlen, "%s: not a pc snapshot (empty file)", path);
	if (r < 0)
		snap_close(f);
	return r;
}

const struct snap_section *snap_find(const struct snap_file *f, uint32_t tag, unsigned int nth)
{
	unsigned int i;

	for (i = 0; i < f->nsect; i++)
		if (f->sect[i].tag == tag && nth-- == 0)
			return &f->sect[i];
	return NULL;
}

unsigned int snap_count(const struct snap_file *f, uint32_t tag)
{
	unsigned int i, n = 0;

	for (i = 0; i < f->nsect; i++)
		n += f->sect[i].tag == tag;
	return n;
}

void snap_close(struct snap_file *f)
{
	if (f->map)
		munmap(f->map, f->size);
	free(f->sect);
	memset(f, 0, sizeof(*f));
}
