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
