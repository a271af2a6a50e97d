// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Startup cost of the jail: time from the spawn call to the plugin's first
 * message on its socket (the "ping" probe writes one byte), unjailed
 * (spawn_plugin with --disable-sandbox) versus jailed (jail_spawn), as
 * medians over RUNS spawns.  Usage: jail-cost PROBE [RUNS]
 */

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"
#include "spawn.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double measure(const char *probe, int jailed, int runs)
{
	char *params[] = { (char *)"ping" };
	struct host_config cfg = { .plugin_path = (char *)probe, .params = params, .n_params = 1,
				   .disable_sandbox = !jailed };
	double *t = calloc((size_t)runs, sizeof(*t)), med;

	for (int i = 0; i < runs; i++) {
		int sock[2], errp[2], pidfd = -1, r;
		struct pollfd pfd;
		double start;
		pid_t pid;
		char c;

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sock) < 0 ||
		    pipe2(errp, O_CLOEXEC) < 0)
			exit(1);
		start = now_us();
		r = jailed ? jail_spawn(&cfg, sock[1], errp[1], &pid, &pidfd, NULL)
			   : spawn_plugin(&cfg, sock[1], errp[1], &pid, &pidfd, NULL);
		if (r < 0)
			exit(1);
		pfd = (struct pollfd){ .fd = sock[0], .events = POLLIN };
		if (poll(&pfd, 1, 10000) != 1 || read(sock[0], &c, 1) != 1)
			exit(1);
		t[i] = now_us() - start;
		waitpid(pid, NULL, 0);
		if (pidfd >= 0)
			close(pidfd);
		close(sock[0]);
		close(sock[1]);
		close(errp[0]);
		close(errp[1]);
	}
	qsort(t, (size_t)runs, sizeof(*t), cmp_double);
	med = t[runs / 2];
	free(t);
	return med;
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 50;
	double plain, jailed;

	if (argc < 2 || runs < 1) {
		fprintf(stderr, "usage: jail-cost PROBE [RUNS]\n");
		return 2;
	}
	log_set_level(LOG_LEVEL_ERROR);
	plain = measure(argv[1], 0, runs);
	jailed = measure(argv[1], 1, runs);
	printf("spawn to first message, median of %d: unjailed %.0f us, jailed %.0f us "
	       "(+%.0f us)\n", runs, plain, jailed, jailed - plain);
	return 0;
}
