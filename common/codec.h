/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The conversions between kernel structures and the protobuf-c messages
 * that both peers need, written once (docs/protocol.md §2.3, §2.4, §4.2):
 * the sizes of the state images carried as bytes (images.h), and CPUID entries
 * (struct kvm_cpuid_entry2 <-> CpuidEntry) singly and as lists.  The
 * shared-memory slot's converters are in shm-proto.h.
 *
 * Nothing here talks to a peer.  Counts are the caller's to bound; every
 * function that allocates says so and returns -ENOMEM on failure.
 */
#ifndef PLUGVM_COMMON_CODEC_H
#define PLUGVM_COMMON_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "images.h"
#include "plugin.pb-c.h"

/* The image size of a VcpuRequest.StateSet value, or 0 for an unknown one. */
size_t codec_vcpu_state_size(int set);

/* The image size of a MainRequest.StateSet value, or 0 for an unknown one. */
size_t codec_vm_state_size(int set);

/*
 * Kernel -> wire: has_index is the significant-index flag, every other flag
 * is dropped, index is copied whatever has_index says.  Initializes *c.
 */
void codec_cpuid_from_kvm(const struct kvm_cpuid_entry2 *k, Plugvm__CpuidEntry *c);

/*
 * Wire -> kernel as the library fills a caller's array: index copied as it
 * is, flags = the significant-index flag exactly when has_index, padding 0.
 */
void codec_cpuid_to_kvm(const Plugvm__CpuidEntry *c, struct kvm_cpuid_entry2 *k);

/*
 * Wire -> kernel as the host's SetCpuid does it (docs/protocol.md §4.4):
 * index taken only with has_index (then flags = the significant-index flag),
 * otherwise index and flags 0; padding 0.
 */
void codec_cpuid_to_kvm_set(const Plugvm__CpuidEntry *c, struct kvm_cpuid_entry2 *k);

/* A list of CpuidEntry messages built from kernel entries, for a repeated field. */
struct codec_cpuid_list {
	Plugvm__CpuidEntry *entries;
	Plugvm__CpuidEntry **ptrs; /* what the repeated field points at */
	size_t n;
};

/*
 * Converts n kernel entries (codec_cpuid_from_kvm) into *list, allocating its
 * arrays (never NULL, even for n = 0).  Returns 0 or -ENOMEM (then *list is
 * empty and needs no free).
 */
int codec_cpuid_list_from_kvm(const struct kvm_cpuid_entry2 *k, size_t n,
			      struct codec_cpuid_list *list);

/* Frees what codec_cpuid_list_from_kvm() allocated and empties *list. */
void codec_cpuid_list_free(struct codec_cpuid_list *list);

/*
 * Copies a received list into a caller's array of room entries
 * (codec_cpuid_to_kvm), as the library's list functions promise: *out_count
 * is always the number received (saturated at UINT32_MAX); more than room
 * gives -E2BIG and copies nothing.  Returns 0 or -E2BIG.
 */
int codec_cpuid_list_to_kvm(Plugvm__CpuidEntry *const *entries, size_t n, uint32_t room,
			    struct kvm_cpuid_entry2 *out, uint32_t *out_count);

#endif /* PLUGVM_COMMON_CODEC_H */
