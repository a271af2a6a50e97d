// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The API 0.23 extensions' vcpu side, on each vcpu's own thread: the
 * power-on state that the Reset request restores, and the default CPUID
 * (ext.c holds the main thread's side).
 */
#include "vcpu-internal.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ext-bits.h"

/*
 * The leaves that carry the initial APIC id: 1 (EBX bits 31-24) and the
 * x2APIC topology leaves 0xb and 0x1f (EDX of every subleaf).
 */
static void set_apic_id(struct kvm_cpuid2 *c, uint32_t id)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | (id & 0xffu) << 24;
		else if (e->function == 0xb || e->function == 0x1f)
			e->edx = id;
	}
}

static int ext_vcpu_default_cpuid(struct vcpu *v)
{
	const struct kvm_cpuid2 *def = v->vm->default_cpuid;
	struct kvm_cpuid2 *c;
	size_t size;
	int r;

	if (!def)
		return 0;
	size = sizeof(*def) + (size_t)def->nent * sizeof(def->entries[0]);
	c = malloc(size);
	if (!c)
		return -ENOMEM;
	memcpy(c, def, size);
	set_apic_id(c, v->id);
	r = v->vm->kvm->ioctl(v->fd, KVM_SET_CPUID2, c);
	free(c);
	return r < 0 ? r : 0;
}

/* What a vcpu looked like when KVM created it, in the order ext_vcpu_reset() restores it. */
struct ext_power_on {
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_fpu fpu;
	struct kvm_debugregs debugregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events events;
	bool has_xcrs;
};

struct ext_state_op {
	unsigned long get, set;
	size_t offset;
};

/* XCRs last: KVM without XSAVE refuses them, and then the vcpu has none to reset. */
static const struct ext_state_op power_on_ops[] = {
	{ KVM_GET_SREGS, KVM_SET_SREGS, offsetof(struct ext_power_on, sregs) },
	{ KVM_GET_REGS, KVM_SET_REGS, offsetof(struct ext_power_on, regs) },
	{ KVM_GET_FPU, KVM_SET_FPU, offsetof(struct ext_power_on, fpu) },
	{ KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, offsetof(struct ext_power_on, debugregs) },
	{ KVM_GET_LAPIC, KVM_SET_LAPIC, offsetof(struct ext_power_on, lapic) },
	{ KVM_GET_MP_STATE, KVM_SET_MP_STATE, offsetof(struct ext_power_on, mp) },
	{ KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, offsetof(struct ext_power_on, events) },
	{ KVM_GET_XCRS, KVM_SET_XCRS, offsetof(struct ext_power_on, xcrs) },
};
#define N_POWER_ON_OPS (sizeof(power_on_ops) / sizeof(power_on_ops[0]))

int ext_vcpu_start(struct vcpu *v)
{
	struct ext_power_on *p;
	int r;

	if (vm_ext_offered(v->vm) & PLUGVM_EXT_RESET) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return -ENOMEM;
		for (size_t i = 0; i < N_POWER_ON_OPS; i++) {
			r = v->vm->kvm->ioctl(v->fd, power_on_ops[i].get,
					      (char *)p + power_on_ops[i].offset);
			if (r < 0 && power_on_ops[i].get == KVM_GET_XCRS)
				break;
			if (r < 0) {
				free(p);
				return r;
			}
			p->has_xcrs = power_on_ops[i].get == KVM_GET_XCRS;
		}
		v->power_on = p;
	}
	return ext_vcpu_default_cpuid(v);
}

int ext_vcpu_reset(struct vcpu *v)
{
	struct ext_power_on *p = v->power_on;
	int r;

	if (!p)
		return -ENOTTY;
	for (size_t i = 0; i < N_POWER_ON_OPS; i++) {
		if (power_on_ops[i].set == KVM_SET_XCRS && !p->has_xcrs)
			continue;
		r = v->vm->kvm->ioctl(v->fd, power_on_ops[i].set,
				      (char *)p + power_on_ops[i].offset);
		if (r < 0)
			return r;
	}
	return 0;
}

void ext_vcpu_free(struct vcpu *v)
{
	free(v->power_on);
	v->power_on = NULL;
}
