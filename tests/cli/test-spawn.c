// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * spawn_plugin() with real children.  The plugin is spawn-helper (argv[1]),
 * which inspects its own descriptors, environment, signal state and
 * parent-death signal and reports over the CROSVM_SOCKET socket.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "spawn.h"

#define WAIT_MS 10000

static const char *helper_path;

/* Waits for pid with a deadline; a plugin that hangs is killed and fails the test. */
static int wait_child(pid_t pid)
{
	int st;

	for (int i = 0; i < WAIT_MS / 10; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		assert_int_equal(r, 0);
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	fail_msg("child %d did not exit", (int)pid);
	return -1;
}

/* Reads everything from a pipe until EOF (all writers gone) or the deadline. */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len < cap - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, WAIT_MS) <= 0)
			break;
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

struct chan {
	int host_sock, child_sock;
	int err_r, err_w;
};

static void chan_open(struct chan *c)
{
	int sv[2], p[2];

	/* As run.c does it: the host end close-on-exec, the child end inheritable. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	assert_int_equal(fcntl(sv[0], F_SETFD, FD_CLOEXEC), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	c->host_sock = sv[0];
	c->child_sock = sv[1];
	c->err_r = p[0];
	c->err_w = p[1];
}

static void chan_close(struct chan *c)
{
	close(c->host_sock);
	if (c->child_sock >= 0)
		close(c->child_sock);
	close(c->err_r);
	if (c->err_w >= 0)
		close(c->err_w);
}

static void noop_handler(int sig)
{
	(void)sig;
}

static void run_helper(int sock_fd, struct chan *c, const char *expect_sock,
		       const char *stdin_kind)
{
	char *params[] = { (char *)"check", (char *)expect_sock, (char *)stdin_kind,
			   (char *)"arg one", (char *)"", (char *)"--x" };
	struct host_config cfg = {
		.plugin_path = (char *)helper_path,
		.params = params,
		.n_params = 6,
		.disable_sandbox = true,
	};
	char msg[4096], err[8192];
	struct pollfd p;
	pid_t pid = -1;
	int pidfd = -2, st;
	ssize_t n;

	assert_int_equal(spawn_plugin(&cfg, sock_fd, c->err_w, &pid, &pidfd, NULL), 0);
	assert_true(pid > 0);
	/* Linux 5.3+ (this machine): a pidfd, close-on-exec like every host descriptor. */
	assert_true(pidfd >= 0);
	assert_true(fcntl(pidfd, F_GETFD) & FD_CLOEXEC);
	/* The host drops its copies so that EOF means "the plugin is gone". */
	if (sock_fd != c->child_sock)
		close(sock_fd);
	close(c->child_sock);
	c->child_sock = -1;
	close(c->err_w);
	c->err_w = -1;

	p = (struct pollfd){ .fd = c->host_sock, .events = POLLIN };
	assert_int_equal(poll(&p, 1, WAIT_MS), 1);
	n = recv(c->host_sock, msg, sizeof(msg) - 1, 0);
	assert_true(n > 0);
	msg[n] = '\0';

	st = wait_child(pid);
	read_all(c->err_r, err, sizeof(err));
	if (strcmp(msg, "OK|arg one||--x") != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("helper said '%s', status 0x%x, stderr:\n%s", msg, st, err);
	/* The helper's stderr went through the capture pipe. */
	assert_non_null(strstr(err, "spawn-helper: done\n"));

	/* The pidfd reports the exit. */
	p = (struct pollfd){ .fd = pidfd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 1);
	close(pidfd);
}

static void clean_child(void **state)
{
	struct sigaction sa = { .sa_handler = noop_handler };
	struct chan c;
	sigset_t block, old;
	int leak_plain, leak_pipe[2];
	char want[16];

	(void)state;
	chan_open(&c);
	/* Stray inheritable descriptors that must not reach the plugin. */
	leak_plain = open("/dev/null", O_RDONLY);
	assert_true(leak_plain >= 0);
	assert_int_equal(pipe(leak_pipe), 0);
	/* Host signal state that must not reach it either. */
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &block, &old);
	/* A stale value in our own environment must be replaced, not duplicated. */
	setenv("CROSVM_SOCKET", "99", 1);

	snprintf(want, sizeof(want), "%d", c.child_sock);
	run_helper(c.child_sock, &c, want, "any");

	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
	unsetenv("CROSVM_SOCKET");
	close(leak_plain);
	close(leak_pipe[0]);
	close(leak_pipe[1]);
	chan_close(&c);
}

static void socket_on_stdin(void **state)
{
	struct chan c;
	char want[16];
	int saved_stdin;

	(void)state;
	chan_open(&c);
	/* A host started with stdin closed gets its socket at 0; the plugin must not. */
	saved_stdin = dup(STDIN_FILENO);
	assert_true(saved_stdin >= 0);
	assert_int_equal(dup2(c.child_sock, STDIN_FILENO), STDIN_FILENO);
	snprintf(want, sizeof(want), "%d", c.err_w == 3 ? 4 : 3);
	run_helper(STDIN_FILENO, &c, want, "null");
	assert_int_equal(dup2(saved_stdin, STDIN_FILENO), STDIN_FILENO);
	close(saved_stdin);
	chan_close(&c);
}

