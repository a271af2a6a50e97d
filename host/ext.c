// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "ext.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "config.h"
#include "ext-bits.h"
#include "kvm-ops.h"
#include "objects.h"
#include "vcpu.h"
#include "vm.h"

uint64_t ext_offered(const struct vm *vm)
{
	return vm->cfg->no_extensions ? 0 : PLUGVM_EXT_ALL;
}

int ext_create_edge_irq_event(struct vm *vm, struct object *obj, uint32_t gsi)
{
	struct kvm_irqfd irqfd = { .gsi = gsi };
	int trigger, r;

	trigger = eventfd(0, EFD_CLOEXEC);
	if (trigger < 0)
		return -errno;
	irqfd.fd = (uint32_t)trigger;
	r = vm->kvm->ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
	if (r < 0) {
		close(trigger);
		return r;
	}
	obj->kind = OBJECT_IRQ_EVENT;
	obj->irq.fd = trigger;
	obj->irq.gsi = gsi;
	return 0;
}

int ext_set_default_cpuid(struct vm *vm, bool enable)
{
	struct kvm_cpuid2 *c = NULL;
	int r;

	if (vm->start_requested)
		return -EBUSY;
	if (enable) {
		r = vm_get_cpuid(vm, false, &c);
		if (r < 0)
			return r;
	}
	free(vm->default_cpuid);
	vm->default_cpuid = c;
	return 0;
}

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

int ext_vcpu_default_cpuid(struct vcpu *v)
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

void ext_release(struct vm *vm)
{
	free(vm->default_cpuid);
	vm->default_cpuid = NULL;
}
