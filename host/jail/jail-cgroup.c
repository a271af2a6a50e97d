// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/* The jail's pids cgroup (jail-internal.h). */

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail-internal.h"
#include "jail.h"
#include "log.h"

/*
 * The pid limit.  RLIMIT_NPROC counts the tasks of a (user namespace, uid)
 * pair, so inside the jail's fresh user namespace it counts exactly the
 * plugin's tasks - except that the kernel exempts the real root user
 * (INIT_USER) from it, and a root host maps the plugin to uid 0 outside.
 * A pids cgroup covers that case when the host can create one.
 */
#define CGROUP_MAX_DIRS 16
static char *cgroup_dirs[CGROUP_MAX_DIRS];
static bool cgroup_atexit_done;
static bool cgroup_warned;

static void cgroup_reap(void)
{
	for (size_t i = 0; i < CGROUP_MAX_DIRS; i++) {
		if (cgroup_dirs[i] && rmdir(cgroup_dirs[i]) == 0) {
			free(cgroup_dirs[i]);
			cgroup_dirs[i] = NULL;
		}
	}
}

static void cgroup_reap_atexit(void)
{
	/* The plugin has been reaped by now; its pid namespace is torn down with it. */
	for (int tries = 0; tries < 50; tries++) {
		bool busy = false;

		for (size_t i = 0; i < CGROUP_MAX_DIRS; i++) {
			if (!cgroup_dirs[i])
				continue;
			if (rmdir(cgroup_dirs[i]) < 0 && errno == EBUSY) {
				busy = true;
				continue;
			}
			free(cgroup_dirs[i]);
			cgroup_dirs[i] = NULL;
		}
		if (!busy)
			return;
		usleep(2000);
	}
}

/* Removes empty leftovers of hosts that died without cleaning up (best effort). */
static void cgroup_reap_stale(const char *parent)
{
	DIR *d = opendir(parent);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX + 300];
		int host;

		if (sscanf(e->d_name, "%d-", &host) != 1 || host <= 0 ||
		    (kill(host, 0) < 0 && errno != ESRCH) || (kill(host, 0) == 0))
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, e->d_name);
		rmdir(path);
	}
	closedir(d);
}

static int cgroup_find_base(char *base, size_t size)
{
	char line[4096], mnt[PATH_MAX] = "", rel[PATH_MAX] = "";
	bool v2 = false;
	FILE *f;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		char *nl;

		if (!c2)
			continue;
		*c2 = '\0';
		nl = strchr(c2 + 1, '\n');
		if (nl)
			*nl = '\0';
		if (strcmp(c1 + 1, "pids") == 0 || strstr(c1 + 1, ",pids") ||
		    strncmp(c1 + 1, "pids,", 5) == 0) {
			snprintf(rel, sizeof(rel), "%s", c2 + 1);
			v2 = false;
			break;
		}
		if (c1[1] == '\0' && strncmp(line, "0", 1) == 0) {
			snprintf(rel, sizeof(rel), "%s", c2 + 1);
			v2 = true;
		}
	}
	fclose(f);
	if (!rel[0])
		return -ENOENT;

	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		char point[PATH_MAX], fstype[64], source[256], opts[1024];

		if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1 ||
		    sscanf(sep + 3, "%63s %255s %1023s", fstype, source, opts) != 3)
			continue;
		if ((!v2 && strcmp(fstype, "cgroup") == 0 &&
		     (strstr(opts, ",pids") || strncmp(opts, "pids", 4) == 0)) ||
		    (v2 && strcmp(fstype, "cgroup2") == 0)) {
			snprintf(mnt, sizeof(mnt), "%s", point);
			break;
		}
	}
	fclose(f);
	if (!mnt[0])
		return -ENOENT;
	if ((size_t)snprintf(base, size, "%s%s", mnt, strcmp(rel, "/") == 0 ? "" : rel) >= size)
		return -ENAMETOOLONG;
	return 0;
}

static int cgroup_write(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX + 32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	n = n < 0 ? -errno : 0;
	close(fd);
	return (int)n;
}

void jail_pid_cgroup(pid_t child)
{
	char base[PATH_MAX], dir[PATH_MAX + 64], num[32];
	size_t slot = CGROUP_MAX_DIRS;
	int r;

	cgroup_reap();
	for (size_t i = 0; i < CGROUP_MAX_DIRS && slot == CGROUP_MAX_DIRS; i++) {
		if (!cgroup_dirs[i])
			slot = i;
	}
	r = slot == CGROUP_MAX_DIRS ? -ENOSPC : cgroup_find_base(base, sizeof(base));
	/*
	 * Inside a "plugvm" directory that stays: cgroup roots are often mode
	 * 0555, and the host, which has dropped CAP_DAC_OVERRIDE by the time the
	 * plugin exits, can then still remove its own entries as their owner.
	 */
	if (r == 0 && strlen(base) + 8 < sizeof(base)) {
		strcat(base, "/plugvm");
		if (mkdir(base, 0755) < 0 && errno != EEXIST)
			r = -errno;
	}
	if (r == 0) {
		cgroup_reap_stale(base);
		snprintf(dir, sizeof(dir), "%s/%d-%d", base, (int)getpid(), (int)child);
		r = mkdir(dir, 0755) < 0 ? -errno : 0;
	}
	if (r == 0) {
		snprintf(num, sizeof(num), "%d", JAIL_MAX_TASKS);
		r = cgroup_write(dir, "pids.max", num);
		if (r == 0) {
			snprintf(num, sizeof(num), "%d", (int)child);
			r = cgroup_write(dir, "cgroup.procs", num);
		}
		if (r < 0) {
			rmdir(dir);
		} else {
			cgroup_dirs[slot] = strdup(dir);
			if (!cgroup_atexit_done && atexit(cgroup_reap_atexit) == 0)
				cgroup_atexit_done = true;
		}
	}
	if (r < 0 && geteuid() == 0 && !cgroup_warned) {
		cgroup_warned = true;
		log_warn("jail: no pids cgroup (%s): running as root, the plugin's task count is "
			 "not limited", strerror(-r));
	}
}
