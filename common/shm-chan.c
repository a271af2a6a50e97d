// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "shm-chan.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The layout is a wire format: pin it. */
_Static_assert(sizeof(struct shm_cpuid_entry) == 32, "shm_cpuid_entry");
_Static_assert(sizeof(struct shm_msr_entry) == 16, "shm_msr_entry");
_Static_assert(sizeof(struct shm_req_hdr) == 32, "shm_req_hdr");
_Static_assert(sizeof(struct shm_msg_hdr) == 72, "shm_msg_hdr");
_Static_assert(sizeof(struct shm_word) == 64, "shm_word");
_Static_assert(offsetof(struct shm_request, regs) == 32, "shm_request.regs");
_Static_assert(offsetof(struct shm_request, u) == 616, "shm_request.u");
_Static_assert(sizeof(struct shm_request) == 616 + 8192, "shm_request");
_Static_assert(sizeof(struct shm_msg) == 72 + 584 + SHM_IO_MAX, "shm_msg");
_Static_assert(offsetof(struct shm_slot, ev_head) == 64, "shm_slot.ev_head");
_Static_assert(offsetof(struct shm_slot, req) == 320, "shm_slot.req");
_Static_assert(offsetof(struct shm_slot, ring) == 320 + sizeof(struct shm_request), "ring");
_Static_assert(SHM_SLOT_SIZE == 56u * 1024u, "slot size");

/* Spin budgets: a guest exit here takes 8-11 us, so the default covers several. */
#define SPIN_DEFAULT_NS 60000u
#define SPIN_MAX_NS 200000u
#define SPIN_MIN_NS 2000u
/* Pauses between clock reads (and yields, when oversubscribed). */
#define SPIN_CHUNK 16u

