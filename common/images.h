/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The sizes of the kernel state images that travel as bytes, defined once
 * for the host, the library and the shared-memory layout.  codec.c pins
 * them to the <linux/kvm.h> structs with static asserts.  No includes, so
 * that layout headers can use them freely.
 */
#ifndef PLUGVM_COMMON_IMAGES_H
#define PLUGVM_COMMON_IMAGES_H

/* vcpu state images (VcpuRequest.StateSet), docs/protocol.md §4.2. */
#define VCPU_STATE_REGS_SIZE 144u
#define VCPU_STATE_SREGS_SIZE 312u
#define VCPU_STATE_FPU_SIZE 416u
#define VCPU_STATE_DEBUGREGS_SIZE 128u
#define VCPU_STATE_LAPIC_SIZE 1024u
#define VCPU_STATE_MP_SIZE 4u
#define VCPU_STATE_XCREGS_SIZE 392u
#define VCPU_STATE_EVENTS_SIZE 64u
/* The largest vcpu state image. */
#define VCPU_STATE_MAX_SIZE VCPU_STATE_LAPIC_SIZE

/* VM state images (MainRequest.StateSet), docs/protocol.md §2.4. */
#define VM_STATE_PIC_SIZE 16u
#define VM_STATE_IOAPIC_SIZE 216u
#define VM_STATE_PIT_SIZE 112u
#define VM_STATE_CLOCK_SIZE 48u

#endif /* PLUGVM_COMMON_IMAGES_H */
