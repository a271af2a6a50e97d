// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The jail's child (jail-internal.h): everything between clone() and
 * execve(), as raw system calls only (see jail.c for why and for the order).
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
#include "seccomp-policy.h"
#include "util.h"

/* ---- child ---- */

static void __attribute__((noreturn)) child_fail(const struct jail_plan *p, enum jail_step step,
						  int err, int item)
{
	struct jail_report rep = { .step = step, .err = err, .item = item };
	ssize_t n;

	do {
		n = write(p->report_fd, &rep, sizeof(rep));
	} while (n < 0 && errno == EINTR);
	_exit(127);
}

static int child_write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	close(fd);
	return n == (ssize_t)len ? 0 : -EIO;
}

/* mkdir -p of the parent of path (inside the jail root), with a stack copy. */
static int child_mkdir_parents(const char *path)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (size_t i = 1; i < len; i++) {
		if (buf[i] != '/')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		buf[i] = '/';
	}
	return 0;
}

static int child_mountpoint(const struct jail_item *it)
{
	int r, fd;

	r = child_mkdir_parents(it->dst);
	if (r < 0)
		return r;
	if (it->is_dir)
		return mkdir(it->dst, 0755) < 0 && errno != EEXIST ? -errno : 0;
	fd = open(it->dst, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	/* An existing file on a read-only root is still a fine mount point. */
	return errno == EROFS || errno == EISDIR || errno == EEXIST ? 0 : -errno;
}

static int child_attach(int fd, const char *dst)
{
	return move_mount(fd, "", AT_FDCWD, dst, MOVE_MOUNT_F_EMPTY_PATH) < 0 ? -errno : 0;
}

static int child_fresh_mount(const char *fstype, const char *opts, unsigned attrs)
{
	int fsfd, mfd;
	char key[32], val[64];

	fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
	if (fsfd < 0)
		return -errno;
	/* "key=value,key=value" without allocating */
	for (const char *s = opts; s && *s;) {
		const char *comma = strchr(s, ',');
		const char *eq = strchr(s, '=');
		size_t klen, vlen;

		if (!comma)
			comma = s + strlen(s);
		if (!eq || eq > comma || (size_t)(eq - s) >= sizeof(key) ||
		    (size_t)(comma - eq - 1) >= sizeof(val))
			break;
		klen = (size_t)(eq - s);
		vlen = (size_t)(comma - eq - 1);
		memcpy(key, s, klen);
		key[klen] = '\0';
		memcpy(val, eq + 1, vlen);
		val[vlen] = '\0';
		if (fsconfig(fsfd, FSCONFIG_SET_STRING, key, val, 0) < 0)
			goto err;
		s = *comma ? comma + 1 : comma;
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		goto err;
	mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
	if (mfd < 0)
		goto err;
	close(fsfd);
	return mfd;
err:
	mfd = -errno;
	close(fsfd);
	return mfd;
}

/* Marks every descriptor except the socket close-on-exec; the report pipe must live until exec. */
static int child_cloexec_others(int keep)
{
	char buf[1024];
	int dir;

	if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
		goto keep;
	/* Linux < 5.11: walk /proc/self/fd (the jail's fresh proc) with raw getdents64. */
	dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	for (;;) {
		long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));

		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64_raw {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (struct dirent64_raw *)(void *)(buf + off);
			int fd = jail_fd_of_name(d->name);

			if (fd > STDERR_FILENO)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
			off += d->reclen;
		}
	}
	close(dir);
keep:
	return fcntl(keep, F_SETFD, 0) < 0 ? -errno : 0;
}


static int child_drop_caps(void)
{
	/* While CAP_SETPCAP is still held: no capabilities come back through exec as root. */
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
				     SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
				     SECBIT_NO_CAP_AMBIENT_RAISE |
				     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) < 0)
		return -errno;
	return caps_clear(true);
}

/* The kernel's struct sigaction on x86-64, for rt_sigaction(2) without glibc's filtering. */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	uint64_t mask;
};

