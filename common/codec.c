// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

_Static_assert(sizeof(struct kvm_regs) == VCPU_STATE_REGS_SIZE, "kvm_regs");
_Static_assert(sizeof(struct kvm_sregs) == VCPU_STATE_SREGS_SIZE, "kvm_sregs");
_Static_assert(sizeof(struct kvm_fpu) == VCPU_STATE_FPU_SIZE, "kvm_fpu");
_Static_assert(sizeof(struct kvm_debugregs) == VCPU_STATE_DEBUGREGS_SIZE, "kvm_debugregs");
_Static_assert(sizeof(struct kvm_lapic_state) == VCPU_STATE_LAPIC_SIZE, "kvm_lapic_state");
_Static_assert(sizeof(struct kvm_mp_state) == VCPU_STATE_MP_SIZE, "kvm_mp_state");
_Static_assert(sizeof(struct kvm_xcrs) == VCPU_STATE_XCREGS_SIZE, "kvm_xcrs");
_Static_assert(sizeof(struct kvm_vcpu_events) == VCPU_STATE_EVENTS_SIZE, "kvm_vcpu_events");
_Static_assert(sizeof(struct kvm_pic_state) == VM_STATE_PIC_SIZE, "kvm_pic_state");
_Static_assert(sizeof(struct kvm_ioapic_state) == VM_STATE_IOAPIC_SIZE, "kvm_ioapic_state");
_Static_assert(sizeof(struct kvm_pit_state2) == VM_STATE_PIT_SIZE, "kvm_pit_state2");
_Static_assert(sizeof(struct kvm_clock_data) == VM_STATE_CLOCK_SIZE, "kvm_clock_data");

static const size_t vcpu_state_sizes[] = {
	[PLUGVM__VCPU_REQUEST__STATE_SET__REGS] = VCPU_STATE_REGS_SIZE,
	[PLUGVM__VCPU_REQUEST__STATE_SET__SREGS] = VCPU_STATE_SREGS_SIZE,
	[PLUGVM__VCPU_REQUEST__STATE_SET__FPU] = VCPU_STATE_FPU_SIZE,
	[PLUGVM__VCPU_REQUEST__STATE_SET__DEBUGREGS] = VCPU_STATE_DEBUGREGS_SIZE,
	[PLUGVM__VCPU_REQUEST__STATE_SET__LAPIC] = VCPU_STATE_LAPIC_SIZE,
	[PLUGVM__VCPU_REQUEST__STATE_SET__MP] = VCPU_STATE_MP_SIZE,
	[PLUGVM__VCPU_REQUEST__STATE_SET__XCREGS] = VCPU_STATE_XCREGS_SIZE,
	[PLUGVM__VCPU_REQUEST__STATE_SET__EVENTS] = VCPU_STATE_EVENTS_SIZE,
};

static const size_t vm_state_sizes[] = {
	[PLUGVM__MAIN_REQUEST__STATE_SET__PIC0] = VM_STATE_PIC_SIZE,
	[PLUGVM__MAIN_REQUEST__STATE_SET__PIC1] = VM_STATE_PIC_SIZE,
	[PLUGVM__MAIN_REQUEST__STATE_SET__IOAPIC] = VM_STATE_IOAPIC_SIZE,
	[PLUGVM__MAIN_REQUEST__STATE_SET__PIT] = VM_STATE_PIT_SIZE,
	[PLUGVM__MAIN_REQUEST__STATE_SET__CLOCK] = VM_STATE_CLOCK_SIZE,
};

size_t codec_vcpu_state_size(int set)
{
	if (set < 0 || (size_t)set >= ARRAY_SIZE(vcpu_state_sizes))
		return 0;
	return vcpu_state_sizes[set];
}

size_t codec_vm_state_size(int set)
{
	if (set < 0 || (size_t)set >= ARRAY_SIZE(vm_state_sizes))
		return 0;
	return vm_state_sizes[set];
}

void codec_cpuid_from_kvm(const struct kvm_cpuid_entry2 *k, Plugvm__CpuidEntry *c)
{
	plugvm__cpuid_entry__init(c);
	c->function = k->function;
	c->has_index = (k->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) != 0;
	c->index = k->index;
	c->eax = k->eax;
	c->ebx = k->ebx;
	c->ecx = k->ecx;
	c->edx = k->edx;
}

void codec_cpuid_to_kvm(const Plugvm__CpuidEntry *c, struct kvm_cpuid_entry2 *k)
{
	memset(k, 0, sizeof(*k));
	k->function = c->function;
	k->index = c->index;
	k->flags = c->has_index ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
	k->eax = c->eax;
	k->ebx = c->ebx;
	k->ecx = c->ecx;
	k->edx = c->edx;
}

void codec_cpuid_to_kvm_set(const Plugvm__CpuidEntry *c, struct kvm_cpuid_entry2 *k)
{
	codec_cpuid_to_kvm(c, k);
	if (!c->has_index)
		k->index = 0;
}

int codec_cpuid_list_from_kvm(const struct kvm_cpuid_entry2 *k, size_t n,
			      struct codec_cpuid_list *list)
{
	size_t alloc = n ? n : 1;

	list->entries = calloc(alloc, sizeof(*list->entries));
	list->ptrs = calloc(alloc, sizeof(*list->ptrs));
	list->n = 0;
	if (!list->entries || !list->ptrs) {
		codec_cpuid_list_free(list);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		codec_cpuid_from_kvm(&k[i], &list->entries[i]);
		list->ptrs[i] = &list->entries[i];
	}
	list->n = n;
	return 0;
}

void codec_cpuid_list_free(struct codec_cpuid_list *list)
{
	free(list->entries);
	free(list->ptrs);
	list->entries = NULL;
	list->ptrs = NULL;
	list->n = 0;
}

int codec_cpuid_list_to_kvm(Plugvm__CpuidEntry *const *entries, size_t n, uint32_t room,
			    struct kvm_cpuid_entry2 *out, uint32_t *out_count)
{
	*out_count = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	if (n > room)
		return -E2BIG;
	for (size_t i = 0; i < n; i++)
		codec_cpuid_to_kvm(entries[i], &out[i]);
	return 0;
}
