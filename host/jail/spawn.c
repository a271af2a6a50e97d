// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Plugin spawning.  Everything that allocates (argv, environment, messages)
 * is prepared before fork(); between fork() and execve() the child uses only
 * async-signal-safe system calls, because another thread of the host may
 * have held a malloc or stdio lock at the moment of the fork.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"
#include "spawn.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define SPAWN_ENV_NAME "CROSVM_SOCKET"

/* What the child needs, all computed before fork(). */
struct spawn_plan {
	char **argv;
	char **envp;
	char *env_socket; /* "CROSVM_SOCKET=N", owned */
	int sock_fd;      /* socket in the parent */
	int child_sock;   /* number the socket gets in the child */
	int stderr_fd;
	pid_t parent;
	char exec_msg[512]; /* "...cannot execute PATH: " without the reason */
	size_t exec_msg_len;
};

/* The soft RLIMIT_NOFILE the host started with, for an unjailed plugin; valid when `saved`. */
static struct {
	bool saved;
	struct rlimit rl;
} plugin_nofile;

void spawn_raise_host_nofile(unsigned long long want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur >= want)
		return;
	plugin_nofile.rl = rl;
	plugin_nofile.saved = true;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		log_warn("open-file limit %llu is below the %llu descriptors a plugin can make the "
			 "host hold; it may get EMFILE replies (raise it with ulimit -Hn)",
			 (unsigned long long)rl.rlim_max, (unsigned long long)want);
		rl.rlim_cur = rl.rlim_max;
	} else {
		rl.rlim_cur = want;
	}
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot raise the open-file limit: %m");
}

static void spawn_plan_free(struct spawn_plan *p)
{
	free(p->argv);
	free(p->envp);
	free(p->env_socket);
}

static int spawn_plan_build(struct spawn_plan *p, const struct host_config *cfg, int sock_fd,
			    int stderr_fd)
{
	size_t n_env = 0, k = 0;
	int len;

	memset(p, 0, sizeof(*p));
	p->sock_fd = sock_fd;
	p->stderr_fd = stderr_fd;
	p->parent = getpid();

	/*
	 * The socket keeps its number unless it sits on 0..2, which the child
	 * needs for stdio; then it moves to the lowest number that cannot clash
	 * with the stderr descriptor we are about to install.
	 */
	if (sock_fd > STDERR_FILENO)
		p->child_sock = sock_fd;
	else
		p->child_sock = stderr_fd == 3 ? 4 : 3;

	p->argv = calloc(cfg->n_params + 2, sizeof(*p->argv));
	if (!p->argv)
		goto err_nomem;
	p->argv[0] = cfg->plugin_path;
	for (size_t i = 0; i < cfg->n_params; i++)
		p->argv[i + 1] = cfg->params[i];

	if (asprintf(&p->env_socket, SPAWN_ENV_NAME "=%d", p->child_sock) < 0) {
		p->env_socket = NULL;
		goto err_nomem;
	}
	for (char **e = environ; e && *e; e++)
		n_env++;
	p->envp = calloc(n_env + 2, sizeof(*p->envp));
	if (!p->envp)
		goto err_nomem;
	/* A stale CROSVM_SOCKET from our own environment would point the plugin at a wrong fd. */
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, SPAWN_ENV_NAME "=", sizeof(SPAWN_ENV_NAME)) != 0)
			p->envp[k++] = *e;
	}
	p->envp[k++] = p->env_socket;
	p->envp[k] = NULL;

	len = snprintf(p->exec_msg, sizeof(p->exec_msg), "plugvm: error: cannot execute plugin %s: ",
		       cfg->plugin_path);
	if (len < 0)
		len = 0;
	p->exec_msg_len = (size_t)len < sizeof(p->exec_msg) ? (size_t)len : sizeof(p->exec_msg) - 1;
	return 0;

err_nomem:
	spawn_plan_free(p);
	return -ENOMEM;
}

/* strerror() is not async-signal-safe; these are the reasons execve() really gives. */
static const char *spawn_errno_text(int err)
{
	switch (err) {
	case ENOENT:
		return "No such file or directory";
	case EACCES:
		return "Permission denied";
	case ENOEXEC:
		return "Exec format error";
	case ENOTDIR:
		return "Not a directory";
	case ELOOP:
		return "Too many levels of symbolic links";
	case ENAMETOOLONG:
		return "File name too long";
	case ENOMEM:
		return "Cannot allocate memory";
	case E2BIG:
		return "Argument list too long";
	case ETXTBSY:
		return "Text file busy";
	case EPERM:
		return "Operation not permitted";
	case EISDIR:
		return "Is a directory";
	case EIO:
		return "Input/output error";
	case EMFILE:
	case ENFILE:
		return "Too many open files";
	default:
		return "exec failed";
	}
}

static void child_write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

static void __attribute__((noreturn)) child_fail(const struct spawn_plan *p, const char *what,
						  int err)
{
	char line[sizeof(p->exec_msg) + 128];
	size_t len = 0;
	const char *reason = spawn_errno_text(err);

	if (what) {
		static const char prefix[] = "plugvm: error: plugin setup failed: ";

		memcpy(line, prefix, sizeof(prefix) - 1);
		len = sizeof(prefix) - 1;
		for (const char *s = what; *s && len < 100; s++)
			line[len++] = *s;
		line[len++] = ':';
		line[len++] = ' ';
	} else {
		memcpy(line, p->exec_msg, p->exec_msg_len);
		len = p->exec_msg_len;
	}
	for (const char *s = reason; *s && len < sizeof(line) - 1; s++)
		line[len++] = *s;
	line[len++] = '\n';
	/* One write, so the relay sees the message as one line. */
	child_write_all(STDERR_FILENO, line, len);
	_exit(127);
}