void spawn_reset_signal_dispositions(void)
{
	struct kernel_sigaction ksa = { .handler = SIG_DFL };

	/*
	 * The raw system call, because glibc refuses its reserved signals (32 and
	 * 33), and an ignored disposition of those inherited from whoever started
	 * the host would otherwise reach the plugin.
	 */
	for (int sig = 1; sig <= 64; sig++) {
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
	}
}

/*
 * What the steps below share: the proc and root trees they make before
 * pivot_root and attach after it, and where a failing step says what failed
 * (its jail_step and the mount plan item, or -1).
 */
struct child_state {
	int proc_fd;
	int root_fd;
	enum jail_step step;
	int item;
};

/* Every step returns 0, -errno after fail_at(), or CHILD_HOST_GONE. */
#define CHILD_HOST_GONE 1

static int fail_at(struct child_state *st, enum jail_step step, int err, int item)
{
	st->step = step;
	st->item = item;
	return -err;
}

/* Waits for one byte from the host: 0, or CHILD_HOST_GONE if it gave up or died. */
static int child_wait_go(const struct jail_plan *p)
{
	ssize_t n;
	char go;

	do {
		n = read(p->go_fd, &go, 1);
	} while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : CHILD_HOST_GONE;
}

/* Default signal handlers, death with the host, and the host's go once the id maps exist. */
static int child_sync_with_host(struct jail_plan *p, struct child_state *st)
{
	/* Handlers survive execve() as "default" only if we reset them; do it while all is blocked. */
	spawn_reset_signal_dispositions();
	/* Before anything else: a host that dies from now on takes us with it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		return fail_at(st, STEP_SYNC, errno, -1);
	close(p->go_host_fd);
	close(p->report_host_fd);
	return child_wait_go(p); /* the host writes our id maps first */
}

/* A session, root in the user namespace, our hostname, mounts that do not propagate. */
static int child_identity(struct jail_plan *p, struct child_state *st)
{
	(void)p;
	if (setsid() < 0)
		return fail_at(st, STEP_SETSID, errno, -1);
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		return fail_at(st, STEP_SETID, errno, -1);
	if (sethostname(JAIL_HOSTNAME, sizeof(JAIL_HOSTNAME) - 1) < 0)
		return fail_at(st, STEP_HOSTNAME, errno, -1);
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail_at(st, STEP_PRIVATE, errno, -1);
	return 0;
}

