// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The plugin jail.  Everything that allocates or formats (argv, environment,
 * the mount plan, the BPF programs, error messages) is prepared in the host
 * before clone(); the child then runs only raw system calls, because
 * another host thread may have held a malloc or stdio lock at the moment of
 * the clone.
 *
 * Order in the child (each step needs the privileges the previous ones
 * leave): wait for the host to write the id maps; new session; sysctl
 * limits on nested namespaces; capture every bind source with open_tree()
 * while the host's tree is still visible; build a fresh proc and the new
 * root; pivot_root; attach the captured mounts inside the new root (so mount
 * points are resolved in the jail, never through host symlinks); make the
 * root read-only; rlimits; descriptors; securebits, bounding, ambient and
 * capability sets; no_new_privs; seccomp; execve.  Failures are reported
 * over a close-on-exec pipe, so the host learns of them synchronously and
 * the pipe's EOF means the plugin was executed.
 */

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
#include "seccomp-notify.h"
#include "seccomp-policy.h"

static const char *const jail_step_text[] = {
	[STEP_SYNC] = "waiting for the host",
	[STEP_SETSID] = "setsid",
	[STEP_SETID] = "switching to uid/gid 0 in the user namespace",
	[STEP_HOSTNAME] = "sethostname",
	[STEP_PRIVATE] = "making mounts private",
	[STEP_CAPTURE] = "capturing bind mount source",
	[STEP_PROC] = "creating /proc",
	[STEP_ROOT] = "creating the jail root",
	[STEP_PIVOT] = "pivot_root",
	[STEP_MOUNTPOINT] = "creating mount point",
	[STEP_ATTACH] = "attaching bind mount",
	[STEP_ROOT_RO] = "making the jail root read-only",
	[STEP_RLIMIT] = "setting resource limits",
	[STEP_FDS] = "setting up descriptors",
	[STEP_CAPS] = "dropping capabilities",
	[STEP_NNP] = "setting no_new_privs",
	[STEP_SECCOMP] = "installing the seccomp filter",
	[STEP_EXEC] = "executing the plugin",
	[STEP_LISTENER] = "handing over the seccomp listener",
};

/* ---- host side ---- */

static int write_proc_file(pid_t pid, const char *name, const char *text)
{
	char path[64];
	size_t len = strlen(text);
	ssize_t n;
	int fd, r = 0;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	close(fd);
	return r;
}

static int jail_write_id_maps(pid_t pid, const struct host_config *cfg)
{
	char line[64];
	char *gid_map;
	size_t cap = 64 + cfg->n_gid_maps * 40, len;
	int r;

	r = write_proc_file(pid, "setgroups", "deny");
	if (r < 0 && r != -ENOENT) {
		log_err("jail: cannot deny setgroups: %s", strerror(-r));
		return r;
	}
	snprintf(line, sizeof(line), "0 %u 1\n", (unsigned)geteuid());
	r = write_proc_file(pid, "uid_map", line);
	if (r < 0) {
		log_err("jail: cannot write the uid map \"0 %u 1\": %s", (unsigned)geteuid(),
			strerror(-r));
		return r;
	}
	gid_map = malloc(cap);
	if (!gid_map)
		return -ENOMEM;
	len = (size_t)snprintf(gid_map, cap, "0 %u 1\n", (unsigned)getegid());
	for (size_t i = 0; i < cfg->n_gid_maps; i++) {
		const struct gid_map *g = &cfg->gid_maps[i];

		len += (size_t)snprintf(gid_map + len, cap - len, "%u %u %u\n", g->inner, g->outer,
					g->count);
	}
	r = write_proc_file(pid, "gid_map", gid_map);
	if (r < 0)
		log_err("jail: cannot write the gid map%s: %s",
			cfg->n_gid_maps ? " (extra --plugin-gid-map entries need CAP_SETGID and must "
					  "not overlap gid 0's line)" : "",
			strerror(-r));
	free(gid_map);
	return r;
}
static void jail_log_report(const struct jail_plan *p, const struct host_config *cfg,
			    const struct jail_report *rep)
{
	const char *what = rep->step >= 0 && (size_t)rep->step < sizeof(jail_step_text) /
								sizeof(jail_step_text[0]) ?
				   jail_step_text[rep->step] : "setup";
	const char *why = strerror(rep->err > 0 && rep->err < 4096 ? rep->err : EIO);

	if (rep->step == STEP_EXEC) {
		log_err("cannot execute plugin %s in the jail: %s", cfg->plugin_path, why);
	} else if (rep->item >= 0 && (size_t)rep->item < p->n_items) {
		const struct jail_item *it = &p->items[rep->item];

		log_err("jail setup failed: %s %s at %s: %s", what, it->src, it->dst, why);
	} else if (rep->step == STEP_PROC && rep->err == EPERM) {
		log_err("jail setup failed: %s: %s (the host's /proc is partly hidden, as in some "
			"containers)", what, why);
	} else {
		log_err("jail setup failed: %s: %s", what, why);
	}
}

/* Takes the child's seccomp listener (descriptor nr in the child) and lets it go on. */
static int jail_take_listener(const struct jail_plan *p, int pidfd, int nr, int *ret_fd)
{
	int fd;

	if (pidfd < 0 || !ret_fd || *ret_fd >= 0) {
		log_err("jail setup failed: unexpected seccomp listener");
		return -EPROTO;
	}
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, nr, 0);
	if (fd < 0) {
		int e = errno;

		log_err("jail setup failed: cannot take the seccomp listener: %s", strerror(e));
		return -e;
	}
	*ret_fd = fd;
	if (write(p->go_host_fd, "l", 1) != 1) {
		int e = errno;

		log_err("jail setup failed: cannot release the plugin: %s", strerror(e));
		return -e;
	}
	return 0;
}

