// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "ranges.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void ranges_init(struct ranges *rs, size_t max)
{
	memset(rs, 0, sizeof(*rs));
	rs->max = max;
}

void ranges_free(struct ranges *rs)
{
	free(rs->v);
	rs->v = NULL;
	rs->n = 0;
	rs->cap = 0;
}

/* Index of the first range whose start is > addr (so index - 1 is the floor). */
static size_t ranges_upper(const struct ranges *rs, uint64_t addr)
{
	size_t lo = 0, hi = rs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rs->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct range *ranges_lookup(const struct ranges *rs, uint64_t addr)
{
	size_t i = ranges_upper(rs, addr);
	const struct range *r;

	if (i == 0)
		return NULL;
	r = &rs->v[i - 1];
	return addr - r->start < r->length ? r : NULL;
}

int ranges_reserve(struct ranges *rs, uint64_t start, uint64_t length, bool async_write)
{
	const struct range *r;
	struct range *nv;
	uint64_t last;
	size_t i;

	if (length == 0)
		return -EINVAL;
	/* The checks run in the original's order so the errno matches for each case. */
	if (ranges_lookup(rs, start))
		return -EPERM;
	if (length - 1 > UINT64_MAX - start)
		return -EINVAL;
	last = start + (length - 1);
	/*
	 * Any range starting in [start, last] overlaps.  The original only looked
	 * at starts below last (docs/protocol.md §7.10); a range starting exactly at
	 * last is rejected here too.
	 */
	i = ranges_upper(rs, last);
	if (i > 0) {
		r = &rs->v[i - 1];
		if (r->start >= start)
			return -EPERM;
	}
	if (rs->n >= rs->max)
		return -ENOSPC;
	nv = grow_array(rs->v, &rs->cap, rs->n + 1, sizeof(*rs->v), 16);
	if (!nv)
		return -ENOMEM;
	rs->v = nv;
	memmove(&rs->v[i + 1], &rs->v[i], (rs->n - i) * sizeof(*rs->v));
	rs->v[i] = (struct range){ .start = start, .length = length, .async_write = async_write };
	rs->n++;
	return 0;
}

int ranges_unreserve(struct ranges *rs, uint64_t start)
{
	size_t i = ranges_upper(rs, start);

	if (i == 0 || rs->v[i - 1].start != start)
		return -ENOENT;
	i--;
	memmove(&rs->v[i], &rs->v[i + 1], (rs->n - i - 1) * sizeof(*rs->v));
	rs->n--;
	return 0;
}
