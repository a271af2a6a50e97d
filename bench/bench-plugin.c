// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The plugin side of the vcpu benchmarks, run by plugvm:
 *
 *   plugvm run --plugin bench-plugin [--cpus N] -p pio|mmio|setirq|edgeirq -p ITERATIONS -p RUNS
 *
 * pio/mmio: every vcpu runs the guest loop of bench-util.h and its thread
 * handles each exit (wait + resume); one warm-up run, then RUNS timed runs of
 * ITERATIONS exits.  setirq: the main thread times ITERATIONS set_irq calls
 * per run.  edgeirq: the same for one edge on GSI 5 raised three ways: a
 * write to an edge irq event (API 0.23), and set_irq raise + lower.
 * Prints, on stdout:
 *   start_to_init_ns=T from BENCH_T0 (bench-stamp, just before the host's exec)
 *                      to vcpu 0 seeing its INIT event
 *   vcpu=I ns=X        median nanoseconds per exit of vcpu I (pio/mmio)
 *   setirq_ns=X        median nanoseconds per set_irq round trip
 *   edgeirq_ns=X       median nanoseconds per edge irq event write (edgeirq)
 *   setirq_edge_ns=X   median nanoseconds per set_irq(1) + set_irq(0) (edgeirq)
 *   host_hwm_kb=K      the host's peak RSS (VmHWM of our parent), at the end
 * The channel in use is whatever the library negotiated
 * (CROSVM_PLUGIN_CHANNEL=pipe forces the pipes).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench-util.h"
#include "crosvm.h"

struct bench {
	struct crosvm *crosvm;
	bool mmio;
	long iters;
	long runs;
	uint32_t nvcpus;
	uint64_t init_ns;
};

struct bench_vcpu {
	struct bench *b;
	uint32_t id;
	struct crosvm_vcpu *vcpu;
	double median_ns;
	int err;
};

#define CHECK(expr)                                                                               \
	do {                                                                                      \
		int _r = (expr);                                                                  \
		if (_r < 0) {                                                                     \
			fprintf(stderr, "bench-plugin: %s: %s\n", #expr, strerror(-_r));          \
			return _r;                                                                \
		}                                                                                 \
	} while (0)

static int vcpu_init(struct bench_vcpu *bv)
{
	struct crosvm_vcpu_event ev;
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	CHECK(crosvm_vcpu_wait(bv->vcpu, &ev));
	if (ev.kind != CROSVM_VCPU_EVENT_KIND_INIT)
		return -EPROTO;
	if (bv->id == 0)
		bv->b->init_ns = bench_now_ns();
	CHECK(crosvm_vcpu_get_sregs(bv->vcpu, &sregs));
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	CHECK(crosvm_vcpu_set_sregs(bv->vcpu, &sregs));
	memset(&regs, 0, sizeof(regs));
	regs.rip = BENCH_GUEST_LOAD;
	regs.rflags = 2;
	CHECK(crosvm_vcpu_set_regs(bv->vcpu, &regs));
	/* With the in-kernel irqchip an AP waits for INIT/SIPI: make it run the loop too. */
	if (bv->id > 0) {
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };

		CHECK(crosvm_vcpu_set_mp_state(bv->vcpu, &mp));
	}
	CHECK(crosvm_vcpu_resume(bv->vcpu));
	return 0;
}

static int vcpu_loop(struct bench_vcpu *bv)
{
	struct bench *b = bv->b;
	struct crosvm_vcpu_event ev;
	double *per = calloc((size_t)b->runs, sizeof(*per));

	if (!per)
		return -ENOMEM;
	for (long r = -1; r < b->runs; r++) {
		uint64_t t0 = bench_now_ns();

		for (long i = 0; i < b->iters; i++) {
			int ret = crosvm_vcpu_wait(bv->vcpu, &ev);

			if (ret < 0 || ev.kind != CROSVM_VCPU_EVENT_KIND_IO_ACCESS) {
				fprintf(stderr, "bench-plugin: vcpu %u: wait %d kind %u\n", bv->id, ret,
					ev.kind);
				free(per);
				return ret < 0 ? ret : -EPROTO;
			}
			/* The exit is the last thing timed: the final one stays unresumed. */
			if (r == b->runs - 1 && i == b->iters - 1)
				break;
			ret = crosvm_vcpu_resume(bv->vcpu);
			if (ret < 0) {
				free(per);
				return ret;
			}
		}
		if (r >= 0)
			per[r] = (double)(bench_now_ns() - t0) / (double)b->iters;
	}
	bv->median_ns = bench_median(per, (size_t)b->runs);
	free(per);
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct bench_vcpu *bv = arg;

	bv->err = vcpu_init(bv);
	if (!bv->err)
		bv->err = vcpu_loop(bv);
	return NULL;
}

static int bench_setirq(struct bench *b)
{
	double *per = calloc((size_t)b->runs, sizeof(*per));

	if (!per)
		return -ENOMEM;
	for (long r = -1; r < b->runs; r++) {
		uint64_t t0 = bench_now_ns();

		for (long i = 0; i < b->iters; i++)
			CHECK(crosvm_set_irq(b->crosvm, 5, false));
		if (r >= 0)
			per[r] = (double)(bench_now_ns() - t0) / (double)b->iters;
	}
	printf("setirq_ns=%.0f\n", bench_median(per, (size_t)b->runs));
	free(per);
	return 0;
}

static int write_edge(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

/* One edge on GSI 5 per iteration: an edge irq event write against set_irq raise + lower. */
static int bench_edgeirq(struct bench *b)
{
	double *edge = calloc((size_t)b->runs, sizeof(*edge));
	double *pair = calloc((size_t)b->runs, sizeof(*pair));
	struct crosvm_irq *irq = NULL;
	int fd, ret = -ENOMEM;

	if (!edge || !pair)
		goto out;
	ret = crosvm_create_edge_irq_event(b->crosvm, 5, &irq);
	if (ret < 0) {
		fprintf(stderr, "bench-plugin: crosvm_create_edge_irq_event: %s\n", strerror(-ret));
		goto out;
	}
	fd = crosvm_irq_event_get_fd(irq);
	for (long r = -1; r < b->runs; r++) {
		uint64_t t0 = bench_now_ns();

		for (long i = 0; i < b->iters && ret == 0; i++)
			ret = write_edge(fd);
		if (r >= 0)
			edge[r] = (double)(bench_now_ns() - t0) / (double)b->iters;
		t0 = bench_now_ns();
		for (long i = 0; i < b->iters && ret == 0; i++) {
			ret = crosvm_set_irq(b->crosvm, 5, true);
			if (ret == 0)
				ret = crosvm_set_irq(b->crosvm, 5, false);
		}
		if (r >= 0)
			pair[r] = (double)(bench_now_ns() - t0) / (double)b->iters;
	}
	if (ret == 0) {
		printf("edgeirq_ns=%.0f\n", bench_median(edge, (size_t)b->runs));
		printf("setirq_edge_ns=%.0f\n", bench_median(pair, (size_t)b->runs));
	} else {
		fprintf(stderr, "bench-plugin: edgeirq: %s\n", strerror(-ret));
	}
	crosvm_destroy_irq_event(b->crosvm, &irq);
out:
	free(edge);
	free(pair);
	return ret;
}

static void print_host_hwm(void)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)getppid());
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			printf("host_hwm_kb=%ld\n", strtol(line + 6, NULL, 10));
	fclose(f);
}