/* Every bind source, captured with open_tree() while the host's tree is still visible. */
static int child_capture_binds(struct jail_plan *p, struct child_state *st)
{
	struct mount_attr attr;

	for (size_t i = 0; i < p->n_items; i++) {
		struct jail_item *it = &p->items[i];

		if (it->kind != ITEM_BIND)
			continue;
		it->fd = open_tree(AT_FDCWD, it->src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
							      AT_RECURSIVE);
		if (it->fd < 0)
			return fail_at(st, STEP_CAPTURE, errno, (int)i);
		memset(&attr, 0, sizeof(attr));
		attr.attr_set = MOUNT_ATTR_NOSUID | (it->writable ? 0 : MOUNT_ATTR_RDONLY);
		if (mount_setattr(it->fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			return fail_at(st, STEP_CAPTURE, errno, (int)i);
	}
	return 0;
}

/* A fresh proc, and the new root (--plugin-root or a tmpfs) attached on the staging dir. */
static int child_make_root(struct jail_plan *p, struct child_state *st)
{
	int r;

	/* The kernel only allows a new proc while a full one is still visible: before pivot_root. */
	st->proc_fd = child_fresh_mount("proc", NULL, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
							      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (st->proc_fd < 0)
		return fail_at(st, STEP_PROC, -st->proc_fd, -1);

	if (p->root) {
		st->root_fd = open_tree(AT_FDCWD, p->root, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
								   AT_RECURSIVE);
		r = st->root_fd < 0 ? -errno : 0;
	} else {
		st->root_fd = child_fresh_mount("tmpfs", JAIL_ROOT_OPTS, MOUNT_ATTR_NOSUID |
								       MOUNT_ATTR_NODEV |
								       MOUNT_ATTR_NOEXEC);
		r = st->root_fd < 0 ? st->root_fd : 0;
	}
	if (r < 0)
		return fail_at(st, STEP_ROOT, -r, -1);
	r = child_attach(st->root_fd, p->staging);
	if (r < 0)
		return fail_at(st, STEP_ROOT, -r, -1);
	return 0;
}

/* Limits on nested namespaces, then pivot_root into the new root. */
static int child_pivot(struct jail_plan *p, struct child_state *st)
{
	static const char *const ns_limits[] = {
		"/proc/sys/user/max_user_namespaces",   "/proc/sys/user/max_mnt_namespaces",
		"/proc/sys/user/max_pid_namespaces",    "/proc/sys/user/max_net_namespaces",
		"/proc/sys/user/max_ipc_namespaces",    "/proc/sys/user/max_uts_namespaces",
		"/proc/sys/user/max_cgroup_namespaces", "/proc/sys/user/max_time_namespaces",
	};

	/*
	 * Creating a user namespace needs no privilege, so a plugin could make
	 * one and be root in it.  These limits belong to our user namespace and
	 * bind everything created from it.  They are set only now because
	 * open_tree() and fsmount() above count as mount namespaces, and
	 * through the host's /proc because ours is read-only.  Best effort:
	 * seccomp blocks unshare and clone with namespace flags as well.
	 */
	for (size_t i = 0; i < ARRAY_SIZE(ns_limits); i++)
		(void)child_write_file(ns_limits[i], "0");
	if (chdir(p->staging) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		return fail_at(st, STEP_PIVOT, errno, -1);
	/* The old root sits on top of the new one after pivot_root(".", "."). */
	if (umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		return fail_at(st, STEP_PIVOT, errno, -1);
	return 0;
}

/* The captured mounts, symlinks and proc attached inside the jail; the root made read-only. */
static int child_attach_mounts(struct jail_plan *p, struct child_state *st)
{
	struct mount_attr attr;
	int r;

	/* From here on every path is resolved inside the jail. */
	for (size_t i = 0; i < p->n_items; i++) {
		struct jail_item *it = &p->items[i];

		if (it->kind == ITEM_SYMLINK) {
			r = child_mkdir_parents(it->dst);
			if (r == 0 && symlink(it->src, it->dst) < 0 && errno != EEXIST)
				r = -errno;
			if (r < 0)
				return fail_at(st, STEP_MOUNTPOINT, -r, (int)i);
			continue;
		}
		r = child_mountpoint(it);
		if (r < 0)
			return fail_at(st, STEP_MOUNTPOINT, -r, (int)i);
		r = child_attach(it->fd, it->dst);
		if (r < 0)
			return fail_at(st, STEP_ATTACH, -r, (int)i);
		close(it->fd);
	}
	if ((mkdir("/proc", 0555) < 0 && errno != EEXIST) || child_attach(st->proc_fd, "/proc") < 0)
		return fail_at(st, STEP_PROC, errno, -1);
	close(st->proc_fd);
	close(st->root_fd);

	/* Only the root mount itself: writable --plugin-mount entries below it stay writable. */
	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
	if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof(attr)) < 0)
		return fail_at(st, STEP_ROOT_RO, errno, -1);
	return 0;
}

/* RLIMIT_NOFILE, the task limit, no core dumps. */
static int child_limits(struct jail_plan *p, struct child_state *st)
{
	struct rlimit rl;

	if (setrlimit(RLIMIT_NOFILE, &p->nofile) < 0)
		return fail_at(st, STEP_RLIMIT, errno, -1);
	rl.rlim_cur = rl.rlim_max = JAIL_MAX_TASKS;
	if (setrlimit(RLIMIT_NPROC, &rl) < 0)
		return fail_at(st, STEP_RLIMIT, errno, -1);
	/* A core dump would be written by the host's core_pattern helper, outside the jail. */
	rl.rlim_cur = rl.rlim_max = 0;
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		return fail_at(st, STEP_RLIMIT, errno, -1);
	return 0;
}

/* The socket on its number, stderr on 2, stdin /dev/null, everything else close-on-exec. */
static int child_descriptors(struct jail_plan *p, struct child_state *st)
{
	int fd, r;

	/* The socket first, so that installing stderr on fd 2 cannot overwrite it. */
	if (p->sock_fd != p->child_sock && dup2(p->sock_fd, p->child_sock) < 0)
		return fail_at(st, STEP_FDS, errno, -1);
	if (p->stderr_fd != STDERR_FILENO && dup2(p->stderr_fd, STDERR_FILENO) < 0)
		return fail_at(st, STEP_FDS, errno, -1);
	fcntl(STDERR_FILENO, F_SETFD, 0);
	/*
	 * stdin would let a plugin read the host's terminal, so it is /dev/null unless
	 * --plugin-stdin asked for it; stdout stays (plugins print results).
	 */
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return fail_at(st, STEP_FDS, errno, -1);
	if (!p->keep_stdin || p->sock_fd == STDIN_FILENO) {
		if (dup2(fd, STDIN_FILENO) < 0)
			return fail_at(st, STEP_FDS, errno, -1);
	} else if (fcntl(STDIN_FILENO, F_SETFD, 0) < 0 && errno != EBADF) {
		return fail_at(st, STEP_FDS, errno, -1);
	}
	if (p->sock_fd <= STDERR_FILENO && p->sock_fd != STDIN_FILENO &&
	    p->sock_fd != p->child_sock) {
		/* The socket sat on stdout: leave /dev/null there, not a second socket. */
		if (dup2(fd, p->sock_fd) < 0)
			return fail_at(st, STEP_FDS, errno, -1);
	}
	if (fd > STDERR_FILENO)
		close(fd);
	r = child_cloexec_others(p->child_sock);
	if (r < 0)
		return fail_at(st, STEP_FDS, -r, -1);
	return 0;
}

/* No capabilities, no_new_privs, the seccomp filter (and the listener handed to the host). */
static int child_lock_down(struct jail_plan *p, struct child_state *st)
{
	int r = child_drop_caps();

	if (r < 0)
		return fail_at(st, STEP_CAPS, -r, -1);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail_at(st, STEP_NNP, errno, -1);
	r = seccomp_policy_install(&p->seccomp);
	if (r < 0)
		return fail_at(st, STEP_SECCOMP, -r, -1);
	if (p->seccomp.notify) {
		/*
		 * Under the filter now: read and write must be in the policy (any
		 * policy a plugin can live with has them).  The host takes the
		 * listener with pidfd_getfd(); it is close-on-exec, so the plugin
		 * never holds it.
		 */
		struct jail_report rep = { .step = STEP_LISTENER, .item = r };
		ssize_t n;

		do {
			n = write(p->report_fd, &rep, sizeof(rep));
		} while (n < 0 && errno == EINTR);
		return child_wait_go(p);
	}
	return 0;
}

void __attribute__((noreturn)) child_main(struct jail_plan *p)
{
	/* In this order: each step needs the privileges the previous ones leave (jail.c). */
	static int (*const steps[])(struct jail_plan *, struct child_state *) = {
		child_sync_with_host, child_identity, child_capture_binds,
		child_make_root, child_pivot, child_attach_mounts,
		child_limits, child_descriptors, child_lock_down,
	};
	struct child_state st = { .proc_fd = -1, .root_fd = -1, .step = STEP_SYNC, .item = -1 };
	sigset_t none;

	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		int r = steps[i](p, &st);

		if (r == CHILD_HOST_GONE)
			_exit(127); /* the host gave up (or died): nobody to report to */
		if (r < 0)
			child_fail(p, st.step, -r, st.item);
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(p->exec_path, p->argv, p->envp);
	child_fail(p, STEP_EXEC, errno, -1);
}
