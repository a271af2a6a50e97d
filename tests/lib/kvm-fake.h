/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * A fake KVM: an in-memory model of one VM and its vcpus behind the
 * kvm_ops table, for fuzzing and testing the host without /dev/kvm.
 *
 * It follows the kernel's argument rules closely enough to answer like it
 * (sizes, alignment, overlaps, limits, E2BIG protocols), and it touches every
 * byte the real kernel would read or write, so that under ASan a host buffer
 * that is too small, or a mapping that is shorter than what the host
 * registered, shows up as a report instead of silent kernel corruption.
 * Every descriptor it hands out is a real (eventfd) descriptor, so the
 * host's close() calls and fd accounting work unchanged.
 *
 * Not thread safe beyond a global lock; one VM at a time.
 */
#ifndef PLUGVM_HOST_KVM_FAKE_H
#define PLUGVM_HOST_KVM_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include "kvm-ops.h"

extern const struct kvm_ops kvm_ops_fake;

/* Limits of the model, the kernel's own values where it has one. */
#define KVM_FAKE_MEM_SLOTS 32764u     /* KVM_USER_MEM_SLOTS on x86 */
#define KVM_FAKE_IOBUS_DEVS 1000u     /* NR_IOBUS_DEVS, per bus */
#define KVM_FAKE_MAX_ROUTES 4096u     /* KVM_MAX_IRQ_ROUTES */
#define KVM_FAKE_MAX_MSRS 256u        /* MAX_IO_MSRS */
#define KVM_FAKE_MAX_CPUID 256u       /* KVM_MAX_CPUID_ENTRIES */
#define KVM_FAKE_MAX_VCPUS 1024u
#define KVM_FAKE_RUN_SIZE (3u * 4096u)
#define KVM_FAKE_XSAVE_MAX (16u * 1024u) /* the largest XSAVE area the model keeps */
#define KVM_FAKE_XSAVE_FEATURES 0x7u    /* XSTATE_BV bits KVM_SET_XSAVE accepts: x87, SSE, AVX */

/* Forgets every VM, vcpu and registration (descriptors it made must be closed by then). */
void kvm_fake_reset(void);

/*
 * What KVM_CHECK_EXTENSION(KVM_CAP_XSAVE2) answers (0, the default after
 * kvm_fake_reset(): a kernel without it; else the area's size, at most
 * KVM_FAKE_XSAVE_MAX).  KVM_GET_XSAVE then fails as the kernel's does
 * when the area exceeds 4 KiB.
 */
void kvm_fake_set_xsave2(uint32_t size);

/* Counts of live registrations, for invariant checks in tests and fuzzers. */
struct kvm_fake_stats {
	unsigned slots;
	unsigned ioeventfds;
	unsigned irqfds;
	unsigned vcpus;
	uint64_t slot_bytes;
};
void kvm_fake_stats(struct kvm_fake_stats *ret);

/* ioctl(2) calling convention (-1 and errno) over the fake, for code that calls ioctl() itself. */
int kvm_fake_raw_ioctl(int fd, unsigned long req, void *arg);

#endif /* PLUGVM_HOST_KVM_FAKE_H */
