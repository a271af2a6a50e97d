// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ext-bits.h"
#include "kvm-ops.h"
#include "log.h"
#include "util.h"

/* The wire carries raw images of these structs; their sizes are part of the protocol. */
_Static_assert(sizeof(struct kvm_pic_state) == 16, "kvm_pic_state");
_Static_assert(sizeof(struct kvm_ioapic_state) == 216, "kvm_ioapic_state");
_Static_assert(sizeof(struct kvm_pit_state2) == 112, "kvm_pit_state2");
_Static_assert(sizeof(struct kvm_clock_data) == 48, "kvm_clock_data");

#define PAGE_SIZE_4K 4096ull

int vm_init(struct vm *vm, const struct host_config *cfg)
{
	return vm_init_ops(vm, cfg, &kvm_ops_real);
}

/*
 * With KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, KVM_GET_DIRTY_LOG only copies the
 * log; the host then clears and write-protects what it read, a chunk at a
 * time (vm_dirty_log_read()), so a large log never holds KVM's MMU lock for
 * the whole slot.  The log starts clear, as without the capability
 * (KVM_DIRTY_LOG_INITIALLY_SET is not asked for).
 */
static void vm_enable_manual_dirty(struct vm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };
	int have = vm->kvm->ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
				  (void *)(long)KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);

	if (have <= 0 || !(have & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
		return;
	cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
	vm->manual_dirty = vm->kvm->ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) == 0;
}

int vm_init_ops(struct vm *vm, const struct host_config *cfg, const struct kvm_ops *kvm)
{
	struct kvm_pit_config pit = { 0 };
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->cfg = cfg;
	vm->kvm = kvm;
	vm->kvm_fd = vm->vm_fd = vm->kill_efd = vm->exit_efd = vm->stop_efd = -1;
	vm->vcpu_cgroup_fd = -1;
	vm->n_vcpus = cfg->cpus;
	atomic_init(&vm->kill_signaled, false);
	pthread_mutex_init(&vm->fail_lock, NULL);
	pthread_mutex_init(&vm->hold_lock, NULL);
	pthread_cond_init(&vm->hold_cond, NULL);
	atomic_init(&vm->hold, false);
	atomic_init(&vm->n_in_run, 0);
	pthread_mutex_init(&vm->barrier.lock, NULL);
	pthread_cond_init(&vm->barrier.cond, NULL);
	vm->barrier.count = cfg->cpus;
	{
		pthread_rwlockattr_t attr;

		/* Writers (the main thread) must not starve behind busy vcpu readers. */
		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&vm->io_lock, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
	ranges_init(&vm->ranges[VM_SPACE_PIO], VM_MAX_RANGES);
	ranges_init(&vm->ranges[VM_SPACE_MMIO], VM_MAX_RANGES);
	r = objects_init(&vm->objects, VM_MAX_OBJECTS, VM_MAX_MEM_SLOTS);
	if (r < 0) {
		log_err("out of memory");
		return r;
	}

	vm->exit_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->exit_efd < 0 || vm->stop_efd < 0) {
		r = -errno;
		log_err("eventfd: %s", strerror(-r));
		return r;
	}

	r = kvm->dev_open(cfg->kvm_device);
	if (r < 0) {
		log_err("failed to open %s: %s", cfg->kvm_device, strerror(-r));
		return r;
	}
	vm->kvm_fd = r;
	r = kvm->ioctl(vm->kvm_fd, KVM_GET_API_VERSION, NULL);
	if (r != KVM_API_VERSION) {
		log_err("%s: unsupported KVM API version %d", cfg->kvm_device, r);
		return r < 0 ? r : -EINVAL;
	}
	r = vm->kvm->ioctl(vm->kvm_fd, KVM_CREATE_VM, NULL);
	if (r < 0) {
		log_err("KVM_CREATE_VM: %s", strerror(-r));
		return r;
	}
	vm->vm_fd = r;
	/* KVM hands out fds without close-on-exec on older kernels. */
	if (fcntl(vm->vm_fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	r = vm->kvm->ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, NULL);
	if (r < 0) {
		log_err("KVM_CREATE_IRQCHIP: %s", strerror(-r));
		return r;
	}
	r = vm->kvm->ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit);
	if (r < 0) {
		log_err("KVM_CREATE_PIT2: %s", strerror(-r));
		return r;
	}
	r = vm->kvm->ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (r < (int)sizeof(struct kvm_run)) {
		log_err("KVM_GET_VCPU_MMAP_SIZE: %s", r < 0 ? strerror(-r) : "too small");
		return r < 0 ? r : -EINVAL;
	}
	vm->run_size = (size_t)r;
	vm->immediate_exit = vm->kvm->ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION,
					    (void *)(long)KVM_CAP_IMMEDIATE_EXIT) == 1;
	vm_enable_manual_dirty(vm);
	return 0;
}

