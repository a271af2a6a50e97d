// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The host side of plugvm's API 0.23 extensions (docs/protocol.md
 * "Extensions"): what each one does to the VM and its vcpus.  The requests
 * are decoded in plugin-main.c; with --no-extensions none of them is
 * reachable and the host answers ENOTTY like crosvm's.
 */
#ifndef PLUGVM_HOST_EXT_H
#define PLUGVM_HOST_EXT_H

#include <stdbool.h>
#include <stdint.h>

struct object;
struct vcpu;
struct vm;

/* The mask the host offers: PLUGVM_EXT_ALL, or 0 with --no-extensions. */
uint64_t ext_offered(const struct vm *vm);

/* An irq event without resample: KVM_IRQFD on a new trigger eventfd (obj->irq.fd). */
int ext_create_edge_irq_event(struct vm *vm, struct object *obj, uint32_t gsi);

/*
 * DefaultCpuid{enable}: before Start, fetches KVM's supported CPUID once
 * (main thread) for every vcpu thread to install; disable drops it.  -EBUSY
 * once Start was asked for.
 */
int ext_set_default_cpuid(struct vm *vm, bool enable);

/*
 * On vcpu v's thread, before its Init event: installs the default CPUID
 * with v's APIC id, if the plugin asked for it.  0 when it did not.
 */
int ext_vcpu_default_cpuid(struct vcpu *v);

/* Frees what the extensions hold (vm_release). */
void ext_release(struct vm *vm);

#endif /* PLUGVM_HOST_EXT_H */
