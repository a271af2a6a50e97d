// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "ext.h"

#include <errno.h>
#include <pthread.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
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

int ext_set_reset_events(struct vm *vm, bool enable)
{
	if (vm->start_requested)
		return -EBUSY;
	vm->reset_events = enable;
	return 0;
}

int ext_set_io_details(struct vm *vm, bool enable)
{
	if (vm->start_requested)
		return -EBUSY;
	vm->io_details = enable;
	return 0;
}

int ext_reserve_range_mode(struct vm *vm, uint32_t space, uint64_t start, uint64_t length,
			   uint32_t mode)
{
	struct ranges *rs;
	int r;

	if (space > VM_SPACE_MMIO || mode > PLUGVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ)
		return -EINVAL;
	rs = &vm->ranges[space];
	pthread_rwlock_wrlock(&vm->io_lock);
	if (length == 0) {
		r = ranges_unreserve(rs, start);
	} else {
		r = ranges_reserve(rs, start, length, mode != PLUGVM_RANGE_MODE_SYNC);
		/* The new range is the one that holds start; set its mode before unlocking. */
		if (r == 0 && mode == PLUGVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ)
			((struct range *)ranges_lookup(rs, start))->sync_read = true;
	}
	pthread_rwlock_unlock(&vm->io_lock);
	return r;
}

/*
 * Replaces obj's slot by one of map with or without KVM_MEM_READONLY, every
 * vcpu held; *deleted says whether the old slot is gone (then map is KVM's,
 * or the VM failed).
 */
static int ext_memory_reslot(struct vm *vm, struct object *obj, void *map, bool read_only,
			     bool *deleted)
{
	struct kvm_userspace_memory_region region = { 0 };
	int r;

	region.slot = obj->mem.slot;
	region.guest_phys_addr = obj->mem.start;
	/* KVM cannot change KVM_MEM_READONLY in place: delete, then add again. */
	vcpus_hold(vm);
	r = vm->kvm->ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
	*deleted = r == 0;
	if (r == 0) {
		region.flags = (read_only ? KVM_MEM_READONLY : 0) |
			       (obj->mem.dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0);
		region.memory_size = obj->mem.length;
		region.userspace_addr = (uint64_t)(uintptr_t)map;
		r = vm->kvm->ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
		if (r < 0)
			vm_fail(vm, "memory %u: KVM refused the slot back: %s", obj->id,
				strerror(-r));
	}
	vcpus_release(vm);
	return r < 0 ? r : 0;
}

int ext_memory_set_read_only(struct vm *vm, uint32_t id, bool read_only)
{
	struct object *obj = objects_find(&vm->objects, id);
	bool deleted;

	if (!obj || obj->kind != OBJECT_MEMORY)
		return -ENOENT;
	return ext_memory_reslot(vm, obj, obj->mem.map, read_only, &deleted);
}

int ext_memory_replace(struct vm *vm, uint32_t id, int fd, uint64_t offset, bool read_only)
{
	struct object *obj = objects_find(&vm->objects, id);
	int seals, r, mflags = MAP_SHARED;
	bool deleted;
	uint64_t length;
	off_t size;
	void *map;

	if (!obj || obj->kind != OBJECT_MEMORY)
		return -ENOENT;
	if (fd < 0)
		return -EBADF;
	length = obj->mem.length;
	size = lseek(fd, 0, SEEK_END);
	seals = fcntl(fd, F_GET_SEALS);
	if (size < 0 || seals < 0)
		return -errno;
	/* As for Create memory (vm.c): no truncation under the mapping, whole pages. */
	if (!(seals & F_SEAL_SHRINK))
		return -EPERM;
	if (offset % 4096 || offset > (uint64_t)size || length > (uint64_t)size - offset)
		return -EINVAL;
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		mflags = MAP_PRIVATE;
	map = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, mflags, fd, (off_t)offset);
	if (map == MAP_FAILED)
		return -errno;
	madvise(map, (size_t)length, MADV_DONTDUMP);
	r = ext_memory_reslot(vm, obj, map, read_only, &deleted);
	if (!deleted) {
		/* KVM refused to delete the old slot: it is still there, keep it. */
		munmap(map, (size_t)length);
		return r;
	}
	/* The old slot is gone: the object now owns the new map, even after a failure. */
	munmap(obj->mem.map, (size_t)length);
	obj->mem.map = map;
	return r;
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

	if (ext_offered(v->vm) & PLUGVM_EXT_RESET) {
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

void ext_release(struct vm *vm)
{
	free(vm->default_cpuid);
	vm->default_cpuid = NULL;
}
