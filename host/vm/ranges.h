/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The set of reserved (trapped) ranges of one address space, ordered by
 * start (docs/protocol.md §3.1).  Pure data structure: no locking, no KVM.
 */
#ifndef PLUGVM_HOST_RANGES_H
#define PLUGVM_HOST_RANGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct range {
	uint64_t start;
	uint64_t length; /* never 0 */
	bool async_write;
	bool sync_read; /* with async_write: reads still stop the vcpu (API 0.23 range mode) */
};

struct ranges {
	struct range *v; /* sorted by start, never overlapping */
	size_t n;
	size_t cap;
	size_t max; /* cap on n (ENOSPC beyond) */
};

void ranges_init(struct ranges *rs, size_t max);
void ranges_free(struct ranges *rs);

/*
 * Reserves [start, start + length) (length > 0).  Returns 0, -EPERM if it
 * overlaps an existing range, -EINVAL if start + length exceeds 2^64 (exactly
 * 2^64 is accepted), -ENOSPC past the cap, -ENOMEM.
 */
int ranges_reserve(struct ranges *rs, uint64_t start, uint64_t length, bool async_write);

/* Removes the range that starts exactly at start.  Returns 0 or -ENOENT. */
int ranges_unreserve(struct ranges *rs, uint64_t start);

/* The range containing addr, or NULL.  Valid until the set is next modified. */
const struct range *ranges_lookup(const struct ranges *rs, uint64_t addr);

#endif /* PLUGVM_HOST_RANGES_H */
