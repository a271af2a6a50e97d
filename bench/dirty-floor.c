// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The dirty-log floor: KVM_GET_DIRTY_LOG called in-process on a memory slot
 * of GIB GiB at guest physical 0 that the guest (bench_guest_dirty) dirties
 * page by page.  Usage: bench-dirty-floor plain|manual GIB ROUNDS.  Each round
 * runs one guest pass (every page written), then times the read of the fully
 * dirty log and a second read of the now clean one.  `manual` enables
 * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and follows each read with
 * KVM_CLEAR_DIRTY_LOG of the 1 GiB chunks that had dirty pages, as plugvm's
 * host does.  Prints "dirty NS clean NS" per GiB, medians over the rounds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench-util.h"

#define CHUNK_PAGES (1u << 18)

static int fail(const char *what)
{
	fprintf(stderr, "bench-dirty-floor: %s: %s\n", what, strerror(errno));
	return errno == ENOENT || errno == EACCES ? 77 : 1;
}

static int read_log(int vm, uint64_t *bitmap, uint64_t npages, bool manual)
{
	struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = bitmap };

	if (ioctl(vm, KVM_GET_DIRTY_LOG, &log) < 0)
		return -1;
	for (uint64_t first = 0; manual && first < npages; first += CHUNK_PAGES) {
		uint64_t n = npages - first < CHUNK_PAGES ? npages - first : CHUNK_PAGES, any = 0;
		struct kvm_clear_dirty_log c = {
			.slot = 0, .num_pages = (uint32_t)n, .first_page = first,
			.dirty_bitmap = bitmap + first / 64,
		};

		for (uint64_t i = 0; i < n / 64; i++)
			any |= bitmap[first / 64 + i];
		if (any && ioctl(vm, KVM_CLEAR_DIRTY_LOG, &c) < 0)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	bool manual = argc > 1 && strcmp(argv[1], "manual") == 0;
	long gib = argc > 2 ? atol(argv[2]) : 4, rounds = argc > 3 ? atol(argv[3]) : 5;
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_regs regs = { 0 };
	struct kvm_sregs sregs;
	uint64_t size, npages, *bitmap;
	double *dirty, *clean;
	struct kvm_run *run;
	int kvm, vm, vcpu, memfd;
	uint8_t *mem;

	if (gib < 1 || gib > 4 || rounds < 1 || rounds > 100)
		return fprintf(stderr, "usage: bench-dirty-floor plain|manual GIB(1-4) ROUNDS\n"), 1;
	size = (uint64_t)gib << 30;
	npages = size / 4096;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (manual) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };

		cap.args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE;
		if (ioctl(vm, KVM_ENABLE_CAP, &cap) < 0)
			return fail("KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2)");
	}
	memfd = memfd_create("bench-dirty", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)size) < 0)
		return fail("memfd");
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	memcpy(mem + BENCH_GUEST_LOAD, bench_guest_dirty, sizeof(bench_guest_dirty));
	region.flags = KVM_MEM_LOG_DIRTY_PAGES;
	region.memory_size = size;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	run = mmap(NULL, (size_t)ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE,
		   MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	bench_flat32(&sregs);
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	regs.rip = BENCH_GUEST_LOAD;
	regs.rflags = 2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");
	bitmap = calloc(npages / 64, 8);
	dirty = calloc((size_t)rounds, sizeof(*dirty));
	clean = calloc((size_t)rounds, sizeof(*clean));
	if (!bitmap || !dirty || !clean)
		return fail("calloc");

	/* One warm-up pass (it also allocates every page), then the measured rounds. */
	for (long r = -1; r < rounds; r++) {
		uint64_t t0, t1, t2;

		do {
			if (ioctl(vcpu, KVM_RUN, 0) < 0 && errno != EINTR)
				return fail("KVM_RUN");
		} while (run->exit_reason != KVM_EXIT_IO);
		t0 = bench_now_ns();
		if (read_log(vm, bitmap, npages, manual) < 0)
			return fail("dirty log");
		t1 = bench_now_ns();
		if (read_log(vm, bitmap, npages, manual) < 0)
			return fail("dirty log");
		t2 = bench_now_ns();
		if (r < 0)
			continue;
		dirty[r] = (double)(t1 - t0) / (double)gib;
		clean[r] = (double)(t2 - t1) / (double)gib;
	}
	printf("dirty %.0f clean %.0f\n", bench_median(dirty, (size_t)rounds),
	       bench_median(clean, (size_t)rounds));
	return 0;
}
