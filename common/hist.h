/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * A log-linear latency histogram: 8 linear steps per power of two, so a
 * percentile read from it is within 12.5% of the true value, and every
 * uint64_t fits in HIST_BUCKETS buckets.  Used by the library's
 * CROSVM_STATS table and the host's --stats table.
 */
#ifndef PLUGVM_COMMON_HIST_H
#define PLUGVM_COMMON_HIST_H

#include <stdint.h>

#define HIST_SUB 8u
#define HIST_BUCKETS (HIST_SUB + 61u * HIST_SUB)

/* The bucket a value falls into. */
unsigned hist_bucket(uint64_t v);

/* The smallest value of bucket b (what a percentile reports). */
uint64_t hist_bucket_floor(unsigned b);

/* A single-writer histogram (no atomics): one per thread, merged when read. */
struct hist {
	uint64_t count;
	uint64_t total;
	uint64_t max;
	uint64_t buckets[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);

/* The value below which pct percent of the samples fall (0 when empty). */
uint64_t hist_percentile(const struct hist *h, unsigned pct);

#endif /* PLUGVM_COMMON_HIST_H */
