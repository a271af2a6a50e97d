// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * bench-stamp CMD [ARGS...]: puts CLOCK_MONOTONIC in BENCH_T0 (nanoseconds)
 * and executes CMD, so that a plugin started by it can report how long the
 * host took from its exec to the first INIT event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench-util.h"

int main(int argc, char **argv)
{
	char t0[32];

	if (argc < 2)
		return fprintf(stderr, "usage: bench-stamp CMD [ARGS...]\n"), 2;
	snprintf(t0, sizeof(t0), "%llu", (unsigned long long)bench_now_ns());
	setenv("BENCH_T0", t0, 1);
	execvp(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
