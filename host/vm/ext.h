// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The host side of plugvm's API 0.23 extensions (docs/protocol.md
 * "Extensions"): what each one does to the VM, on the main thread.  What
 * runs on a vcpu's own thread is the vcpu module's (vcpu-ext.c, and the
 * exits in vcpu-exit.c).  The requests are decoded in main-request.c; with
 * --no-extensions none of them is reachable and the host answers ENOTTY
 * like crosvm's.
 */
#ifndef PLUGVM_HOST_EXT_H
#define PLUGVM_HOST_EXT_H

#include <stdbool.h>
#include <stdint.h>

struct object;
struct vm;

/* An irq event without resample: KVM_IRQFD on a new trigger eventfd (obj->irq.fd). */
int ext_create_edge_irq_event(struct vm *vm, struct object *obj, uint32_t gsi);

/*
 * DefaultCpuid{enable}: before Start, fetches KVM's supported CPUID once
 * (main thread) for every vcpu thread to install; disable drops it.  -EBUSY
 * once Start was asked for.
 */
int ext_set_default_cpuid(struct vm *vm, bool enable);

/*
 * ResetEvents{enable}: before Start, a triple fault (KVM_EXIT_SHUTDOWN)
 * becomes a Wait.reset event for the plugin instead of ending the VM.
 * -EBUSY once Start was asked for.
 */
int ext_set_reset_events(struct vm *vm, bool enable);

/*
 * IoDetails{enable}: before Start, port I/O exits carry KVM's element size
 * and count.  -EBUSY once Start was asked for.
 */
int ext_set_io_details(struct vm *vm, bool enable);

/*
 * ReserveRangeMode: reserves (or with length 0 removes) a range of `space`
 * with trap mode PLUGVM_RANGE_MODE_*.  -EINVAL for a bad space or mode, and
 * ranges_reserve()'s errors.
 */
int ext_reserve_range_mode(struct vm *vm, uint32_t space, uint64_t start, uint64_t length,
			   uint32_t mode);

/*
 * MemoryReadOnly: replaces memory object id's KVM slot by one with or
 * without KVM_MEM_READONLY while every vcpu is held out of KVM_RUN.
 * -ENOENT unless id is a memory object; a slot KVM refuses to re-add
 * fails the VM (the range would be a hole).
 */
int ext_memory_set_read_only(struct vm *vm, uint32_t id, bool read_only);

/*
 * MemoryReplace: maps memfd fd (checked as for Create memory) from offset in
 * place of memory object id's mapping, in the same way.  The caller keeps
 * and closes fd.
 */
int ext_memory_replace(struct vm *vm, uint32_t id, int fd, uint64_t offset, bool read_only);

#endif /* PLUGVM_HOST_EXT_H */
