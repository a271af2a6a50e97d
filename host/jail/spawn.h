/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Starting the plugin process.
 */
#ifndef PLUGVM_HOST_SPAWN_H
#define PLUGVM_HOST_SPAWN_H

#include <sys/types.h>

#include "config.h"

/*
 * Starts the plugin: argv[0] = cfg->plugin_path, then cfg->params; the
 * environment is the host's plus CROSVM_SOCKET=<sock_fd as seen by the
 * child>.  In the child: stdin/stdout are inherited, stderr is stderr_fd,
 * the socket keeps a fixed number, every other descriptor is closed, the
 * signal mask is empty and all handlers are default, and the parent-death
 * signal is SIGKILL (the kernel sends it when the *thread* that called
 * spawn_plugin() exits, so call it from the main thread).  Unless
 * cfg->disable_sandbox, the plugin starts in the jail (jail_spawn(), which
 * also says what ret_notify_fd receives: the seccomp listener or -1; may be
 * NULL); unjailed, *ret_notify_fd is -1.
 *
 * Returns 0 and sets *ret_pid (and *ret_pidfd, or -1 if pidfds are not
 * available) on success.  A plugin that cannot be executed is reported as
 * an ordinary exit with status 127 by the child, after a one-line message on
 * stderr_fd.  Returns -errno if the process could not be created, after
 * logging one line that names the cause (the caller adds nothing).
 */
int spawn_plugin(const struct host_config *cfg, int sock_fd, int stderr_fd, pid_t *ret_pid,
		 int *ret_pidfd, int *ret_notify_fd);

/*
 * Raises the host's own soft RLIMIT_NOFILE to want, the descriptors a VM may
 * make it hold (run_vm() counts them: every object's eventfd, every
 * connection, the vcpus' descriptors), within the hard limit; warns once if
 * the hard limit is lower.  An unjailed plugin still starts with the soft
 * limit the host was given (the jail sets its own).
 */
void spawn_raise_host_nofile(unsigned long long want);

#endif /* PLUGVM_HOST_SPAWN_H */
