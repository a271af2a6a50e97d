// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "seccomp-notify.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "seccomp-audit.h"

#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

bool seccomp_notify_available(void)
{
	uint32_t action = SECCOMP_RET_USER_NOTIF;
	struct seccomp_notif_sizes sizes;

	if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) < 0)
		return false;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		return false;
	/* pidfd_getfd (5.6) postdates SECCOMP_USER_NOTIF_FLAG_CONTINUE (5.5): EBADF means both. */
	return syscall(SYS_pidfd_getfd, -1, 0, 0) < 0 && errno == EBADF;
}

int seccomp_notify_init(struct seccomp_notify *n, int fd, bool log)
{
	struct seccomp_notif_sizes sizes;

	memset(n, 0, sizeof(*n));
	n->fd = -1;
	n->killed_nr = -1;
	n->log = log;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
		close(fd);
		return -errno;
	}
	/* The kernel may know a larger struct than our headers; it writes its own size. */
	n->req_size = sizes.seccomp_notif > sizeof(struct seccomp_notif) ?
			      sizes.seccomp_notif : sizeof(struct seccomp_notif);
	n->resp_size = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp) ?
			       sizes.seccomp_notif_resp : sizeof(struct seccomp_notif_resp);
	n->req = calloc(1, n->req_size);
	n->resp = calloc(1, n->resp_size);
	if (!n->req || !n->resp) {
		seccomp_notify_release(n);
		close(fd);
		return -ENOMEM;
	}
	n->fd = fd;
	return 0;
}

/* Remembers nr; true if it was not seen before. */
static bool note_call(struct seccomp_notify *n, int nr)
{
	for (size_t i = 0; i < n->n_nrs; i++)
		if (n->nrs[i] == nr)
			return false;
	if (n->n_nrs < SECCOMP_NOTIFY_MAX_NAMED)
		n->nrs[n->n_nrs++] = nr;
	else
		n->n_unnamed++; /* cannot tell repeats apart any more: counted each time */
	return true;
}

int seccomp_notify_handle(struct seccomp_notify *n, pid_t plugin_pid)
{
	struct seccomp_notif *req = n->req;
	struct seccomp_notif_resp *resp = n->resp;
	char name[64];
	int nr;

	if (n->fd < 0)
		return -EBADF;
	memset(req, 0, n->req_size);
	if (ioctl(n->fd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
		/* ENOENT: the caller died (or was interrupted) before we read it. */
		if (errno == ENOENT || errno == EINTR || errno == EAGAIN)
			return 0;
		return -errno;
	}
	nr = req->data.nr;
	if (req->data.arch != AUDIT_ARCH_X86_64) {
		/* The filter kills foreign-ABI calls itself; a notification for one is a surprise. */
		n->foreign = true;
		nr = -1;
	}
	if (!n->log) {
		n->killed_nr = nr;
		n->killed_pid = (pid_t)req->pid;
		if (nr >= 0)
			note_call(n, nr);
		return 1;
	}
	if (note_call(n, nr)) {
		seccomp_audit_name(nr, name, sizeof(name));
		if ((pid_t)req->pid == plugin_pid)
			log_warn("the plugin made system call %s, outside its seccomp policy "
				 "(allowed by --seccomp-log-failures)", name);
		else
			log_warn("process %d, a descendant of the plugin, made system call %s, "
				 "outside its seccomp policy (allowed by --seccomp-log-failures)",
				 (int)req->pid, name);
	}
	memset(resp, 0, n->resp_size);
	resp->id = req->id;
	resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	if (ioctl(n->fd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

void seccomp_notify_list(const struct seccomp_notify *n, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < n->n_nrs && used < len; i++) {
		char name[64];

		seccomp_audit_name(n->nrs[i], name, sizeof(name));
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name);
	}
	if (n->n_unnamed && used < len)
		snprintf(buf + used, len - used, " and %zu more", n->n_unnamed);
}

void seccomp_notify_release(struct seccomp_notify *n)
{
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	free(n->req);
	free(n->resp);
	n->req = n->resp = NULL;
}
