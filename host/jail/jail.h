/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The plugin jail (docs/sandbox.md): user, pid, mount, ipc, uts, cgroup and
 * network namespaces, a private root, no capabilities, no_new_privs,
 * resource limits and a seccomp filter.
 */
#ifndef PLUGVM_HOST_JAIL_H
#define PLUGVM_HOST_JAIL_H

#include <sys/types.h>

#include "config.h"

/*
 * The descriptor number a /proc/self/fd entry names, or -1 for "." and
 * "..".  Async-signal-safe: used between fork and exec.
 */
static inline int jail_fd_of_name(const char *name)
{
	int fd = 0;

	if (!*name)
		return -1;
	for (const char *s = name; *s; s++) {
		if (*s < '0' || *s > '9' || fd > 100000000)
			return -1;
		fd = fd * 10 + (*s - '0');
	}
	return fd;
}

/* Most tasks (processes and threads) the plugin may have at once. */
#define JAIL_MAX_TASKS 512
/* RLIMIT_NOFILE inside the jail (crosvm's value), capped by the host's hard limit. */
#define JAIL_MAX_FILES 32768
/* How long the jail may take to set itself up before the host gives up on it. */
#define JAIL_SETUP_TIMEOUT_MS 10000

/*
 * Starts the plugin in the jail.  Same contract as spawn_plugin() (argv[0]
 * is the plugin path, CROSVM_SOCKET names the socket, stderr is stderr_fd,
 * stdout is inherited, every other descriptor is closed, empty signal mask,
 * default handlers, parent-death signal SIGKILL), plus the jail.  stdin is
 * /dev/null, or the host's with --plugin-stdin.  The plugin is PID 1 of its pid namespace.
 *
 * Unlike the unjailed spawner, this waits until the plugin has actually
 * been executed: every setup failure (bad policy file, bad mount, namespaces
 * unavailable, plugin not executable inside the jail) is logged as one error
 * line and returned as -errno, and no child is left behind.
 *
 * With ret_notify_fd, and where the kernel has it (seccomp-notify.h), the
 * filter's default action is SECCOMP_RET_USER_NOTIF and *ret_notify_fd is
 * its listener, which the caller must serve; otherwise (and with
 * ret_notify_fd NULL) it is SECCOMP_RET_KILL_PROCESS, or SECCOMP_RET_LOG with
 * --seccomp-log-failures, and *ret_notify_fd is -1.
 */
int jail_spawn(const struct host_config *cfg, int sock_fd, int stderr_fd, pid_t *ret_pid,
	       int *ret_pidfd, int *ret_notify_fd);

/*
 * For the host's exit message: a short explanation of a plugin wait status
 * that the jail caused (SIGSYS from the seccomp filter), or NULL.
 */
const char *jail_explain_status(int wstatus);

/*
 * Drops every capability of the calling thread (effective, permitted,
 * inheritable, ambient and bounding sets) and sets no_new_privs.  The host
 * calls it from its main thread after the plugin is spawned and before any
 * other thread exists (capabilities are per thread; new threads inherit).
 * Returns 0, or -errno if a capability could not be dropped.
 */
int host_drop_privileges(void);

/*
 * Sets every signal's disposition to the default, including glibc's reserved
 * real-time signals that sigaction() refuses.  Async-signal-safe: for use in
 * a child between fork/clone and execve.
 */
void spawn_reset_signal_dispositions(void);

#endif /* PLUGVM_HOST_JAIL_H */