static int setup_guest(struct bench *b)
{
	struct crosvm_memory *mem;
	int fd = memfd_create("bench-guest", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	uint8_t *p;

	/* The host maps guest memory only if it cannot shrink under it. */
	if (fd < 0 || ftruncate(fd, 0x2000) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		return -errno;
	p = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	/* Memory covers 0..0x1fff only, so 0x2000 is MMIO. */
	if (b->mmio)
		memcpy(p + BENCH_GUEST_LOAD, bench_guest_mmio, sizeof(bench_guest_mmio));
	else
		memcpy(p + BENCH_GUEST_LOAD, bench_guest_pio, sizeof(bench_guest_pio));
	munmap(p, 0x2000);
	CHECK(crosvm_create_memory(b->crosvm, fd, 0, 0x2000, 0, false, false, &mem));
	close(fd);
	if (b->mmio)
		CHECK(crosvm_reserve_range(b->crosvm, CROSVM_ADDRESS_SPACE_MMIO, BENCH_MMIO_ADDR, 1));
	else
		CHECK(crosvm_reserve_range(b->crosvm, CROSVM_ADDRESS_SPACE_IOPORT, BENCH_PIO_PORT, 1));
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	struct bench_vcpu *bv;
	pthread_t *threads;
	const char *mode = argc > 1 ? argv[1] : "pio";
	int ret = 0;

	b.mmio = strcmp(mode, "mmio") == 0;
	b.iters = argc > 2 ? atol(argv[2]) : 20000;
	b.runs = argc > 3 ? atol(argv[3]) : 5;
	if (b.iters <= 0 || b.runs <= 0 || b.runs > 1000) {
		fprintf(stderr, "usage: bench-plugin pio|mmio|setirq|edgeirq ITERATIONS RUNS\n");
		return 2;
	}
	CHECK(crosvm_connect(&b.crosvm));
	if (strcmp(mode, "setirq") == 0 || strcmp(mode, "edgeirq") == 0) {
		ret = mode[0] == 's' ? bench_setirq(&b) : bench_edgeirq(&b);
		print_host_hwm();
		crosvm_destroy_connection(&b.crosvm);
		return ret ? 1 : 0;
	}
	CHECK(setup_guest(&b));
	while (b.nvcpus < 64) {
		struct crosvm_vcpu *v;

		if (crosvm_get_vcpu(b.crosvm, b.nvcpus, &v) < 0)
			break;
		b.nvcpus++;
	}
	bv = calloc(b.nvcpus, sizeof(*bv));
	threads = calloc(b.nvcpus, sizeof(*threads));
	if (!bv || !threads)
		return 1;
	for (uint32_t i = 0; i < b.nvcpus; i++) {
		bv[i].b = &b;
		bv[i].id = i;
		crosvm_get_vcpu(b.crosvm, i, &bv[i].vcpu);
	}
	CHECK(crosvm_start(b.crosvm));
	for (uint32_t i = 0; i < b.nvcpus; i++)
		pthread_create(&threads[i], NULL, vcpu_thread, &bv[i]);
	for (uint32_t i = 0; i < b.nvcpus; i++) {
		pthread_join(threads[i], NULL);
		if (bv[i].err)
			ret = 1;
		else
			printf("vcpu=%u ns=%.0f\n", i, bv[i].median_ns);
	}
	if (getenv("BENCH_T0"))
		printf("start_to_init_ns=%lld\n",
		       (long long)(b.init_ns - strtoull(getenv("BENCH_T0"), NULL, 10)));
	print_host_hwm();
	fflush(stdout);
	/* The vcpus stay stopped on their last exit; our exit ends the VM. */
	_exit(ret);
}
