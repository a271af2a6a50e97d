// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "kvm-fake.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util.h"

enum fake_kind {
	FAKE_NONE,
	FAKE_DEV,
	FAKE_VM,
	FAKE_VCPU,
};

struct fake_fd {
	int fd;
	enum fake_kind kind;
	unsigned vcpu; /* FAKE_VCPU: index into fake.vcpus */
};

struct fake_slot {
	uint32_t id;
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;
};

struct fake_ioeventfd {
	uint64_t addr;
	uint32_t len;
	int fd;
	uint64_t datamatch;
	uint32_t flags;
};

struct fake_irqfd {
	int fd;
	uint32_t gsi;
};

/* Kernel-side copies of the vcpu state images, so a get returns what a set stored. */
struct fake_vcpu {
	uint32_t id;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_debugregs debugregs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	uint64_t msr[64]; /* MSRs 0..63 exist, nothing else */
	uint8_t xsave[KVM_FAKE_XSAVE_MAX]; /* the XSAVE area, fake.xsave_size bytes of it used */
};

static struct {
	pthread_mutex_t lock;
	struct fake_fd *fds;
	size_t n_fds;
	size_t cap_fds;
	bool vm_exists;
	struct fake_slot *slots; /* live slots, unordered */
	size_t n_slots;
	size_t cap_slots;
	struct fake_ioeventfd *ioev;
	size_t n_ioev;
	size_t cap_ioev;
	struct fake_irqfd *irqfds;
	size_t n_irqfds;
	size_t cap_irqfds;
	struct fake_vcpu *vcpus[KVM_FAKE_MAX_VCPUS]; /* allocated on KVM_CREATE_VCPU */
	unsigned n_vcpus;
	struct kvm_pic_state pic[2];
	struct kvm_ioapic_state ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	uint32_t n_routes;
	uint32_t xsave2; /* KVM_CAP_XSAVE2's answer (kvm_fake_set_xsave2()) */
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* A sink the compiler cannot drop: reading through it makes ASan check every byte. */
static volatile uint8_t fake_sink;

static void touch_read(const void *p, size_t n)
{
	const volatile uint8_t *b = p;
	uint8_t x = 0;

	for (size_t i = 0; i < n; i++)
		x ^= b[i];
	fake_sink = x;
}

static void touch_write(void *dst, const void *src, size_t n)
{
	memcpy(dst, src, n);
}

static struct fake_fd *fake_lookup(int fd)
{
	for (size_t i = 0; i < fake.n_fds; i++)
		if (fake.fds[i].fd == fd)
			return &fake.fds[i];
	return NULL;
}

/* A real descriptor stands for each KVM object, so the caller can close it. */
static int fake_new_fd(enum fake_kind kind, unsigned vcpu)
{
	int fd;

	{
		struct fake_fd *n =
			grow_array(fake.fds, &fake.cap_fds, fake.n_fds + 1, sizeof(*n), 16);

		if (!n)
			return -ENOMEM;
		fake.fds = n;
	}
	fd = eventfd(0, EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* An fd number the host closed may come back: forget the stale entry first. */
	for (size_t i = 0; i < fake.n_fds; i++) {
		if (fake.fds[i].fd == fd) {
			fake.fds[i] = fake.fds[--fake.n_fds];
			break;
		}
	}
	fake.fds[fake.n_fds++] = (struct fake_fd){ .fd = fd, .kind = kind, .vcpu = vcpu };
	return fd;
}

static void fake_forget_vm(void)
{
	free(fake.slots);
	free(fake.ioev);
	free(fake.irqfds);
	for (size_t i = 0; i < KVM_FAKE_MAX_VCPUS; i++) {
		free(fake.vcpus[i]);
		fake.vcpus[i] = NULL;
	}
	fake.slots = NULL;
	fake.ioev = NULL;
	fake.irqfds = NULL;
	fake.n_slots = fake.cap_slots = 0;
	fake.n_ioev = fake.cap_ioev = 0;
	fake.n_irqfds = fake.cap_irqfds = 0;
	fake.n_vcpus = 0;
	fake.n_routes = 0;
	fake.vm_exists = false;
}

void kvm_fake_reset(void)
{
	pthread_mutex_lock(&fake.lock);
	fake_forget_vm();
	free(fake.fds);
	fake.fds = NULL;
	fake.n_fds = fake.cap_fds = 0;
	fake.xsave2 = 0;
	pthread_mutex_unlock(&fake.lock);
}

void kvm_fake_set_xsave2(uint32_t size)
{
	pthread_mutex_lock(&fake.lock);
	fake.xsave2 = size > KVM_FAKE_XSAVE_MAX ? KVM_FAKE_XSAVE_MAX : size;
	pthread_mutex_unlock(&fake.lock);
}

void kvm_fake_stats(struct kvm_fake_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	pthread_mutex_lock(&fake.lock);
	for (size_t i = 0; i < fake.n_slots; i++) {
		ret->slots++;
		ret->slot_bytes += fake.slots[i].size;
	}
	ret->ioeventfds = (unsigned)fake.n_ioev;
	ret->irqfds = (unsigned)fake.n_irqfds;
	ret->vcpus = fake.n_vcpus;
	pthread_mutex_unlock(&fake.lock);
}

static bool fd_valid(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

/* ---- /dev/kvm ---- */

#define FAKE_N_CPUID 40u
#define FAKE_N_EMULATED 3u
#define FAKE_N_MSR_INDICES 48u

static int fake_get_cpuid(struct kvm_cpuid2 *c, uint32_t have)
{
	uint32_t nent;

	touch_read(c, sizeof(*c));
	nent = c->nent;
	/* The kernel answers E2BIG without touching the caller's count. */
	if (nent < have)
		return -E2BIG;
	for (uint32_t i = 0; i < have; i++) {
		struct kvm_cpuid_entry2 e = {
			.function = i < have / 2 ? i : 0x80000000u + i,
			.index = i % 3,
			.flags = i % 3 ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
			.eax = 0x1000u + i,
			.ebx = 0x2000u + i,
			.ecx = 0x3000u + i,
			.edx = 0x4000u + i,
		};

		touch_write(&c->entries[i], &e, sizeof(e));
	}
	c->nent = have;
	return 0;
}

static int fake_msr_index_list(struct kvm_msr_list *l)
{
	uint32_t n;

	touch_read(l, sizeof(*l));
	n = l->nmsrs;
	l->nmsrs = FAKE_N_MSR_INDICES;
	if (n < FAKE_N_MSR_INDICES)
		return -E2BIG;
	for (uint32_t i = 0; i < FAKE_N_MSR_INDICES; i++)
		l->indices[i] = i < 32 ? i : 0xc0000080u + i;
	return 0;
}

static int fake_check_extension(unsigned long ext)
{
	switch (ext) {
	case KVM_CAP_XSAVE:
		return 1;
	case KVM_CAP_XSAVE2:
		return (int)fake.xsave2;
	case KVM_CAP_IRQCHIP:
	case KVM_CAP_IMMEDIATE_EXIT:
	case KVM_CAP_IOEVENTFD:
	case KVM_CAP_IRQFD:
		return 1;
	case KVM_CAP_NR_MEMSLOTS:
		return KVM_FAKE_MEM_SLOTS;
	default:
		return 0;
	}
}

static int fake_dev_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case KVM_GET_API_VERSION:
		return KVM_API_VERSION;
	case KVM_CREATE_VM:
		if ((unsigned long)arg != 0)
			return -EINVAL;
		if (fake.vm_exists)
			return -EBUSY; /* the model keeps one VM; the host never makes two */
		memset(fake.pic, 0, sizeof(fake.pic));
		memset(&fake.ioapic, 0, sizeof(fake.ioapic));
		fake.ioapic.base_address = 0xfec00000u;
		memset(&fake.pit, 0, sizeof(fake.pit));
		memset(&fake.clock, 0, sizeof(fake.clock));
		fake.vm_exists = true;
		{
			int fd = fake_new_fd(FAKE_VM, 0);

			if (fd < 0)
				fake_forget_vm();
			return fd;
		}
	case KVM_GET_VCPU_MMAP_SIZE:
		return KVM_FAKE_RUN_SIZE;
	case KVM_CHECK_EXTENSION:
		return fake_check_extension((unsigned long)arg);
	case KVM_GET_SUPPORTED_CPUID:
		return fake_get_cpuid(arg, FAKE_N_CPUID);
	case KVM_GET_EMULATED_CPUID:
		return fake_get_cpuid(arg, FAKE_N_EMULATED);
	case KVM_GET_MSR_INDEX_LIST:
		return fake_msr_index_list(arg);
	default:
		return -ENOTTY;
	}
}

/* ---- VM ---- */

static struct fake_slot *fake_find_slot(uint32_t id)
{
	for (size_t i = 0; i < fake.n_slots; i++)
		if (fake.slots[i].id == id)
			return &fake.slots[i];
	return NULL;
}

static int fake_set_memory(const struct kvm_userspace_memory_region *argp)
{
	struct kvm_userspace_memory_region r;
	struct fake_slot *s;

	touch_write(&r, argp, sizeof(r));
	if (r.flags & ~(uint32_t)(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY))
		return -EINVAL;
	if ((r.memory_size | r.guest_phys_addr | r.userspace_addr) & 4095)
		return -EINVAL;
	if (r.slot >= KVM_FAKE_MEM_SLOTS)
		return -EINVAL;
	if (r.guest_phys_addr + r.memory_size < r.guest_phys_addr)
		return -EINVAL;
	s = fake_find_slot(r.slot);
	if (r.memory_size == 0) {
		if (s)
			*s = fake.slots[--fake.n_slots];
		return 0;
	}
	if (s)
		return -EINVAL; /* moving or resizing a slot; the host never does */
	for (size_t i = 0; i < fake.n_slots; i++) {
		const struct fake_slot *o = &fake.slots[i];

		if (r.guest_phys_addr < o->gpa + o->size &&
		    o->gpa < r.guest_phys_addr + r.memory_size)
			return -EEXIST;
	}
	{
		struct fake_slot *n =
			grow_array(fake.slots, &fake.cap_slots, fake.n_slots + 1, sizeof(*n), 16);

		if (!n)
			return -ENOMEM;
		fake.slots = n;
	}
	/*
	 * The kernel faults the range in as the guest touches it; reading both
	 * ends catches a mapping shorter than what was registered (SIGBUS past
	 * the end of the file, or an ASan report).
	 */
	touch_read((const void *)(uintptr_t)r.userspace_addr, 1);
	touch_read((const void *)(uintptr_t)(r.userspace_addr + r.memory_size - 1), 1);
	fake.slots[fake.n_slots++] = (struct fake_slot){ .id = r.slot,
							 .flags = r.flags,
							 .gpa = r.guest_phys_addr,
							 .size = r.memory_size,
							 .uaddr = r.userspace_addr };
	return 0;
}

static int fake_dirty_log(struct kvm_dirty_log *argp)
{
	struct kvm_dirty_log log;
	const struct fake_slot *s;
	uint64_t npages, bytes;
	uint8_t *bm;

	touch_write(&log, argp, sizeof(log));
	s = fake_find_slot(log.slot);
	if (!s || !(s->flags & KVM_MEM_LOG_DIRTY_PAGES))
		return -ENOENT;
	npages = s->size / 4096;
	/*
	 * The kernel writes whole 64-bit words: ALIGN(npages, 64) / 8 bytes (docs/protocol.md
	 * §7.4).
	 */
	bytes = (npages + 63) / 64 * 8;
	bm = log.dirty_bitmap;
	for (uint64_t i = 0; i < bytes; i++)
		bm[i] = (uint8_t)(i * 37 + log.slot);
	return 0;
}

static int fake_ioeventfd(const struct kvm_ioeventfd *argp)
{
	struct kvm_ioeventfd io;
	const uint32_t known = KVM_IOEVENTFD_FLAG_DATAMATCH | KVM_IOEVENTFD_FLAG_PIO |
			       KVM_IOEVENTFD_FLAG_DEASSIGN;
	bool pio, wild;
	size_t on_bus = 0;

	touch_write(&io, argp, sizeof(io));
	if (io.flags & ~known)
		return -EINVAL;
	if (io.len != 0 && io.len != 1 && io.len != 2 && io.len != 4 && io.len != 8)
		return -EINVAL;
	if (io.addr + io.len < io.addr)
		return -EINVAL;
	if ((io.flags & KVM_IOEVENTFD_FLAG_DATAMATCH) && io.len == 0)
		return -EINVAL;
	pio = io.flags & KVM_IOEVENTFD_FLAG_PIO;
	wild = !(io.flags & KVM_IOEVENTFD_FLAG_DATAMATCH);
	if (io.flags & KVM_IOEVENTFD_FLAG_DEASSIGN) {
		for (size_t i = 0; i < fake.n_ioev; i++) {
			struct fake_ioeventfd *e = &fake.ioev[i];

			if (e->fd == io.fd && e->addr == io.addr && e->len == io.len &&
			    ((e->flags ^ io.flags) & (KVM_IOEVENTFD_FLAG_PIO |
						      KVM_IOEVENTFD_FLAG_DATAMATCH)) == 0 &&
			    (wild || e->datamatch == io.datamatch)) {
				fake.ioev[i] = fake.ioev[--fake.n_ioev];
				return 0;
			}
		}
		return -ENOENT;
	}
	if (!fd_valid(io.fd))
		return -EBADF;
	for (size_t i = 0; i < fake.n_ioev; i++) {
		const struct fake_ioeventfd *e = &fake.ioev[i];
		bool ewild = !(e->flags & KVM_IOEVENTFD_FLAG_DATAMATCH);

		if (!!(e->flags & KVM_IOEVENTFD_FLAG_PIO) != pio)
			continue;
		on_bus++;
		if (e->addr == io.addr && e->len == io.len &&
		    (wild || ewild || e->datamatch == io.datamatch))
			return -EEXIST;
	}
	if (on_bus >= KVM_FAKE_IOBUS_DEVS)
		return -ENOSPC;
	{
		struct fake_ioeventfd *n =
			grow_array(fake.ioev, &fake.cap_ioev, fake.n_ioev + 1, sizeof(*n), 16);

		if (!n)
			return -ENOMEM;
		fake.ioev = n;
	}
	fake.ioev[fake.n_ioev++] = (struct fake_ioeventfd){ .addr = io.addr,
							    .len = io.len,
							    .fd = io.fd,
							    .datamatch = io.datamatch,
							    .flags = io.flags };
	return 0;
}

static int fake_irqfd(const struct kvm_irqfd *argp)
{
	struct kvm_irqfd q;

	touch_write(&q, argp, sizeof(q));
	if (q.flags & ~(uint32_t)(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE))
		return -EINVAL;
	if (q.flags & KVM_IRQFD_FLAG_DEASSIGN) {
		for (size_t i = 0; i < fake.n_irqfds; i++) {
			if (fake.irqfds[i].fd == (int)q.fd && fake.irqfds[i].gsi == q.gsi) {
				fake.irqfds[i] = fake.irqfds[--fake.n_irqfds];
				break;
			}
		}
		return 0;
	}
	if (!fd_valid((int)q.fd))
		return -EBADF;
	if ((q.flags & KVM_IRQFD_FLAG_RESAMPLE) && !fd_valid((int)q.resamplefd))
		return -EBADF;
	for (size_t i = 0; i < fake.n_irqfds; i++)
		if (fake.irqfds[i].fd == (int)q.fd)
			return -EBUSY;
	{
		struct fake_irqfd *n =
			grow_array(fake.irqfds, &fake.cap_irqfds, fake.n_irqfds + 1, sizeof(*n),
				   16);

		if (!n)
			return -ENOMEM;
		fake.irqfds = n;
	}
	fake.irqfds[fake.n_irqfds++] = (struct fake_irqfd){ .fd = (int)q.fd, .gsi = q.gsi };
	return 0;
}

static int fake_routing(const struct kvm_irq_routing *argp)
{
	struct kvm_irq_routing hdr;

	touch_write(&hdr, argp, sizeof(hdr));
	if (hdr.nr > KVM_FAKE_MAX_ROUTES || hdr.flags)
		return -EINVAL;
	touch_read(argp->entries, (size_t)hdr.nr * sizeof(argp->entries[0]));
	for (uint32_t i = 0; i < hdr.nr; i++) {
		const struct kvm_irq_routing_entry *e = &argp->entries[i];

		if (e->gsi >= KVM_FAKE_MAX_ROUTES || e->flags)
			return -EINVAL;
		switch (e->type) {
		case KVM_IRQ_ROUTING_IRQCHIP:
			if (e->u.irqchip.irqchip > 2 ||
			    e->u.irqchip.pin >= (e->u.irqchip.irqchip == 2 ? 24u : 8u))
				return -EINVAL;
			break;
		case KVM_IRQ_ROUTING_MSI:
			break;
		default:
			return -EINVAL;
		}
	}
	fake.n_routes = hdr.nr;
	return 0;
}

static int fake_irqchip(struct kvm_irqchip *argp, bool set)
{
	struct kvm_irqchip chip;

	touch_write(&chip, argp, sizeof(chip));
	switch (chip.chip_id) {
	case 0:
	case 1:
		if (set)
			fake.pic[chip.chip_id] = chip.chip.pic;
		else
			argp->chip.pic = fake.pic[chip.chip_id];
		return 0;
	case 2:
		if (set)
			fake.ioapic = chip.chip.ioapic;
		else
			argp->chip.ioapic = fake.ioapic;
		return 0;
	default:
		return -EINVAL;
	}
}

static int fake_vm_ioctl(unsigned long req, void *arg)
{
	switch (req) {
	case KVM_CREATE_IRQCHIP:
		return 0;
	case KVM_CREATE_PIT2:
		touch_read(arg, sizeof(struct kvm_pit_config));
		return 0;
	case KVM_CHECK_EXTENSION:
		return fake_check_extension((unsigned long)arg);
	case KVM_SET_USER_MEMORY_REGION:
		return fake_set_memory(arg);
	case KVM_GET_DIRTY_LOG:
		return fake_dirty_log(arg);
	case KVM_IOEVENTFD:
		return fake_ioeventfd(arg);
	case KVM_IRQFD:
		return fake_irqfd(arg);
	case KVM_IRQ_LINE:
		touch_read(arg, sizeof(struct kvm_irq_level));
		return 0;
	case KVM_SET_GSI_ROUTING:
		return fake_routing(arg);
	case KVM_GET_IRQCHIP:
		return fake_irqchip(arg, false);
	case KVM_SET_IRQCHIP:
		return fake_irqchip(arg, true);
	case KVM_GET_PIT2:
		touch_write(arg, &fake.pit, sizeof(fake.pit));
		return 0;
	case KVM_SET_PIT2:
		touch_write(&fake.pit, arg, sizeof(fake.pit));
		return 0;
	case KVM_GET_CLOCK:
		touch_write(arg, &fake.clock, sizeof(fake.clock));
		return 0;
	case KVM_SET_CLOCK: {
		struct kvm_clock_data c;

		touch_write(&c, arg, sizeof(c));
		/* KVM_CLOCK_VALID_FLAGS: TSC_STABLE, REALTIME, HOST_TSC. */
		if (c.flags & ~7u)
			return -EINVAL;
		fake.clock = c;
		return 0;
	}
	case KVM_SET_IDENTITY_MAP_ADDR:
		touch_read(arg, sizeof(uint64_t));
		return fake.n_vcpus ? -EINVAL : 0;
	case KVM_CREATE_VCPU: {
		unsigned long id = (unsigned long)arg;
		int fd;

		struct fake_vcpu *v;

		if (id >= KVM_FAKE_MAX_VCPUS)
			return -EINVAL;
		if (fake.vcpus[id])
			return -EEXIST;
		v = calloc(1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		fd = fake_new_fd(FAKE_VCPU, (unsigned)id);
		if (fd < 0) {
			free(v);
			return fd;
		}
		v->id = (uint32_t)id;
		v->regs.rflags = 2;
		v->xcrs.nr_xcrs = 1;
		v->xcrs.xcrs[0].value = 1;
		fake.vcpus[id] = v;
		fake.n_vcpus++;
		return fd;
	}
	default:
		return -ENOTTY;
	}
}

/* ---- vcpu ---- */

static int fake_state(void *arg, void *image, size_t size, bool set)
{
	if (set)
		touch_write(image, arg, size);
	else
		touch_write(arg, image, size);
	return 0;
}

static int fake_msrs(struct fake_vcpu *v, struct kvm_msrs *argp, bool set)
{
	struct kvm_msrs hdr;
	uint32_t i;

	touch_write(&hdr, argp, sizeof(hdr));
	if (hdr.nmsrs > KVM_FAKE_MAX_MSRS)
		return -E2BIG;
	touch_read(argp->entries, (size_t)hdr.nmsrs * sizeof(argp->entries[0]));
	/* Like the kernel, stop at the first MSR that does not exist and return the count done. */
	for (i = 0; i < hdr.nmsrs; i++) {
		struct kvm_msr_entry *e = &argp->entries[i];

		if (e->index >= sizeof(v->msr) / sizeof(v->msr[0]))
			break;
		if (set)
			v->msr[e->index] = e->data;
		else
			e->data = v->msr[e->index];
	}
	return (int)i;
}

static size_t fake_xsave_size(void)
{
	return fake.xsave2 > sizeof(struct kvm_xsave) ? fake.xsave2 : sizeof(struct kvm_xsave);
}

/*
 * As the kernel: reads the whole area (its size, whatever the caller meant)
 * and refuses XSTATE_BV bits outside the supported features (x87, SSE, AVX
 * here) and MXCSR reserved bits, leaving the area as it was.
 */
static int fake_set_xsave(struct fake_vcpu *v, const void *arg)
{
	static uint8_t copy[KVM_FAKE_XSAVE_MAX];
	uint64_t xstate_bv;
	uint32_t mxcsr;
	size_t size = fake_xsave_size();

	touch_write(copy, arg, size);
	memcpy(&mxcsr, copy + 24, sizeof(mxcsr));
	memcpy(&xstate_bv, copy + 512, sizeof(xstate_bv));
	if (xstate_bv & ~KVM_FAKE_XSAVE_FEATURES || (mxcsr & 0xffff0000u))
		return -EINVAL;
	memcpy(v->xsave, copy, size);
	return 0;
}

static int fake_vcpu_ioctl(struct fake_vcpu *v, unsigned long req, void *arg)
{
	switch (req) {
	case KVM_GET_REGS:
	case KVM_SET_REGS:
		return fake_state(arg, &v->regs, sizeof(v->regs), req == KVM_SET_REGS);
	case KVM_GET_SREGS:
	case KVM_SET_SREGS:
		return fake_state(arg, &v->sregs, sizeof(v->sregs), req == KVM_SET_SREGS);
	case KVM_GET_FPU:
	case KVM_SET_FPU:
		return fake_state(arg, &v->fpu, sizeof(v->fpu), req == KVM_SET_FPU);
	case KVM_GET_DEBUGREGS:
	case KVM_SET_DEBUGREGS:
		return fake_state(arg, &v->debugregs, sizeof(v->debugregs),
				  req == KVM_SET_DEBUGREGS);
	case KVM_GET_LAPIC:
	case KVM_SET_LAPIC:
		return fake_state(arg, &v->lapic, sizeof(v->lapic), req == KVM_SET_LAPIC);
	case KVM_GET_VCPU_EVENTS:
	case KVM_SET_VCPU_EVENTS:
		return fake_state(arg, &v->events, sizeof(v->events), req == KVM_SET_VCPU_EVENTS);
	case KVM_GET_MP_STATE:
		return fake_state(arg, &v->mp, sizeof(v->mp), false);
	case KVM_SET_MP_STATE: {
		struct kvm_mp_state mp;

		touch_write(&mp, arg, sizeof(mp));
		if (mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
			return -EINVAL;
		v->mp = mp;
		return 0;
	}
	case KVM_GET_XCRS:
		return fake_state(arg, &v->xcrs, sizeof(v->xcrs), false);
	case KVM_SET_XCRS: {
		struct kvm_xcrs x;

		touch_write(&x, arg, sizeof(x));
		if (x.nr_xcrs > KVM_MAX_XCRS || x.flags)
			return -EINVAL;
		v->xcrs = x;
		return 0;
	}
	case KVM_GET_MSRS:
		return fake_msrs(v, arg, false);
	case KVM_SET_MSRS:
		return fake_msrs(v, arg, true);
	case KVM_SET_CPUID2: {
		struct kvm_cpuid2 c;

		touch_write(&c, arg, sizeof(c));
		if (c.nent > KVM_FAKE_MAX_CPUID)
			return -E2BIG;
		touch_read(((struct kvm_cpuid2 *)arg)->entries,
			   (size_t)c.nent * sizeof(struct kvm_cpuid_entry2));
		return 0;
	}
	case KVM_GET_SUPPORTED_HV_CPUID:
		return fake_get_cpuid(arg, 11);
	case KVM_ENABLE_CAP: {
		struct kvm_enable_cap cap;

		touch_write(&cap, arg, sizeof(cap));
		if (cap.flags ||
		    (cap.cap != KVM_CAP_HYPERV_SYNIC && cap.cap != KVM_CAP_HYPERV_SYNIC2))
			return -EINVAL;
		return 0;
	}
	case KVM_GET_XSAVE:
		/* As the kernel: only while the area fits struct kvm_xsave. */
		if (fake_xsave_size() > sizeof(struct kvm_xsave))
			return -EINVAL;
		return fake_state(arg, v->xsave, sizeof(struct kvm_xsave), false);
	case KVM_GET_XSAVE2:
		return fake_state(arg, v->xsave, fake_xsave_size(), false);
	case KVM_SET_XSAVE:
		return fake_set_xsave(v, arg);
	case KVM_SET_SIGNAL_MASK: {
		struct kvm_signal_mask m;

		touch_write(&m, arg, sizeof(m));
		if (m.len != 8)
			return -EINVAL;
		touch_read(((struct kvm_signal_mask *)arg)->sigset, 8);
		return 0;
	}
	case KVM_RUN:
		/* Nothing runs here: the fuzzers drive exits by hand. */
		return -EINTR;
	default:
		return -ENOTTY;
	}
}

static int fake_ioctl(int fd, unsigned long req, void *arg)
{
	struct fake_fd *f;
	int r;

	pthread_mutex_lock(&fake.lock);
	f = fake_lookup(fd);
	if (!f) {
		r = fcntl(fd, F_GETFD) < 0 ? -EBADF : -ENOTTY;
	} else {
		switch (f->kind) {
		case FAKE_DEV:
			r = fake_dev_ioctl(req, arg);
			break;
		case FAKE_VM:
			r = fake.vm_exists ? fake_vm_ioctl(req, arg) : -EIO;
			break;
		case FAKE_VCPU:
			r = fake.vm_exists && fake.vcpus[f->vcpu] ?
				    fake_vcpu_ioctl(fake.vcpus[f->vcpu], req, arg) :
				    -EIO;
			break;
		default:
			r = -ENOTTY;
			break;
		}
	}
	pthread_mutex_unlock(&fake.lock);
	return r;
}

int kvm_fake_raw_ioctl(int fd, unsigned long req, void *arg)
{
	int r = fake_ioctl(fd, req, arg);

	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

static int fake_run(int vcpu_fd)
{
	/* Nothing runs here: callers drive exits by hand.  Like a kicked run. */
	return fake_ioctl(vcpu_fd, KVM_RUN, NULL);
}

static int fake_dev_open(const char *path)
{
	int r;

	(void)path;
	pthread_mutex_lock(&fake.lock);
	r = fake_new_fd(FAKE_DEV, 0);
	pthread_mutex_unlock(&fake.lock);
	return r;
}

static void *fake_map_run(int vcpu_fd, size_t size)
{
	void *p;

	(void)vcpu_fd;
	p = aligned_alloc(4096, (size + 4095) & ~(size_t)4095);
	if (p)
		memset(p, 0, size);
	return p;
}

static void fake_unmap_run(void *run, size_t size)
{
	(void)size;
	free(run);
}

const struct kvm_ops kvm_ops_fake = {
	.name = "fake",
	.dev_open = fake_dev_open,
	.ioctl = fake_ioctl,
	.run = fake_run,
	.map_run = fake_map_run,
	.unmap_run = fake_unmap_run,
};
