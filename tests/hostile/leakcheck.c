// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Preloaded into the host by run-hostile.sh: notes the descriptors the host
 * starts with and, when the process exits normally, writes one line to
 * $HOSTILE_LEAKCHECK: "fds=N threads=T" plus every descriptor that is open
 * now but was not at the start (with what it points to).  A clean host
 * ends with fds=0 threads=1.  The plugin does not inherit the preload.
 */
#include <dirent.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LC_MAX_FDS 256

static int start_fds[LC_MAX_FDS];
static int n_start;
static char out_path[4096];
static pid_t owner;

static int list_fds(int *fds, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		int fd;

		if (e->d_name[0] == '.')
			continue;
		fd = atoi(e->d_name);
		if (fd == dirfd(d))
			continue;
		if (n < max)
			fds[n++] = fd;
	}
	closedir(d);
	return n;
}

static int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

__attribute__((constructor)) static void lc_start(void)
{
	const char *p = getenv("HOSTILE_LEAKCHECK");

	if (!p)
		return;
	snprintf(out_path, sizeof(out_path), "%s", p);
	owner = getpid();
	n_start = list_fds(start_fds, LC_MAX_FDS);
	/* Only the host is checked; its children start clean. */
	unsetenv("LD_PRELOAD");
	unsetenv("HOSTILE_LEAKCHECK");
}

__attribute__((destructor)) static void lc_end(void)
{
	int now[4096], n, leaked = 0, fd, len;
	char line[8192];

	if (!out_path[0] || getpid() != owner)
		return;
	n = list_fds(now, 4096);
	len = snprintf(line, sizeof(line), " leaked:");
	for (int i = 0; i < n; i++) {
		char target[256] = "?", link[64];
		bool known = false;
		ssize_t t;

		for (int k = 0; k < n_start; k++)
			known |= start_fds[k] == now[i];
		if (known)
			continue;
		leaked++;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", now[i]);
		t = readlink(link, target, sizeof(target) - 1);
		target[t > 0 ? t : 1] = '\0';
		if (len < (int)sizeof(line) - 300)
			len += snprintf(line + len, sizeof(line) - (size_t)len, " %d=%s", now[i],
					target);
	}
	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	dprintf(fd, "fds=%d threads=%d%s\n", leaked, count_threads(), leaked ? line : "");
	close(fd);
}
