/* SPDX-License-Identifier: BSD-3-Clause */
/* Copyright 2026 The plugvm Authors. */

/*
 * Inside the jail (host/jail/): the mount plan and the process plan the host
 * prepares before clone() (jail-plan.c), the child that carries it out
 * (jail-child.c), the pids cgroup (jail-cgroup.c), capability sets (caps.c)
 * and the host side that starts and watches the child (jail.c).  Not for use
 * outside host/jail/: jail.h is the interface.
 */
#ifndef PLUGVM_HOST_JAIL_INTERNAL_H
#define PLUGVM_HOST_JAIL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "config.h"
#include "seccomp-policy.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define JAIL_ENV_NAME "CROSVM_SOCKET"
#define JAIL_HOSTNAME "plugvm"
#define JAIL_ROOT_OPTS "size=1m,mode=0755"
#define JAIL_MAX_MOUNTS 128

enum jail_item_kind {
	ITEM_BIND,    /* captured with open_tree() before pivot_root, attached after */
	ITEM_SYMLINK, /* recreated inside the jail, e.g. /lib -> usr/lib */
};

struct jail_item {
	enum jail_item_kind kind;
	char *src;      /* host path (ITEM_BIND) or link text (ITEM_SYMLINK) */
	char *dst;      /* absolute path inside the jail */
	bool is_dir;
	bool writable;
	int fd;         /* child only: the captured tree */
};

/* The steps the child reports failures of; the host turns them into messages. */
enum jail_step {
	STEP_SYNC,
	STEP_SETSID,
	STEP_SETID,
	STEP_HOSTNAME,
	STEP_PRIVATE,
	STEP_CAPTURE,
	STEP_PROC,
	STEP_ROOT,
	STEP_PIVOT,
	STEP_MOUNTPOINT,
	STEP_ATTACH,
	STEP_ROOT_RO,
	STEP_RLIMIT,
	STEP_FDS,
	STEP_CAPS,
	STEP_NNP,
	STEP_SECCOMP,
	STEP_EXEC,
	STEP_LISTENER, /* not a failure: the seccomp listener is this descriptor (item) */
};

struct jail_report {
	int32_t step;
	int32_t err;
	int32_t item; /* index into the mount plan, or -1 */
};

struct jail_plan {
	char **argv;
	char **envp;
	char *env_socket;
	char *exec_path;    /* path of the plugin inside the jail */
	const char *root;   /* --plugin-root, or NULL for a fresh tmpfs */
	char *staging;      /* host directory the new root is attached to before pivot_root */
	struct jail_item items[JAIL_MAX_MOUNTS];
	size_t n_items;
	struct seccomp_policy seccomp;
	struct rlimit nofile;
	int sock_fd;
	int child_sock;
	int stderr_fd;
	bool keep_stdin;    /* --plugin-stdin */
	int go_fd;          /* child reads one byte once the id maps are written, one more once
			     * the host has taken the seccomp listener */
	int go_host_fd;     /* the host's end, closed in the child so host death reads as EOF */
	int report_fd;      /* child writes a jail_report on failure; EOF on exec */
	int report_host_fd; /* the host's end, closed in the child */
};

/* ---- jail-plan.c ---- */

/*
 * Fills *p (zeroed by the caller) for cfg: the seccomp policy, the mount
 * plan, the staging directory, RLIMIT_NOFILE, argv and environment.  notify:
 * compile the policy with notify actions.  Returns 0 or -errno (a bad policy
 * or mount is logged); plan_free() in either case.
 */
int plan_build(struct jail_plan *p, const struct host_config *cfg, int sock_fd,
	       int stderr_fd, bool notify);
/*
 * Picks the socket's number in the child (p->go_fd and p->report_fd set) and
 * adds CROSVM_SOCKET to the environment.  0 or -ENOMEM.
 */
int plan_socket_number(struct jail_plan *p);
/* Releases what plan_build() and plan_socket_number() allocated; zeroes *p. */
void plan_free(struct jail_plan *p);

/* ---- jail-child.c ---- */

/*
 * The child after clone(): carries out *p and executes the plugin, or reports
 * the failed step on p->report_fd and exits 127.  Raw system calls only.
 */
void __attribute__((noreturn)) child_main(struct jail_plan *p);

/* ---- jail-cgroup.c ---- */

/*
 * Puts the child in a fresh pids cgroup limited to JAIL_MAX_TASKS where the
 * host can make one (best effort; warns once when running as root without).
 */
void jail_pid_cgroup(pid_t child);

/* ---- caps.c ---- */

/*
 * Empties the bounding set (while CAP_SETPCAP is still held), the ambient
 * set and the effective, permitted and inheritable sets.  strict: a
 * capability the bounding set keeps (EPERM) is an error, not skipped.
 */
int caps_clear(bool strict);

#endif /* PLUGVM_HOST_JAIL_INTERNAL_H */
