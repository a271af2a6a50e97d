// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "seccomp-audit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/audit.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* AUDIT_SECCOMP records. */
#define AUDIT_TYPE_SECCOMP "type=1326 "


int seccomp_audit_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (lseek(fd, 0, SEEK_END) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The value of " key=" in s as a number in base, or -1 if absent or malformed. */
static long long field(const char *s, const char *key, int base)
{
	const char *p = strstr(s, key);
	char *end;
	long long v;

	if (!p)
		return -1;
	p += strlen(key);
	errno = 0;
	v = strtoll(p, &end, base);
	if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -1;
	return v;
}

int seccomp_audit_parse(const char *rec, pid_t *ret_pid, int *ret_nr)
{
	/* "PRIO,SEQ,USEC,FLAGS;MESSAGE": only the message counts. */
	const char *msg = strchr(rec, ';');
	long long pid, nr, arch;

	if (!msg || !strstr(msg, AUDIT_TYPE_SECCOMP))
		return 0;
	pid = field(msg, " pid=", 10);
	nr = field(msg, " syscall=", 10);
	arch = field(msg, " arch=", 16);
	if (pid <= 0 || pid > INT32_MAX || nr < 0 || nr > 4095 ||
	    (unsigned long long)arch != AUDIT_ARCH_X86_64)
		return 0;
	*ret_pid = (pid_t)pid;
	*ret_nr = (int)nr;
	return 1;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

size_t seccomp_audit_scan(int fd, pid_t pid, int *nrs, size_t max, int wait_ms)
{
	long long deadline = now_ms() + wait_ms;
	char rec[8192];
	size_t n = 0;

	if (fd < 0)
		return 0;
	for (;;) {
		ssize_t len = read(fd, rec, sizeof(rec) - 1);
		pid_t p;
		int nr;
		size_t i;

		if (len < 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			long long left = deadline - now_ms();

			/* EPIPE: older records were overwritten; the next read goes on. */
			if (errno == EPIPE || errno == EINTR)
				continue;
			/* EAGAIN: no more for now. */
			if (errno != EAGAIN || n || left <= 0 || poll(&pfd, 1, (int)left) <= 0)
				break;
			continue;
		}
		if (len == 0)
			break;
		rec[len] = '\0';
		if (!seccomp_audit_parse(rec, &p, &nr) || p != pid)
			continue;
		for (i = 0; i < n && nrs[i] != nr; i++)
			;
		if (i == n && n < max)
			nrs[n++] = nr;
	}
	return n;
}

void seccomp_audit_name(int nr, char *buf, size_t len)
{
	char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

	if (name)
		snprintf(buf, len, "%s (%d)", name, nr);
	else
		snprintf(buf, len, "%d", nr);
	free(name);
}
