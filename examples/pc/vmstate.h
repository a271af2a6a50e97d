// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * What KVM holds of the pc example's machine, read and written through
 * crosvm.h for snapshots: each vcpu's state, the in-kernel irqchip, PIT and
 * clock, and guest memory without its zero pages.  The kernel structures go
 * into the file as they are (their x86-64 layout is the kernel's ABI).
 */
#ifndef PLUGVM_EXAMPLES_PC_VMSTATE_H
#define PLUGVM_EXAMPLES_PC_VMSTATE_H

#include <stdint.h>

#include <crosvm.h>

#include "snapshot.h"

/*
 * One vcpu.  cpuid is what the plugin set at INIT (crosvm.h cannot read it
 * back).  xsave is the whole XSAVE area (AVX and the rest, a superset of
 * fpu) where the host has CROSVM_EXTENSION_XSAVE, else NULL.
 */
struct vcpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_debugregs dregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	uint32_t nmsrs, ncpuid;
	struct kvm_msr_entry *msrs;
	struct kvm_cpuid_entry2 *cpuid;
	uint8_t *xsave;
	uint32_t xsave_size;
	bool have_xcrs;
};

/* MSR numbers KVM saves and restores (crosvm_get_msr_index_list); free() the result. */
int vmstate_msr_list(struct crosvm *c, uint32_t **list, uint32_t *n);
/* Reads a stopped vcpu (during an event); the caller fills cpuid. */
int vcpu_state_get(struct crosvm_vcpu *v, const uint32_t *msr_list, uint32_t nmsr,
		   struct vcpu_state *st);
/* Writes it back, at INIT of a new VM, in an order KVM accepts. */
int vcpu_state_set(struct crosvm_vcpu *v, const struct vcpu_state *st);
void vcpu_state_save(const struct vcpu_state *st, struct snap_out *o);
int vcpu_state_restore(struct vcpu_state *st, struct snap_in *in);
void vcpu_state_free(struct vcpu_state *st);

struct vm_state {
	struct kvm_pic_state pic[2]; /* primary, secondary */
	struct kvm_ioapic_state ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

int vm_state_get(struct crosvm *c, struct vm_state *st);
int vm_state_set(struct crosvm *c, const struct vm_state *st);
void vm_state_save(const struct vm_state *st, struct snap_out *o);
int vm_state_restore(struct vm_state *st, struct snap_in *in);
/* Whether ISA line `irq` is level-triggered in the PIC's ELCR or the IOAPIC's pin `irq`. */
bool vm_state_line_is_level(const struct vm_state *st, unsigned int irq);

/*
 * Guest memory as a section payload: runs of non-zero 4 KiB pages, each
 * { u64 offset, u64 length, length bytes }, ascending, inside `size`.
 * With `fd` (the memfd behind `mem`, or -1), holes are skipped unread.
 */
void vmstate_save_memory(struct snap_writer *w, uint32_t tag, const uint8_t *mem, uint64_t size,
			 int fd);
bool vmstate_page_is_zero(const uint8_t *page);
/*
 * The next extent at or after `off` (page-aligned) of the memfd `fd` that
 * may hold data, [*start, *end); *start == size when there is none.  A
 * memfd's holes were never written and read as zeros without touching
 * them.  With fd -1: all of [off, size).
 */
void vmstate_data_extent(int fd, uint64_t off, uint64_t size, uint64_t *start, uint64_t *end);
/* Checks a payload made by vmstate_save_memory against `size` (no copying). */
int vmstate_check_memory(const struct snap_section *s, uint64_t size);
/* Copies the runs into `mem` (zeroed beforehand by the caller). */
void vmstate_load_memory(const struct snap_section *s, uint8_t *mem);

#endif /* PLUGVM_EXAMPLES_PC_VMSTATE_H */
