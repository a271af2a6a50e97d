// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * plugvm's protocol extensions (API 0.23, docs/protocol.md "Extensions"):
 * the bit each one has in MainResponse.extensions.mask.  The values are the
 * CROSVM_EXTENSION_* bits of crosvm.h; lib/ext.c asserts that both agree.
 */
#ifndef PLUGVM_COMMON_EXT_BITS_H
#define PLUGVM_COMMON_EXT_BITS_H

#define PLUGVM_EXT_EDGE_IRQ_EVENT (1ull << 0)
#define PLUGVM_EXT_DEFAULT_CPUID (1ull << 1)
/* Bit 2 is the library's own (CROSVM_EXTENSION_VCPU_KICK): no host ever sets it. */
#define PLUGVM_EXT_RESET (1ull << 3)
#define PLUGVM_EXT_IO_DETAILS (1ull << 4)
#define PLUGVM_EXT_RANGE_MODE (1ull << 5)
#define PLUGVM_EXT_MEMORY_READ_ONLY (1ull << 6)
#define PLUGVM_EXT_XSAVE (1ull << 7)

/* ReserveRangeMode.mode (CROSVM_RANGE_MODE_* of crosvm.h). */
#define PLUGVM_RANGE_MODE_SYNC 0u
#define PLUGVM_RANGE_MODE_ASYNC_WRITE 1u
#define PLUGVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ 2u

/* VcpuResponse.Wait.reset.reason (CROSVM_RESET_* of crosvm.h). */
#define PLUGVM_RESET_TRIPLE_FAULT 1u

/* Every extension this version of the host implements. */
#define PLUGVM_EXT_ALL                                                                  \
	(PLUGVM_EXT_EDGE_IRQ_EVENT | PLUGVM_EXT_DEFAULT_CPUID | PLUGVM_EXT_RESET |       \
	 PLUGVM_EXT_IO_DETAILS | PLUGVM_EXT_RANGE_MODE | PLUGVM_EXT_MEMORY_READ_ONLY |   \
	 PLUGVM_EXT_XSAVE)

#endif /* PLUGVM_COMMON_EXT_BITS_H */