/*
 * Waits for the child's verdict: a report, or EOF once execve() succeeded.
 * On the way the child may hand over its seccomp listener (*ret_notify_fd).
 */
static int jail_wait_exec(const struct jail_plan *p, const struct host_config *cfg, pid_t pid,
			  int pidfd, int *ret_notify_fd)
{
	struct pollfd pfd = { .fd = p->report_fd, .events = POLLIN };
	struct jail_report rep;
	ssize_t n;
	int r;

again:
	do {
		r = poll(&pfd, 1, JAIL_SETUP_TIMEOUT_MS);
	} while (r < 0 && errno == EINTR);
	if (r == 0) {
		log_err("jail setup failed: no answer within %d ms%s", JAIL_SETUP_TIMEOUT_MS,
			p->seccomp.notify ? " (does the seccomp policy allow read and write?)" : "");
		return -ETIMEDOUT;
	}
	do {
		n = read(p->report_fd, &rep, sizeof(rep));
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n == (ssize_t)sizeof(rep) && rep.step == STEP_LISTENER) {
		r = jail_take_listener(p, pidfd, rep.item, ret_notify_fd);
		if (r < 0)
			return r;
		goto again;
	}
	if (n != (ssize_t)sizeof(rep)) {
		/* Died without a word: most likely killed by its own seccomp filter before exec. */
		int status;

		if (waitpid(pid, &status, 0) == pid && WIFSIGNALED(status))
			log_err("jail setup failed: the jailed process died of signal %d before "
				"executing the plugin%s", WTERMSIG(status),
				WTERMSIG(status) == SIGSYS ? " (the seccomp policy must allow execve)"
							   : "");
		else
			log_err("jail setup failed: the jailed process died before executing the "
				"plugin");
		return -ECHILD;
	}
	jail_log_report(p, cfg, &rep);
	return -(rep.err > 0 && rep.err < 4096 ? rep.err : EIO);
}

int jail_spawn(const struct host_config *cfg, int sock_fd, int stderr_fd, pid_t *ret_pid,
	       int *ret_pidfd, int *ret_notify_fd)
{
	int notify_fd = -1;
	struct jail_plan *p;
	int go[2] = { -1, -1 }, report[2] = { -1, -1 };
	unsigned long flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC |
			      CLONE_NEWUTS | CLONE_NEWNET | CLONE_NEWCGROUP;
	sigset_t all, old;
	pid_t pid = -1;
	int r, pidfd = -1, status;

	if (ret_notify_fd)
		*ret_notify_fd = -1;
	if (!cfg || !cfg->plugin_path || !ret_pid)
		return -EINVAL;
	if (sock_fd < 0 || stderr_fd < 0 || sock_fd == stderr_fd)
		return -EBADF;
	if (fcntl(sock_fd, F_GETFD) < 0 || fcntl(stderr_fd, F_GETFD) < 0)
		return -EBADF;

	/* The plan holds 128 mount entries; keep it off the stack. */
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	r = plan_build(p, cfg, sock_fd, stderr_fd, ret_notify_fd && seccomp_notify_available());
	if (r < 0)
		goto err_plan;
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0) {
		r = -errno;
		log_err("jail: cannot create pipes: %s", strerror(-r));
		goto err_pipes;
	}
	p->go_fd = go[0];
	p->go_host_fd = go[1];
	p->report_fd = report[1];
	p->report_host_fd = report[0];
	r = plan_socket_number(p);
	if (r < 0)
		goto err_pipes;

	/* No host handler may run in the child before it resets the dispositions. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* A raw clone is a fork that starts in the new namespaces, so the plugin is PID 1. */
	pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid == 0)
		child_main(p);
	r = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		log_err("jail: cannot create the plugin's namespaces: %s%s", strerror(-r),
			r == -EPERM || r == -ENOSPC ? " (user namespaces disabled? "
						      "--disable-sandbox runs the plugin unjailed)"
						    : "");
		goto err_pipes;
	}
	close(go[0]);
	go[0] = -1;
	close(report[1]);
	report[1] = -1;
	/* Linux < 5.3 has no pidfds; the caller then falls back to the pid and SIGCHLD. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		pidfd = -1;

	r = jail_write_id_maps(pid, cfg);
	if (r < 0)
		goto err_child;
	jail_pid_cgroup(pid);
	if (write(go[1], "g", 1) != 1) {
		r = -errno;
		log_err("jail: cannot release the plugin: %s", strerror(-r));
		goto err_child;
	}
	p->report_fd = report[0];
	r = jail_wait_exec(p, cfg, pid, pidfd, &notify_fd);
	if (r == -ECHILD) {
		pid = -1; /* already reaped */
		goto err_pipes;
	}
	if (r < 0)
		goto err_child;
	close(go[1]);
	close(report[0]);

	if (ret_notify_fd)
		*ret_notify_fd = notify_fd;
	log_debug("plugin %s started in the jail as pid %d", cfg->plugin_path, (int)pid);
	*ret_pid = pid;
	if (ret_pidfd)
		*ret_pidfd = pidfd;
	else if (pidfd >= 0)
		close(pidfd);
	plan_free(p);
	free(p);
	return 0;

err_child:
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
err_pipes:
	if (notify_fd >= 0)
		close(notify_fd);
	if (pidfd >= 0)
		close(pidfd);
	for (int i = 0; i < 2; i++) {
		if (go[i] >= 0)
			close(go[i]);
		if (report[i] >= 0)
			close(report[i]);
	}
err_plan:
	plan_free(p);
	free(p);
	return r;
}

const char *jail_explain_status(int wstatus)
{
	if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGSYS)
		return "killed by the seccomp filter (a system call outside the policy; "
		       "--seccomp-log-failures names it and lets it run)";
	return NULL;
}