uint64_t vm_ext_offered(const struct vm *vm)
{
	return vm->cfg->no_extensions ? 0 : PLUGVM_EXT_ALL;
}

void vm_release(struct vm *vm)
{
	/* DefaultCpuid's copy (ext.c). */
	free(vm->default_cpuid);
	vm->default_cpuid = NULL;
	for (size_t i = 0; i < vm->objects.n; i++) {
		struct object *obj = &vm->objects.v[i];

		/* The VM fd is about to go away with every registration; only local resources remain. */
		switch (obj->kind) {
		case OBJECT_IO_EVENT:
			close(obj->io.fd);
			break;
		case OBJECT_MEMORY:
			munmap(obj->mem.map, obj->mem.length);
			vm_dirty_log_unmap(obj);
			break;
		case OBJECT_IRQ_EVENT:
			close(obj->irq.fd);
			break;
		default:
			break;
		}
	}
	objects_free(&vm->objects);
	ranges_free(&vm->ranges[0]);
	ranges_free(&vm->ranges[1]);
	free(vm->hint.details);
	vm->hint.details = NULL;
	for (size_t i = 0; i < vm->n_taps; i++)
		close(vm->tap_fds[i]);
	free(vm->tap_fds);
	vm->tap_fds = NULL;
	vm->n_taps = 0;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->kill_efd >= 0)
		close(vm->kill_efd);
	if (vm->exit_efd >= 0)
		close(vm->exit_efd);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	vm->vm_fd = vm->kvm_fd = vm->kill_efd = vm->exit_efd = vm->stop_efd = -1;
	pthread_rwlock_destroy(&vm->io_lock);
	pthread_mutex_destroy(&vm->fail_lock);
	pthread_mutex_destroy(&vm->barrier.lock);
	pthread_cond_destroy(&vm->barrier.cond);
}

