// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The CROSVM_STATS table: for every API function called, its count, total,
 * mean, median, 99th percentile and maximum latency.  Latencies go into a
 * log-linear histogram (8 linear steps per power of two, so percentiles are
 * within 12.5%), updated with relaxed atomics so that vcpu threads never
 * contend on a lock.  The counters live in .bss and cost nothing unless
 * stats are on.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hist.h"
#include "stats.h"


struct stats_func {
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t total_ns;
	atomic_uint_fast64_t max_ns;
	atomic_uint_fast64_t hist[HIST_BUCKETS];
};

static struct stats_func stats_funcs[STATS_NFUNCS];
static bool stats_enabled;

__attribute__((constructor)) static void stats_init(void)
{
	const char *v = getenv("CROSVM_STATS");

	stats_enabled = v && strcmp(v, "1") == 0;
}

bool stats_on(void)
{
	return stats_enabled;
}

uint64_t stats_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void stats_record(unsigned idx, uint64_t t0)
{
	struct stats_func *f;
	uint64_t d = stats_now() - t0, m;

	if (idx >= STATS_NFUNCS)
		return;
	f = &stats_funcs[idx];
	atomic_fetch_add_explicit(&f->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&f->total_ns, d, memory_order_relaxed);
	atomic_fetch_add_explicit(&f->hist[hist_bucket(d)], 1, memory_order_relaxed);
	m = atomic_load_explicit(&f->max_ns, memory_order_relaxed);
	while (d > m && !atomic_compare_exchange_weak_explicit(&f->max_ns, &m, d,
								memory_order_relaxed,
								memory_order_relaxed))
		;
}

static uint64_t stats_percentile(struct stats_func *f, uint64_t count, unsigned pct)
{
	/* The first bucket at which pct% of the calls are accounted for. */
	uint64_t want = (count * pct + 99) / 100, seen = 0;

	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		seen += atomic_load_explicit(&f->hist[b], memory_order_relaxed);
		if (seen >= want)
			return hist_bucket_floor(b);
	}
	return atomic_load_explicit(&f->max_ns, memory_order_relaxed);
}

static void stats_line(const char *line)
{
	/* One write per line; the table is best effort and must not fail the exit. */
	ssize_t r = write(STDERR_FILENO, line, strlen(line));

	(void)r;
}

__attribute__((destructor)) static void stats_report(void)
{
	unsigned order[STATS_NFUNCS], n = 0;
	char line[256];

	if (!stats_enabled)
		return;
	for (unsigned i = 0; i < STATS_NFUNCS; i++) {
		if (atomic_load(&stats_funcs[i].count))
			order[n++] = i;
	}
	/* Most total time first: what a profile reader looks at first. */
	for (unsigned i = 1; i < n; i++) {
		unsigned k = order[i], j = i;

		while (j > 0 && atomic_load(&stats_funcs[order[j - 1]].total_ns) <
					atomic_load(&stats_funcs[k].total_ns)) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = k;
	}
	snprintf(line, sizeof(line), "crosvm plugin API statistics (pid %d), times in microseconds:\n",
		 (int)getpid());
	stats_line(line);
	snprintf(line, sizeof(line), "%-34s %10s %12s %9s %9s %9s %9s\n", "function", "count",
		 "total", "mean", "p50", "p99", "max");
	stats_line(line);
	for (unsigned i = 0; i < n; i++) {
		struct stats_func *f = &stats_funcs[order[i]];
		uint64_t count = atomic_load(&f->count), total = atomic_load(&f->total_ns);

		snprintf(line, sizeof(line), "%-34s %10llu %12.1f %9.2f %9.2f %9.2f %9.2f\n",
			 stats_names[order[i]], (unsigned long long)count, (double)total / 1e3,
			 (double)total / (double)count / 1e3,
			 (double)stats_percentile(f, count, 50) / 1e3,
			 (double)stats_percentile(f, count, 99) / 1e3,
			 (double)atomic_load(&f->max_ns) / 1e3);
		stats_line(line);
	}
	if (n == 0)
		stats_line("(no API calls)\n");
}
