// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The plugin side of the dirty-log benchmark, run by plugvm:
 *
 *   plugvm run --plugin bench-dirty-plugin -p GIB -p ROUNDS
 *
 * The same guest and rounds as bench-dirty-floor (bench-util.h), with each log
 * read by crosvm_memory_get_dirty_log() from the vcpu thread while the vcpu
 * is stopped on its port exit: one read of the fully dirty log, one of the
 * clean one.  Prints "dirty NS clean NS" per GiB, medians over the rounds.
 * The form (shared memfd or inline) is the library's choice unless
 * CROSVM_DIRTY_LOG says otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench-util.h"
#include "crosvm.h"

#define CHECK(expr)                                                                               \
	do {                                                                                      \
		int _r = (expr);                                                                  \
		if (_r < 0) {                                                                     \
			fprintf(stderr, "bench-dirty-plugin: %s: %s\n", #expr, strerror(-_r));    \
			return 1;                                                                 \
		}                                                                                 \
	} while (0)

static int wait_port(struct crosvm_vcpu *vcpu)
{
	struct crosvm_vcpu_event ev;

	CHECK(crosvm_vcpu_wait(vcpu, &ev));
	if (ev.kind != CROSVM_VCPU_EVENT_KIND_IO_ACCESS || ev.io_access.address != BENCH_PIO_PORT) {
		fprintf(stderr, "bench-dirty-plugin: unexpected event %u\n", ev.kind);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	long gib = argc > 1 ? atol(argv[1]) : 4, rounds = argc > 2 ? atol(argv[2]) : 5;
	struct crosvm_vcpu_event ev;
	struct crosvm_memory *mem;
	struct crosvm_vcpu *vcpu;
	struct crosvm *crosvm;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	double *dirty, *clean;
	uint64_t size;
	uint8_t *log, *p;
	int fd;

	if (gib < 1 || gib > 4 || rounds < 1 || rounds > 100)
		return fprintf(stderr, "usage: bench-dirty-plugin GIB(1-4) ROUNDS\n"), 2;
	size = (uint64_t)gib << 30;
	CHECK(crosvm_connect(&crosvm));
	fd = memfd_create("bench-dirty", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		return perror("memfd"), 1;
	p = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return perror("mmap"), 1;
	memcpy(p + BENCH_GUEST_LOAD, bench_guest_dirty, sizeof(bench_guest_dirty));
	munmap(p, 0x2000);
	CHECK(crosvm_create_memory(crosvm, fd, 0, size, 0, false, true, &mem));
	close(fd);
	CHECK(crosvm_reserve_range(crosvm, CROSVM_ADDRESS_SPACE_IOPORT, BENCH_PIO_PORT, 1));
	CHECK(crosvm_get_vcpu(crosvm, 0, &vcpu));
	CHECK(crosvm_start(crosvm));

	CHECK(crosvm_vcpu_wait(vcpu, &ev));
	if (ev.kind != CROSVM_VCPU_EVENT_KIND_INIT)
		return fprintf(stderr, "bench-dirty-plugin: no init event\n"), 1;
	CHECK(crosvm_vcpu_get_sregs(vcpu, &sregs));
	bench_flat32(&sregs);
	CHECK(crosvm_vcpu_set_sregs(vcpu, &sregs));
	regs.rip = BENCH_GUEST_LOAD;
	regs.rflags = 2;
	CHECK(crosvm_vcpu_set_regs(vcpu, &regs));
	CHECK(crosvm_vcpu_resume(vcpu));

	log = malloc(size / 4096 / 8);
	dirty = calloc((size_t)rounds, sizeof(*dirty));
	clean = calloc((size_t)rounds, sizeof(*clean));
	if (!log || !dirty || !clean)
		return 1;
	/* One warm-up pass (it also allocates every page), then the measured rounds. */
	for (long r = -1; r < rounds; r++) {
		uint64_t t0, t1, t2;

		if (wait_port(vcpu))
			return 1;
		t0 = bench_now_ns();
		CHECK(crosvm_memory_get_dirty_log(crosvm, mem, log));
		t1 = bench_now_ns();
		CHECK(crosvm_memory_get_dirty_log(crosvm, mem, log));
		t2 = bench_now_ns();
		if (r >= 0) {
			dirty[r] = (double)(t1 - t0) / (double)gib;
			clean[r] = (double)(t2 - t1) / (double)gib;
		}
		if (r < rounds - 1)
			CHECK(crosvm_vcpu_resume(vcpu));
	}
	printf("dirty %.0f clean %.0f\n", bench_median(dirty, (size_t)rounds),
	       bench_median(clean, (size_t)rounds));
	fflush(stdout);
	/* The vcpu stays stopped on its last exit; our exit ends the VM. */
	_exit(0);
}
