// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "hist.h"

unsigned hist_bucket(uint64_t v)
{
	unsigned e;

	if (v < HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* >= 3 */
	return HIST_SUB + (e - 3u) * HIST_SUB + (unsigned)((v >> (e - 3u)) & (HIST_SUB - 1));
}

uint64_t hist_bucket_floor(unsigned b)
{
	unsigned e;

	if (b < HIST_SUB)
		return b;
	e = (b - HIST_SUB) / HIST_SUB + 3u;
	return ((uint64_t)(HIST_SUB + (b - HIST_SUB) % HIST_SUB)) << (e - 3u);
}

void hist_add(struct hist *h, uint64_t v)
{
	h->count++;
	h->total += v;
	if (v > h->max)
		h->max = v;
	h->buckets[hist_bucket(v)]++;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	dst->count += src->count;
	dst->total += src->total;
	if (src->max > dst->max)
		dst->max = src->max;
	for (unsigned b = 0; b < HIST_BUCKETS; b++)
		dst->buckets[b] += src->buckets[b];
}

uint64_t hist_percentile(const struct hist *h, unsigned pct)
{
	uint64_t want = (h->count * pct + 99) / 100, seen = 0;

	if (h->count == 0)
		return 0;
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += h->buckets[b];
		if (seen >= want)
			return hist_bucket_floor(b);
	}
	return h->max;
}