void vm_fail(struct vm *vm, const char *fmt, ...)
{
	char msg[sizeof(vm->fail_msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&vm->fail_lock);
	if (!vm->failed) {
		vm->failed = true;
		memcpy(vm->fail_msg, msg, sizeof(msg));
		log_debug("first failure: %s", msg);
	} else {
		/* Only the first cause ends up in the final error line. */
		log_warn("%s", msg);
	}
	pthread_mutex_unlock(&vm->fail_lock);
}

/* Signals one of the VM's eventfds if it exists; a failure is only logged. */
static void vm_efd_signal(int fd)
{
	if (fd >= 0 && efd_signal(fd) < 0)
		log_warn("eventfd write: %m");
}

void vm_signal_kill(struct vm *vm)
{
	if (atomic_exchange(&vm->kill_signaled, true))
		return;
	vm_efd_signal(vm->kill_efd);
	vm_efd_signal(vm->stop_efd);
	pthread_mutex_lock(&vm->barrier.lock);
	vm->barrier.broken = true;
	pthread_cond_broadcast(&vm->barrier.cond);
	pthread_mutex_unlock(&vm->barrier.lock);
	if (vm->kick_vcpus)
		vm->kick_vcpus(vm);
}

void vm_barrier_wait(struct vm *vm)
{
	struct vm_barrier *b = &vm->barrier;

	pthread_mutex_lock(&b->lock);
	if (++b->waiting >= b->count)
		pthread_cond_broadcast(&b->cond);
	while (b->waiting < b->count && !b->broken)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

int vm_create_io_event(struct vm *vm, struct object *obj, uint32_t space, uint64_t addr,
		       uint32_t len, uint64_t datamatch)
{
	struct kvm_ioeventfd io = { .addr = addr, .len = len };
	int fd, r;

	switch (len) {
	case 0:
		datamatch = 0;
		break;
	case 1:
		datamatch &= 0xff;
		break;
	case 2:
		datamatch &= 0xffff;
		break;
	case 4:
		datamatch &= 0xffffffff;
		break;
	case 8:
		break;
	default:
		return -EINVAL;
	}
	if (space > VM_SPACE_MMIO)
		return -EINVAL;
	/* Blocking and shared with the plugin: the file status flags travel with the fd. */
	fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	io.fd = fd;
	io.datamatch = datamatch;
	if (len)
		io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
	if (space == VM_SPACE_PIO)
		io.flags |= KVM_IOEVENTFD_FLAG_PIO;
	r = vm->kvm->ioctl(vm->vm_fd, KVM_IOEVENTFD, &io);
	if (r < 0) {
		close(fd);
		return r;
	}
	obj->kind = OBJECT_IO_EVENT;
	obj->io.fd = fd;
	obj->io.addr = addr;
	obj->io.len = len;
	obj->io.datamatch = datamatch;
	obj->io.pio = space == VM_SPACE_PIO;
	return 0;
}

int vm_create_memory(struct vm *vm, struct object *obj, int fd, uint64_t offset, uint64_t start,
		     uint64_t length, bool read_only, bool dirty_log)
{
	struct kvm_userspace_memory_region region = { 0 };
	off_t size;
	int seals, slot, r, mflags = MAP_SHARED;
	void *map;

	size = lseek(fd, 0, SEEK_END);
	if (size < 0)
		return -errno;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -errno;
	/* Without F_SEAL_SHRINK the plugin could truncate the file under our mapping (SIGBUS). */
	if (!(seals & F_SEAL_SHRINK))
		return -EPERM;
	if (offset > UINT64_MAX - length)
		return -EOVERFLOW;
	if (offset + length > (uint64_t)size)
		return -EINVAL;
	/* A write-sealed memfd refuses shared writable mappings; the guest then sees a private copy. */
	if (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))
		mflags = MAP_PRIVATE;
	if (length > SIZE_MAX || offset > (uint64_t)INT64_MAX)
		return -EINVAL;
	/* A sparse memfd costs the plugin nothing; the cap bounds our share (maps, bitmaps). */
	if (length > VM_MAX_GUEST_MEMORY - vm->guest_mem)
		return -ENOSPC;
	map = mmap(NULL, (size_t)length, PROT_READ | PROT_WRITE, mflags, fd, (off_t)offset);
	if (map == MAP_FAILED)
		return -errno;
	if (start > UINT64_MAX - length) {
		r = -EOVERFLOW;
		goto err_unmap;
	}
	madvise(map, (size_t)length, MADV_DONTDUMP);
	slot = objects_slot_alloc(&vm->objects);
	if (slot < 0) {
		r = slot;
		goto err_unmap;
	}
	region.slot = (uint32_t)slot;
	region.flags = (read_only ? KVM_MEM_READONLY : 0) | (dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0);
	region.guest_phys_addr = start;
	region.memory_size = length;
	region.userspace_addr = (uint64_t)(uintptr_t)map;
	r = vm->kvm->ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
	if (r < 0)
		goto err_slot;
	obj->kind = OBJECT_MEMORY;
	obj->mem.map = map;
	obj->mem.length = length;
	obj->mem.start = start;
	obj->mem.slot = (uint32_t)slot;
	obj->mem.dirty_log = dirty_log;
	vm->guest_mem += length;
	return 0;

err_slot:
	objects_slot_free(&vm->objects, (uint32_t)slot);
err_unmap:
	munmap(map, (size_t)length);
	return r;
}

int vm_create_irq_event(struct vm *vm, struct object *obj, uint32_t gsi, int *ret_resample_fd)
{
	struct kvm_irqfd irqfd = { .gsi = gsi, .flags = KVM_IRQFD_FLAG_RESAMPLE };
	int trigger, resample, r;

	trigger = eventfd(0, EFD_CLOEXEC);
	if (trigger < 0)
		return -errno;
	resample = eventfd(0, EFD_CLOEXEC);
	if (resample < 0) {
		r = -errno;
		goto err_trigger;
	}
	irqfd.fd = (uint32_t)trigger;
	irqfd.resamplefd = (uint32_t)resample;
	r = vm->kvm->ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
	if (r < 0)
		goto err_resample;
	obj->kind = OBJECT_IRQ_EVENT;
	obj->irq.fd = trigger;
	obj->irq.gsi = gsi;
	*ret_resample_fd = resample;
	return 0;

err_resample:
	close(resample);
err_trigger:
	close(trigger);
	return r;
}

int vm_destroy_object(struct vm *vm, struct object *obj)
{
	int r;

	switch (obj->kind) {
	case OBJECT_IO_EVENT: {
		struct kvm_ioeventfd io = {
			.datamatch = obj->io.datamatch,
			.addr = obj->io.addr,
			.len = obj->io.len,
			.fd = obj->io.fd,
			.flags = KVM_IOEVENTFD_FLAG_DEASSIGN,
		};

		if (obj->io.len)
			io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
		if (obj->io.pio)
			io.flags |= KVM_IOEVENTFD_FLAG_PIO;
		r = vm->kvm->ioctl(vm->vm_fd, KVM_IOEVENTFD, &io);
		if (r < 0)
			return r;
		close(obj->io.fd);
		obj->io.fd = -1;
		return 0;
	}
	case OBJECT_MEMORY: {
		struct kvm_userspace_memory_region region = { .slot = obj->mem.slot };

		r = vm->kvm->ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
		if (r < 0)
			return r;
		munmap(obj->mem.map, obj->mem.length);
		vm_dirty_log_unmap(obj);
		objects_slot_free(&vm->objects, obj->mem.slot);
		vm->guest_mem -= obj->mem.length;
		obj->mem.map = NULL;
		return 0;
	}
	case OBJECT_IRQ_EVENT: {
		struct kvm_irqfd irqfd = {
			.fd = (uint32_t)obj->irq.fd,
			.gsi = obj->irq.gsi,
			.flags = KVM_IRQFD_FLAG_DEASSIGN,
		};

		r = vm->kvm->ioctl(vm->vm_fd, KVM_IRQFD, &irqfd);
		if (r < 0)
			return r;
		close(obj->irq.fd);
		obj->irq.fd = -1;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/* Pages cleared per KVM_CLEAR_DIRTY_LOG: 1 GiB, a multiple of 64 as KVM requires. */
#define VM_DIRTY_CLEAR_PAGES (1u << 18)

uint64_t vm_dirty_log_bytes(const struct object *obj)
{
	uint64_t npages = (obj->mem.length + PAGE_SIZE_4K - 1) / PAGE_SIZE_4K;

	/* KVM writes whole 64-bit words (docs/protocol.md §7.4). */
	return (npages + 63) / 64 * 8;
}

/* Reads (and, in manual mode, clears) @obj's log into @bitmap, vm_dirty_log_bytes() long. */
static int vm_dirty_log_read(struct vm *vm, const struct object *obj, uint64_t *bitmap)
{
	struct kvm_dirty_log log = { .slot = obj->mem.slot, .dirty_bitmap = bitmap };
	uint64_t npages = (obj->mem.length + PAGE_SIZE_4K - 1) / PAGE_SIZE_4K;
	int r;

	r = vm->kvm->ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log);
	if (r < 0 || !vm->manual_dirty)
		return r;
	for (uint64_t first = 0; first < npages; first += VM_DIRTY_CLEAR_PAGES) {
		uint64_t n = npages - first < VM_DIRTY_CLEAR_PAGES ? npages - first :
								     VM_DIRTY_CLEAR_PAGES;
		uint64_t *w = bitmap + first / 64, any = 0;
		struct kvm_clear_dirty_log clear = {
			.slot = obj->mem.slot,
			.num_pages = (uint32_t)n,
			.first_page = first,
			.dirty_bitmap = w,
		};

		for (uint64_t i = 0; i < (n + 63) / 64; i++)
			any |= w[i];
		if (!any)
			continue; /* nothing to write-protect again */
		r = vm->kvm->ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear);
		if (r < 0)
			return r;
	}
	return 0;
}

int vm_dirty_log(struct vm *vm, const struct object *obj, uint8_t **ret_bitmap, size_t *ret_len)
{
	uint64_t npages, bytes;
	uint64_t *bitmap;
	int r;

	if (obj->kind != OBJECT_MEMORY)
		return -ENOENT;
	npages = (obj->mem.length + PAGE_SIZE_4K - 1) / PAGE_SIZE_4K;
	bytes = vm_dirty_log_bytes(obj);
	bitmap = calloc(bytes ? bytes / 8 : 1, 8);
	if (!bitmap)
		return -ENOMEM;
	r = vm_dirty_log_read(vm, obj, bitmap);
	if (r < 0) {
		free(bitmap);
		return r;
	}
	*ret_bitmap = (uint8_t *)bitmap;
	/* The reply carries only whole bytes. */
	*ret_len = (size_t)((npages + 7) / 8);
	return 0;
}

void vm_dirty_log_unmap(struct object *obj)
{
	if (obj->mem.log_map)
		munmap(obj->mem.log_map, (size_t)obj->mem.log_bytes);
	obj->mem.log_map = NULL;
}

int vm_dirty_log_shared(struct vm *vm, struct object *obj, int fd)
{
	uint64_t bytes, none = 0;
	struct stat st;
	void *map;
	int seals;

	if (obj->kind != OBJECT_MEMORY)
		return -ENOENT;
	bytes = vm_dirty_log_bytes(obj);
	if (!bytes)
		return vm_dirty_log_read(vm, obj, &none);
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL; /* a pipe, socket, eventfd, ... */
	/* The same file as last time (the library keeps one per object): its mapping stays. */
	if (obj->mem.log_map && st.st_dev == obj->mem.log_dev && st.st_ino == obj->mem.log_ino)
		return vm_dirty_log_read(vm, obj, obj->mem.log_map);
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return -errno; /* EINVAL: a file that is not a memfd */
	/* Without F_SEAL_SHRINK the plugin could truncate it under our mapping (SIGBUS). */
	if (!(seals & F_SEAL_SHRINK))
		return -EPERM;
	if ((uint64_t)st.st_size < bytes || bytes > SIZE_MAX)
		return -EINVAL;
	map = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	vm_dirty_log_unmap(obj);
	obj->mem.log_map = map;
	obj->mem.log_bytes = bytes;
	obj->mem.log_dev = st.st_dev;
	obj->mem.log_ino = st.st_ino;
	return vm_dirty_log_read(vm, obj, map);
}

int vm_state_size(uint32_t set)
{
	switch (set) {
	case 0: /* PIC0 */
	case 1: /* PIC1 */
		return sizeof(struct kvm_pic_state);
	case 2:
		return sizeof(struct kvm_ioapic_state);
	case 3:
		return sizeof(struct kvm_pit_state2);
	case 4:
		return sizeof(struct kvm_clock_data);
	default:
		return -EINVAL;
	}
}

int vm_get_state(struct vm *vm, uint32_t set, void *buf)
{
	int r;

	switch (set) {
	case 0:
	case 1:
	case 2: {
		struct kvm_irqchip chip = { .chip_id = set };

		r = vm->kvm->ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip);
		if (r < 0)
			return r;
		if (set == 2)
			memcpy(buf, &chip.chip.ioapic, sizeof(chip.chip.ioapic));
		else
			memcpy(buf, &chip.chip.pic, sizeof(chip.chip.pic));
		return 0;
	}
	case 3: {
		struct kvm_pit_state2 pit;

		r = vm->kvm->ioctl(vm->vm_fd, KVM_GET_PIT2, &pit);
		if (r < 0)
			return r;
		memcpy(buf, &pit, sizeof(pit));
		return 0;
	}
	case 4: {
		struct kvm_clock_data clock;

		memset(&clock, 0, sizeof(clock));
		r = vm->kvm->ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock);
		if (r < 0)
			return r;
		memcpy(buf, &clock, sizeof(clock));
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int vm_set_state(struct vm *vm, uint32_t set, const void *buf, size_t len)
{
	int size = vm_state_size(set);

	if (size < 0 || len != (size_t)size)
		return -EINVAL;
	switch (set) {
	case 0:
	case 1:
	case 2: {
		struct kvm_irqchip chip;

		memset(&chip, 0, sizeof(chip));
		chip.chip_id = set;
		if (set == 2)
			memcpy(&chip.chip.ioapic, buf, len);
		else
			memcpy(&chip.chip.pic, buf, len);
		return vm->kvm->ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip);
	}
	case 3: {
		struct kvm_pit_state2 pit;

		memcpy(&pit, buf, len);
		return vm->kvm->ioctl(vm->vm_fd, KVM_SET_PIT2, &pit);
	}
	case 4: {
		struct kvm_clock_data clock;

		memcpy(&clock, buf, len);
		return vm->kvm->ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock);
	}
	default:
		return -EINVAL;
	}
}

int vm_get_cpuid(struct vm *vm, bool emulated, struct kvm_cpuid2 **ret_cpuid)
{
	unsigned long req = emulated ? KVM_GET_EMULATED_CPUID : KVM_GET_SUPPORTED_CPUID;

	/*
	 * The original asked for 256 entries and passed E2BIG through; retrying
	 * with a larger buffer answers on kernels that ever report more.
	 */
	for (uint32_t nent = 256; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c;
		int r;

		c = calloc(1, sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));
		if (!c)
			return -ENOMEM;
		c->nent = nent;
		r = vm->kvm->ioctl(vm->kvm_fd, req, c);
		if (r >= 0) {
			*ret_cpuid = c;
			return 0;
		}
		free(c);
		if (r != -E2BIG)
			return r;
	}
	return -E2BIG;
}

int vm_get_msr_index_list(struct vm *vm, uint32_t **ret_indices, size_t *ret_n)
{
	uint32_t n = 256;

	for (int tries = 0; tries < 4; tries++) {
		struct kvm_msr_list *l;
		int r;

		l = calloc(1, sizeof(*l) + (size_t)n * sizeof(uint32_t));
		if (!l)
			return -ENOMEM;
		l->nmsrs = n;
		r = vm->kvm->ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l);
		if (r >= 0) {
			uint32_t *idx = malloc((l->nmsrs ? l->nmsrs : 1) * sizeof(uint32_t));

			if (!idx) {
				free(l);
				return -ENOMEM;
			}
			memcpy(idx, l->indices, l->nmsrs * sizeof(uint32_t));
			*ret_indices = idx;
			*ret_n = l->nmsrs;
			free(l);
			return 0;
		}
		/* On E2BIG the kernel stores the count it needs. */
		if (r != -E2BIG || l->nmsrs <= n || l->nmsrs > 65536) {
			free(l);
			return r;
		}
		n = l->nmsrs;
		free(l);
	}
	return -E2BIG;
}
