// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The in-process floor: one thread runs KVM_RUN and handles each guest exit
 * itself, as a monolithic VMM would.  The plugin benchmarks are measured
 * against this.  Usage: bench-floor pio|mmio ITERATIONS RUNS; prints the
 * median nanoseconds per exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench-util.h"

static int fail(const char *what)
{
	fprintf(stderr, "bench-floor: %s: %s\n", what, strerror(errno));
	return errno == ENOENT || errno == EACCES ? 77 : 1;
}

int main(int argc, char **argv)
{
	bool mmio = argc > 1 && strcmp(argv[1], "mmio") == 0;
	long iters = argc > 2 ? atol(argv[2]) : 20000;
	long runs = argc > 3 ? atol(argv[3]) : 5;
	struct kvm_userspace_memory_region region = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	double *per;
	int kvm, vm, vcpu;
	long mmap_size;
	uint8_t *mem;

	if (iters <= 0 || runs <= 0 || runs > 1000)
		return fprintf(stderr, "usage: bench-floor pio|mmio ITERATIONS RUNS\n"), 1;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return fail("/dev/kvm");
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
		return fail("KVM_CREATE_IRQCHIP");
	mem = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	/* Memory covers 0..0x1fff only, so 0x2000 is MMIO. */
	if (mmio)
		memcpy(mem + BENCH_GUEST_LOAD, bench_guest_mmio, sizeof(bench_guest_mmio));
	else
		memcpy(mem + BENCH_GUEST_LOAD, bench_guest_pio, sizeof(bench_guest_pio));
	region.memory_size = 0x2000;
	region.userspace_addr = (uintptr_t)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		return fail("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return fail("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return fail("KVM_SET_SREGS");
	memset(&regs, 0, sizeof(regs));
	regs.rip = BENCH_GUEST_LOAD;
	regs.rflags = 2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		return fail("KVM_SET_REGS");

	per = calloc((size_t)runs, sizeof(*per));
	if (!per)
		return fail("calloc");
	/* One warm-up run, then the measured ones. */
	for (long r = -1; r < runs; r++) {
		uint64_t t0 = bench_now_ns();

		for (long i = 0; i < iters; i++) {
			if (ioctl(vcpu, KVM_RUN, 0) < 0) {
				if (errno == EINTR || errno == EAGAIN) {
					i--;
					continue;
				}
				return fail("KVM_RUN");
			}
			if (run->exit_reason != (mmio ? KVM_EXIT_MMIO : KVM_EXIT_IO)) {
				fprintf(stderr, "bench-floor: unexpected exit %u\n", run->exit_reason);
				return 1;
			}
		}
		if (r >= 0)
			per[r] = (double)(bench_now_ns() - t0) / (double)iters;
	}
	printf("%.0f\n", bench_median(per, (size_t)runs));
	free(per);
	return 0;
}