/* Closes every descriptor except 0..2 and keep, without allocating. */
static int child_close_others(int keep)
{
	char buf[1024];
	int dir;

#ifdef SPAWN_TEST_NO_CLOSE_RANGE
	/* Lets the tests exercise the path old kernels take. */
	goto fallback;
#endif
	if (keep > 3 && syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) < 0)
		goto fallback;
	if (keep >= 3 && syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) < 0)
		goto fallback;
	if (keep < 3 && syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
		goto fallback;
	return 0;

fallback:
	/* Kernels before 5.9: walk /proc/self/fd with raw getdents64 (opendir would malloc). */
	dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		goto brute;
	for (;;) {
		long n = syscall(SYS_getdents64, dir, buf, sizeof(buf));

		if (n < 0) {
			close(dir);
			goto brute;
		}
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(void *)(buf + off);
			int fd = jail_fd_of_name(d->d_name);

			if (fd > STDERR_FILENO && fd != keep && fd != dir)
				close(fd);
			off += d->d_reclen;
		}
	}
	close(dir);
	return 0;

brute: {
	struct rlimit rl;
	long max = 65536;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)max)
		max = (long)rl.rlim_cur;
	for (long fd = 3; fd < max; fd++) {
		if (fd != keep)
			close((int)fd);
	}
	return 0;
}
}

static void __attribute__((noreturn)) child_main(const struct spawn_plan *p)
{
	sigset_t none;
	int fd;

	/* Handlers and ignored dispositions survive execve(); the plugin must start clean. */
	spawn_reset_signal_dispositions();
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
		child_fail(p, "sigprocmask", errno);

	/* The socket first, so that installing stderr on fd 2 cannot overwrite it. */
	if (p->sock_fd != p->child_sock) {
		if (dup2(p->sock_fd, p->child_sock) < 0)
			child_fail(p, "dup2 socket", errno);
		/* The socket sat on stdin or stdout: leave /dev/null there, not a socket. */
		if (p->sock_fd < STDERR_FILENO) {
			fd = open("/dev/null", O_RDWR);
			if (fd >= 0 && fd != p->sock_fd) {
				dup2(fd, p->sock_fd);
				close(fd);
			}
		}
	} else if (fcntl(p->child_sock, F_SETFD, 0) < 0) {
		child_fail(p, "socket flags", errno);
	}
	if (p->stderr_fd != STDERR_FILENO) {
		if (dup2(p->stderr_fd, STDERR_FILENO) < 0)
			child_fail(p, "dup2 stderr", errno);
	} else if (fcntl(STDERR_FILENO, F_SETFD, 0) < 0) {
		child_fail(p, "stderr flags", errno);
	}
	child_close_others(p->child_sock);
	/* The limit the host was started with, not the one it raised for itself. */
	if (plugin_nofile.saved && setrlimit(RLIMIT_NOFILE, &plugin_nofile.rl) < 0)
		child_fail(p, "setrlimit", errno);

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		child_fail(p, "PR_SET_PDEATHSIG", errno);
	/* The host may have died before the prctl took effect; then nobody would kill us. */
	if (getppid() != p->parent)
		_exit(127);

	execve(p->argv[0], p->argv, p->envp);
	child_fail(p, NULL, errno);
}

int spawn_plugin(const struct host_config *cfg, int sock_fd, int stderr_fd, pid_t *ret_pid,
		 int *ret_pidfd, int *ret_notify_fd)
{
	struct spawn_plan plan;
	sigset_t all, old;
	pid_t pid;
	int r, pidfd;

	if (ret_notify_fd)
		*ret_notify_fd = -1;
	if (!cfg || !cfg->plugin_path || !ret_pid)
		return -EINVAL;
	if (sock_fd < 0 || stderr_fd < 0 || sock_fd == stderr_fd)
		return -EBADF;
	if (fcntl(sock_fd, F_GETFD) < 0 || fcntl(stderr_fd, F_GETFD) < 0)
		return -EBADF;

	if (!cfg->disable_sandbox)
		return jail_spawn(cfg, sock_fd, stderr_fd, ret_pid, ret_pidfd, ret_notify_fd);

	r = spawn_plan_build(&plan, cfg, sock_fd, stderr_fd);
	if (r < 0) {
		log_err("cannot start plugin %s: %s", cfg->plugin_path, strerror(-r));
		return r;
	}

	/* No host handler may run in the child before it resets the dispositions. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_main(&plan);
	r = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	spawn_plan_free(&plan);
	if (r < 0) {
		log_err("cannot start plugin %s: fork: %s", cfg->plugin_path, strerror(-r));
		return r;
	}

	/* Linux < 5.3 has no pidfds; the caller then falls back to the pid and SIGCHLD. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		pidfd = -1;
	log_debug("plugin %s started as pid %d", cfg->plugin_path, (int)pid);
	*ret_pid = pid;
	if (ret_pidfd)
		*ret_pidfd = pidfd;
	else if (pidfd >= 0)
		close(pidfd);
	return 0;
}