uint64_t shm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long futex(uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	/* Not FUTEX_PRIVATE_FLAG: the word lives in a mapping shared by two processes. */
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

unsigned shm_cpus(void)
{
	cpu_set_t set;
	long n;

	/* The CPUs we may run on, which a taskset or cgroup cpuset can make fewer than online. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return (unsigned)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned)n : 1;
}

void shm_spin_init(struct shm_spin *sp, unsigned nvcpus, enum shm_side side)
{
	const char *env = getenv("SHM_SPIN_NS");

	sp->budget_ns = SPIN_DEFAULT_NS;
	sp->max_ns = SPIN_MAX_NS;
	sp->min_ns = SPIN_MIN_NS;
	/*
	 * Oversubscribed (a host and a plugin thread per vcpu, more of them
	 * than CPUs): the host's vcpu thread is the one that runs the guest,
	 * and while it waits for the plugin, the other vcpus' guests (and the
	 * plugin thread it waits for) need its CPU.  So it sleeps at once, and
	 * only the plugin side spins (adaptively, yielding).  Measured on 2
	 * CPUs with 2 and 4 vcpus, that beat spinning on both sides, spinning
	 * on neither, and spinning on the host only (docs/benchmarks.md).
	 */
	if (side == SHM_SIDE_HOST && 2ull * nvcpus > shm_cpus())
		sp->budget_ns = sp->max_ns = sp->min_ns = 0;
	if (env && *env) {
		char *end;
		unsigned long v = strtoul(env, &end, 10);

		if (!*end && v <= SPIN_MAX_NS * 10ul) {
			sp->budget_ns = sp->max_ns = (uint32_t)v;
			sp->min_ns = v < SPIN_MIN_NS ? (uint32_t)v : SPIN_MIN_NS;
		}
	}
	/*
	 * A spinner that never yields holds a CPU the other side may be
	 * queued for: with more runnable threads than CPUs (several vcpus, or
	 * any other load) each hand-off then waits for a scheduler tick.
	 * sched_yield() costs about a microsecond when nobody else wants the
	 * CPU, and hands it over at once when the other side does.
	 */
	sp->yield = true;
	env = getenv("SHM_SPIN_YIELD");
	if (env && *env)
		sp->yield = *env != '0';
	sp->n_spun = 0;
	sp->n_slept = 0;
}

static void spin_adapt(struct shm_spin *sp, uint64_t start, uint64_t posted, uint64_t now)
{
	/*
	 * After a sleep: if the change came within the largest budget, a
	 * spin of that length would have caught it (and saved the tens of
	 * microseconds a futex wake-up costs here), so grow to cover it.  If
	 * it came later, the other side is busy for long stretches (a guest
	 * that runs, a plugin that thinks) and spinning only burns a CPU:
	 * shrink.
	 */
	uint64_t needed = posted >= start && posted <= now ? posted - start : now - start;

	if (needed <= sp->max_ns) {
		uint64_t b = needed + needed / 2;

		if (b < sp->min_ns)
			b = sp->min_ns;
		if (b > sp->max_ns)
			b = sp->max_ns;
		if (b > sp->budget_ns)
			sp->budget_ns = (uint32_t)b;
	} else {
		uint32_t b = sp->budget_ns / 2;

		sp->budget_ns = b < sp->min_ns ? sp->min_ns : b;
	}
}

void shm_spin_slept(struct shm_spin *sp, uint64_t start, uint64_t event_ns)
{
	sp->n_slept++;
	spin_adapt(sp, start, event_ns, shm_now_ns());
}

int shm_spin_probe(struct shm_spin *sp, int (*probe)(void *arg), void *arg, uint64_t *ret_start)
{
	uint64_t deadline;
	int r;

	r = probe(arg);
	if (r) {
		sp->n_spun++;
		return r;
	}
	*ret_start = shm_now_ns();
	deadline = *ret_start + sp->budget_ns;
	while (sp->budget_ns) {
		/* probe() is a system call: once per chunk, not per pause. */
		for (unsigned i = 0; i < SPIN_CHUNK; i++)
			__builtin_ia32_pause();
		if (sp->yield)
			sched_yield();
		r = probe(arg);
		if (r) {
			sp->n_spun++;
			return r;
		}
		if (shm_now_ns() >= deadline)
			break;
	}
	return 0;
}

int shm_wait(struct shm_word *w, uint32_t old, struct shm_spin *sp, uint64_t slice_ns,
	     int (*check)(void *arg), void *arg)
{
	uint64_t start, deadline;
	unsigned chunks = 0;
	int r;

	if (shm_load(&w->seq) != old)
		goto spun;
	start = shm_now_ns();
	deadline = start + sp->budget_ns;
	while (sp->budget_ns) {
		for (unsigned i = 0; i < SPIN_CHUNK; i++) {
			__builtin_ia32_pause();
			if (shm_load(&w->seq) != old)
				goto spun;
		}
		/* With more spinners than CPUs, a spinner may sit on the CPU the other side needs. */
		if (sp->yield)
			sched_yield();
		if (shm_now_ns() >= deadline)
			break;
		/* A long spin still notices a stop request. */
		if (++chunks % 4096 == 0 && check) {
			r = check(arg);
			if (r)
				return r;
		}
	}

	sp->n_slept++;
	for (;;) {
		struct timespec ts = {
			.tv_sec = (time_t)(slice_ns / 1000000000u),
			.tv_nsec = (long)(slice_ns % 1000000000u),
		};

		/* Dekker with shm_post(): flag then word here, word then flag there, both SC. */
		__atomic_store_n(&w->sleeping, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&w->seq, __ATOMIC_SEQ_CST) != old)
			break;
		futex(&w->seq, FUTEX_WAIT, old, &ts);
		if (shm_load(&w->seq) != old)
			break;
		/* A timeout, a signal or shm_wake() from the stop path: look around. */
		if (check) {
			r = check(arg);
			if (r) {
				__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
				return r;
			}
		}
	}
	__atomic_store_n(&w->sleeping, 0, __ATOMIC_RELAXED);
	spin_adapt(sp, start, __atomic_load_n(&w->posted_ns, __ATOMIC_RELAXED), shm_now_ns());
	return 0;

spun:
	sp->n_spun++;
	return 0;
}

void shm_post(struct shm_word *w, uint32_t seq)
{
	__atomic_store_n(&w->posted_ns, shm_now_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&w->seq, seq, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&w->sleeping, __ATOMIC_SEQ_CST))
		futex(&w->seq, FUTEX_WAKE, INT_MAX, NULL);
}

void shm_wake(struct shm_word *w)
{
	futex(&w->seq, FUTEX_WAKE, INT_MAX, NULL);
}
