/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The host's side of the plugin filter's SECCOMP_RET_USER_NOTIF default
 * action.  A system call outside the policy, by the plugin or by any
 * process it forked (the filter is inherited), stops in the kernel and
 * becomes a notification on a listener descriptor that the host took from
 * the jail's child before it executed the plugin (jail.c).  The host reads
 * it, names the call, and either lets it run (--seccomp-log-failures:
 * SECCOMP_USER_NOTIF_FLAG_CONTINUE) or kills the plugin before the call
 * ever runs.  Nothing is lost to the kernel log's rate limit and nothing
 * needs /dev/kmsg or CAP_SYSLOG.
 *
 * Needs Linux 5.6 (USER_NOTIF 5.0, FLAG_CONTINUE 5.5, pidfd_getfd 5.6);
 * where it is missing the host falls back to SECCOMP_RET_KILL_PROCESS or
 * SECCOMP_RET_LOG and names what the kernel log shows (seccomp-audit.h).
 */
#ifndef PLUGVM_HOST_SECCOMP_NOTIFY_H
#define PLUGVM_HOST_SECCOMP_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Distinct calls remembered (and named); later distinct ones are only counted. */
#define SECCOMP_NOTIFY_MAX_NAMED 64

struct seccomp_notify {
	int fd;           /* the listener, or -1 */
	bool log;         /* let calls run (log mode) instead of stopping the plugin */
	int nrs[SECCOMP_NOTIFY_MAX_NAMED];
	size_t n_nrs;     /* distinct calls seen, at most SECCOMP_NOTIFY_MAX_NAMED */
	size_t n_unnamed; /* distinct calls past that */
	int killed_nr;    /* enforcing mode: the call that stopped the plugin, or -1 */
	pid_t killed_pid; /* and the process that made it */
	bool foreign;     /* a call of another architecture (the filter kills those itself) */
	void *req, *resp; /* kernel-sized buffers */
	size_t req_size, resp_size;
};

/* True if this kernel has everything the notification mode needs. */
bool seccomp_notify_available(void);

/* Takes ownership of fd.  Returns 0 or -ENOMEM (fd is closed then). */
int seccomp_notify_init(struct seccomp_notify *n, int fd, bool log);

/*
 * Handles one notification, when the listener is readable.  Log mode: a
 * call seen for the first time is logged as one warning line naming it,
 * the process and whether it is the plugin (plugin_pid) or a descendant,
 * then it runs.  Enforcing mode: the call is recorded in killed_nr and
 * killed_pid and 1 is returned; the caller must kill the plugin without
 * answering (the call never runs; the kernel drops the notification when
 * the process dies).  Returns 0 when handled, 1 as said, -EPIPE once no
 * process is left under the filter (stop polling), other -errno on errors
 * that also end the listener.
 */
int seccomp_notify_handle(struct seccomp_notify *n, pid_t plugin_pid);

/* "name (nr), name (nr)" of every distinct call seen, "" if none. */
void seccomp_notify_list(const struct seccomp_notify *n, char *buf, size_t len);

void seccomp_notify_release(struct seccomp_notify *n);

#endif /* PLUGVM_HOST_SECCOMP_NOTIFY_H */
