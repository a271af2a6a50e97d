/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Small helpers shared by the benchmark programs: a monotonic clock and a
 * median.
 */
#ifndef PLUGVM_BENCH_UTIL_H
#define PLUGVM_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts v in place and returns its median. */
static inline double bench_median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	if (n == 0)
		return 0;
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * Guest code used by every vcpu benchmark, loaded at guest physical 0x1000
 * and run in real mode with all segments 0:
 *   pio:  1: out %al, $0x10 ; jmp 1b            (port 0x10)
 *   mmio: 1: mov %al, 0x2000(none) ; jmp 1b     (guest physical 0x2000)
 */
#define BENCH_GUEST_LOAD 0x1000u
#define BENCH_PIO_PORT 0x10u
#define BENCH_MMIO_ADDR 0x2000u
static const uint8_t bench_guest_pio[] = { 0xe6, 0x10, 0xeb, 0xfc };
static const uint8_t bench_guest_mmio[] = { 0xa2, 0x00, 0x20, 0xeb, 0xfb };

/*
 * The dirty-log benchmarks' guest (bench/dirty-floor.c, bench/dirty-plugin.c),
 * 32-bit flat protected mode at BENCH_GUEST_LOAD: writes the last byte of every
 * 4 KiB page of the first 4 GiB, then `out %al, $0x10`, and again:
 *   0: mov $0xfff, %eax
 *   5: movb $1, (%eax) ; add $0x1000, %eax ; jnc 5b
 *      out %al, $0x10 ; jmp 0b
 * Memory smaller than 4 GiB ends in MMIO exits; the benchmarks give it 4 GiB at 0.
 */
static const uint8_t bench_guest_dirty[] = {
	0xb8, 0xff, 0x0f, 0x00, 0x00, 0xc6, 0x00, 0x01, 0x05, 0x00,
	0x10, 0x00, 0x00, 0x73, 0xf6, 0xe6, 0x10, 0xeb, 0xed,
};

#ifdef __linux__
#include <linux/kvm.h>

/* Flat 4 GiB code and data segments, protection on, paging off. */
static inline void bench_flat32(struct kvm_sregs *s)
{
	struct kvm_segment seg = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 3, .present = 1,
		.dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};

	s->ds = s->es = s->fs = s->gs = s->ss = seg;
	seg.selector = 0x08;
	seg.type = 11;
	s->cs = seg;
	s->cr0 |= 1; /* PE */
	s->cr0 &= ~(1ull << 31); /* PG */
	s->efer = 0;
}
#endif

#endif /* PLUGVM_BENCH_UTIL_H */
