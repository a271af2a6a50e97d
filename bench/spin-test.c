// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * The spin policy the vcpu channels share (common/shm-chan.c): who spins when
 * oversubscribed, that a probe spin is bounded by the budget, and that the
 * budget adapts to how long the sleeps turned out.  Lives next to the
 * benchmarks that motivated the policy.
 */
#include <stdio.h>
#include <stdlib.h>

#include "shm-chan.h"

static int failures;

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			failures++;                                                          \
		}                                                                            \
	} while (0)

struct counter {
	unsigned calls;
	unsigned ready_at; /* 0 = never */
};

static int probe_count(void *arg)
{
	struct counter *c = arg;

	c->calls++;
	return c->ready_at && c->calls >= c->ready_at ? 7 : 0;
}

static void test_policy(void)
{
	unsigned cpus = shm_cpus();
	struct shm_spin sp;

	CHECK(cpus >= 1);
	/* Not oversubscribed: both sides spin. */
	shm_spin_init(&sp, 1, SHM_SIDE_HOST);
	CHECK(cpus < 2 ? sp.budget_ns == 0 : sp.budget_ns > 0);
	shm_spin_init(&sp, 1, SHM_SIDE_PLUGIN);
	CHECK(sp.budget_ns > 0 && sp.max_ns >= sp.budget_ns && sp.min_ns <= sp.budget_ns);
	/* Oversubscribed: the host (which runs the guests) sleeps, the plugin spins. */
	shm_spin_init(&sp, cpus, SHM_SIDE_HOST);
	CHECK(sp.budget_ns == 0 && sp.max_ns == 0);
	shm_spin_init(&sp, cpus, SHM_SIDE_PLUGIN);
	CHECK(sp.budget_ns > 0);
}

static void test_probe(void)
{
	struct counter c = { 0, 5 };
	struct shm_spin sp;
	uint64_t start = 0, t0, t1;

	shm_spin_init(&sp, 1, SHM_SIDE_PLUGIN);
	/* A yield can hand the CPU to another job for a whole slice: a budget no load exceeds. */
	sp.budget_ns = sp.max_ns = 2000000000u;
	/* Ready on the fifth probe: returns its value, counted as spun. */
	CHECK(shm_spin_probe(&sp, probe_count, &c, &start) == 7);
	CHECK(c.calls == 5 && sp.n_spun == 1);

	/* Never ready: gives up after about the budget. */
	c = (struct counter){ 0, 0 };
	sp.budget_ns = sp.max_ns = 200000;
	t0 = shm_now_ns();
	CHECK(shm_spin_probe(&sp, probe_count, &c, &start) == 0);
	t1 = shm_now_ns();
	CHECK(start >= t0 && start <= t1);
	CHECK(t1 - t0 >= 200000);
	/* Generous bound: a preempted spinner may overshoot, but not by seconds. */
	CHECK(t1 - t0 < 1000000000u);
	CHECK(c.calls > 1);

	/* Budget 0: exactly one probe, no spin. */
	c = (struct counter){ 0, 0 };
	shm_spin_init(&sp, 64, SHM_SIDE_HOST);
	if (shm_cpus() < 128) {
		CHECK(shm_spin_probe(&sp, probe_count, &c, &start) == 0);
		CHECK(c.calls == 1);
	}
}

static void test_adapt(void)
{
	struct shm_spin sp;
	uint64_t now;
	uint32_t b;

	shm_spin_init(&sp, 1, SHM_SIDE_PLUGIN);
	/* A wait far longer than any spin (a guest that runs): the budget halves. */
	b = sp.budget_ns;
	now = shm_now_ns();
	shm_spin_slept(&sp, now - 10u * sp.max_ns, 0);
	CHECK(sp.budget_ns == (b / 2 < sp.min_ns ? sp.min_ns : b / 2));
	CHECK(sp.n_slept == 1);
	/* ... down to the minimum, never to zero. */
	for (int i = 0; i < 64; i++)
		shm_spin_slept(&sp, shm_now_ns() - 10u * sp.max_ns, 0);
	CHECK(sp.budget_ns == sp.min_ns && sp.min_ns > 0);
	/* A wait a spin would have covered: grows to 1.5 x that. */
	now = shm_now_ns();
	shm_spin_slept(&sp, now - 50000, now - 20000);
	CHECK(sp.budget_ns == 45000);
}

int main(void)
{
	/* The policy under test, not an experiment's override. */
	unsetenv("SHM_SPIN_NS");
	unsetenv("SHM_SPIN_YIELD");
	test_policy();
	test_probe();
	test_adapt();
	if (failures)
		return 1;
	printf("spin policy: all checks passed\n");
	return 0;
}