static void exec_failure(void **state)
{
	static const struct {
		const char *path;
		const char *reason;
	} cases[] = {
		{ "/nonexistent/plugvm-plugin", "No such file or directory" },
		{ "/dev/null", "Permission denied" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct host_config cfg = { .plugin_path = (char *)cases[i].path,
					   .disable_sandbox = true };
		char err[4096], want[256];
		struct chan c;
		pid_t pid;
		int pidfd, st;

		chan_open(&c);
		assert_int_equal(spawn_plugin(&cfg, c.child_sock, c.err_w, &pid, &pidfd, NULL), 0);
		close(c.err_w);
		c.err_w = -1;
		st = wait_child(pid);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 127);
		read_all(c.err_r, err, sizeof(err));
		snprintf(want, sizeof(want), "cannot execute plugin %s: %s\n", cases[i].path,
			 cases[i].reason);
		assert_non_null(strstr(err, want));
		assert_int_equal(count_lines(err), 1);
		if (pidfd >= 0)
			close(pidfd);
		chan_close(&c);
	}
}

static void bad_arguments(void **state)
{
	struct host_config cfg = { .plugin_path = (char *)"/bin/true", .disable_sandbox = true };
	struct chan c;
	pid_t pid = 12345;
	int pidfd = 12345, closed;

	(void)state;
	chan_open(&c);
	closed = dup(c.err_w);
	close(closed);
	assert_int_equal(spawn_plugin(&cfg, -1, c.err_w, &pid, &pidfd, NULL), -EBADF);
	assert_int_equal(spawn_plugin(&cfg, c.child_sock, -1, &pid, &pidfd, NULL), -EBADF);
	assert_int_equal(spawn_plugin(&cfg, closed, c.err_w, &pid, &pidfd, NULL), -EBADF);
	assert_int_equal(spawn_plugin(&cfg, c.child_sock, closed, &pid, &pidfd, NULL), -EBADF);
	assert_int_equal(spawn_plugin(&cfg, c.child_sock, c.child_sock, &pid, &pidfd, NULL), -EBADF);
	cfg.plugin_path = NULL;
	assert_int_equal(spawn_plugin(&cfg, c.child_sock, c.err_w, &pid, &pidfd, NULL), -EINVAL);
	/* Nothing was started, and the out-parameters were left alone. */
	assert_int_equal(pid, 12345);
	assert_int_equal(pidfd, 12345);
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	chan_close(&c);
}

static void parent_death_kills_plugin(void **state)
{
	int report[2], st;
	pid_t mid, plugin = 0;

	(void)state;
	/* Orphans come back to us, so we can see how the plugin ended. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe2(report, O_CLOEXEC), 0);
	mid = fork();
	assert_true(mid >= 0);
	if (mid == 0) {
		char *params[] = { (char *)"30" };
		struct host_config cfg = { .plugin_path = (char *)"/bin/sleep",
					   .params = params,
					   .n_params = 1,
					   .disable_sandbox = true };
		struct chan c;
		pid_t pid;
		int pidfd;

		chan_open(&c);
		if (spawn_plugin(&cfg, c.child_sock, c.err_w, &pid, &pidfd, NULL) < 0)
			_exit(1);
		if (write(report[1], &pid, sizeof(pid)) != sizeof(pid))
			_exit(1);
		/* Let the plugin get past its getppid() check and into sleep. */
		usleep(200000);
		_exit(0);
	}
	close(report[1]);
	assert_int_equal(read(report[0], &plugin, sizeof(plugin)), sizeof(plugin));
	close(report[0]);
	st = wait_child(mid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = wait_child(plugin);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

static void jailed_by_default(void **state)
{
	struct host_config cfg = { .plugin_path = (char *)"/bin/true" };
	int logp[2], saved_err;
	char text[4096];

	(void)state;
	assert_int_equal(pipe2(logp, O_CLOEXEC), 0);
	saved_err = dup(STDERR_FILENO);
	assert_true(saved_err >= 0);
	dup2(logp[1], STDERR_FILENO);
	for (int i = 0; i < 2; i++) {
		struct chan c;
		pid_t pid;
		int pidfd, st;

		chan_open(&c);
		assert_int_equal(spawn_plugin(&cfg, c.child_sock, c.err_w, &pid, &pidfd, NULL), 0);
		st = wait_child(pid);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		if (pidfd >= 0)
			close(pidfd);
		chan_close(&c);
	}
	dup2(saved_err, STDERR_FILENO);
	close(saved_err);
	close(logp[1]);
	read_all(logp[0], text, sizeof(text));
	close(logp[0]);
	/* The jail (host/jail/jail.c) runs it now: no "unjailed" warning any more. */
	assert_null(strstr(text, "unjailed"));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_arguments),
		cmocka_unit_test(clean_child),
		cmocka_unit_test(socket_on_stdin),
		cmocka_unit_test(exec_failure),
		cmocka_unit_test(parent_death_kills_plugin),
		cmocka_unit_test(jailed_by_default),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-SPAWN-HELPER\n", argv[0]);
		return 2;
	}
	helper_path = argv[1];
	log_set_level(LOG_LEVEL_INFO);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
