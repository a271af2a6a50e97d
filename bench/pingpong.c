// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Raw transport baselines between two processes: a pipe pair and an
 * AF_UNIX SOCK_SEQPACKET socketpair, one small message each way per round
 * trip.  Usage: bench-pingpong pipe|seqpacket ITERATIONS RUNS; prints the
 * median nanoseconds per round trip.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench-util.h"

static int xfer(int fd, char *b, int wr)
{
	ssize_t r;

	do
		r = wr ? write(fd, b, 8) : read(fd, b, 8);
	while (r < 0 && errno == EINTR);
	return r == 8 ? 0 : -1;
}

int main(int argc, char **argv)
{
	int seq = argc > 1 && strcmp(argv[1], "seqpacket") == 0;
	long iters = argc > 2 ? atol(argv[2]) : 20000;
	long runs = argc > 3 ? atol(argv[3]) : 5;
	int a[2], b[2]; /* a: parent -> child, b: child -> parent */
	int to_child, from_child, child_in, child_out;
	char buf[8] = "ping!!!";
	double *per;
	pid_t pid;

	if (iters <= 0 || runs <= 0 || runs > 1000)
		return fprintf(stderr, "usage: bench-pingpong pipe|seqpacket ITERATIONS RUNS\n"), 1;
	if (seq) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a) < 0)
			return perror("socketpair"), 1;
		to_child = from_child = a[0];
		child_in = child_out = a[1];
	} else {
		if (pipe(a) < 0 || pipe(b) < 0)
			return perror("pipe"), 1;
		to_child = a[1];
		child_in = a[0];
		child_out = b[1];
		from_child = b[0];
	}
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		for (;;) {
			if (xfer(child_in, buf, 0) || xfer(child_out, buf, 1))
				_exit(0);
		}
	}
	per = calloc((size_t)runs, sizeof(*per));
	for (long r = -1; r < runs; r++) {
		uint64_t t0 = bench_now_ns();

		for (long i = 0; i < iters; i++) {
			if (xfer(to_child, buf, 1) || xfer(from_child, buf, 0))
				return perror("transfer"), 1;
		}
		if (r >= 0)
			per[r] = (double)(bench_now_ns() - t0) / (double)iters;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	printf("%.0f\n", bench_median(per, (size_t)runs));
	free(per);
	return 0;
}
