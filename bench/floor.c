// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The in-process floor: one thread runs KVM_RUN and handles each guest exit
 * itself, as a monolithic VMM would.  The plugin benchmarks are measured
 * against this.  Usage: bench-floor pio|mmio ITERATIONS RUNS [VCPUS]; with
 * several vcpus each runs the loop on its own thread.  Prints the median
 * nanoseconds per exit (the mean of the vcpus' medians).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
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

struct floor_vcpu {
	int fd;
	struct kvm_run *run;
	bool mmio;
	long iters;
	long runs;
	double median_ns;
	int err;
};

static void *floor_thread(void *arg)
{
	struct floor_vcpu *fv = arg;
	double *per = calloc((size_t)fv->runs, sizeof(*per));

	if (!per) {
		fv->err = 1;
		return NULL;
	}
	/* One warm-up run, then the measured ones. */
	for (long r = -1; r < fv->runs; r++) {
		uint64_t t0 = bench_now_ns();

		for (long i = 0; i < fv->iters; i++) {
			if (ioctl(fv->fd, KVM_RUN, 0) < 0) {
				if (errno == EINTR || errno == EAGAIN) {
					i--;
					continue;
				}
				fv->err = fail("KVM_RUN");
				free(per);
				return NULL;
			}
			if (fv->run->exit_reason != (fv->mmio ? KVM_EXIT_MMIO : KVM_EXIT_IO)) {
				fprintf(stderr, "bench-floor: unexpected exit %u\n", fv->run->exit_reason);
				fv->err = 1;
				free(per);
				return NULL;
			}
		}
		if (r >= 0)
			per[r] = (double)(bench_now_ns() - t0) / (double)fv->iters;
	}
	fv->median_ns = bench_median(per, (size_t)fv->runs);
	free(per);
	return NULL;
}

int main(int argc, char **argv)
{
	bool mmio = argc > 1 && strcmp(argv[1], "mmio") == 0;
	long iters = argc > 2 ? atol(argv[2]) : 20000;
	long runs = argc > 3 ? atol(argv[3]) : 5;
	long nvcpus = argc > 4 ? atol(argv[4]) : 1;
	struct kvm_userspace_memory_region region = { 0 };
	struct floor_vcpu *fv;
	pthread_t *threads;
	double sum = 0;
	int kvm, vm;
	long mmap_size;
	uint8_t *mem;

	if (iters <= 0 || runs <= 0 || runs > 1000 || nvcpus <= 0 || nvcpus > 64)
		return fprintf(stderr, "usage: bench-floor pio|mmio ITERATIONS RUNS [VCPUS]\n"), 1;
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
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	fv = calloc((size_t)nvcpus, sizeof(*fv));
	threads = calloc((size_t)nvcpus, sizeof(*threads));
	if (!fv || !threads)
		return fail("calloc");
	for (long v = 0; v < nvcpus; v++) {
		struct kvm_sregs sregs;
		struct kvm_regs regs;

		fv[v].fd = ioctl(vm, KVM_CREATE_VCPU, v);
		if (fv[v].fd < 0)
			return fail("KVM_CREATE_VCPU");
		fv[v].run = mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				 fv[v].fd, 0);
		if (fv[v].run == MAP_FAILED)
			return fail("mmap kvm_run");
		if (ioctl(fv[v].fd, KVM_GET_SREGS, &sregs) < 0)
			return fail("KVM_GET_SREGS");
		sregs.cs.base = 0;
		sregs.cs.selector = 0;
		sregs.ds.base = 0;
		sregs.ds.selector = 0;
		if (ioctl(fv[v].fd, KVM_SET_SREGS, &sregs) < 0)
			return fail("KVM_SET_SREGS");
		memset(&regs, 0, sizeof(regs));
		regs.rip = BENCH_GUEST_LOAD;
		regs.rflags = 2;
		if (ioctl(fv[v].fd, KVM_SET_REGS, &regs) < 0)
			return fail("KVM_SET_REGS");
		/* With the in-kernel irqchip an AP waits for INIT/SIPI: make it run the loop too. */
		if (v > 0) {
			struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

			if (ioctl(fv[v].fd, KVM_SET_MP_STATE, &mp) < 0)
				return fail("KVM_SET_MP_STATE");
		}
		fv[v].mmio = mmio;
		fv[v].iters = iters;
		fv[v].runs = runs;
	}
	/* Every vcpu runs the loop on its own thread, as a multi-vcpu VMM would. */
	for (long v = 0; v < nvcpus; v++)
		pthread_create(&threads[v], NULL, floor_thread, &fv[v]);
	for (long v = 0; v < nvcpus; v++) {
		pthread_join(threads[v], NULL);
		if (fv[v].err)
			return fv[v].err;
		sum += fv[v].median_ns;
	}
	/* The mean over vcpus of each vcpu's median. */
	printf("%.0f\n", sum / (double)nvcpus);
	free(fv);
	free(threads);
	return 0;
}
