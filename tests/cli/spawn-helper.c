// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * Stand-in plugin for test-spawn: checks the process it was started in and
 * exits 0 only if everything matches what spawn_plugin() promises.  Each
 * failed check prints one line to stderr (the capture pipe).
 *
 * argv: PATH check NSOCK_EXPECTED STDIN_KIND [ARGS...]
 *   NSOCK_EXPECTED: the CROSVM_SOCKET number it must get ("any" for no check)
 *   STDIN_KIND: "null" if fd 0 must be /dev/null, "any" otherwise
 *   ARGS: the remaining argv, echoed over the socket so the test can compare
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int failures;

static void __attribute__((format(printf, 1, 2))) bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "spawn-helper: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	failures++;
}

static int parse_fd(const char *s)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > INT_MAX)
		return -1;
	return (int)v;
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], real0[PATH_MAX];
	const char *env, *sep = "";
	char msg[4096];
	size_t len = 0;
	int sock, type = 0, n_env = 0, pdeath = 0;
	socklen_t tlen = sizeof(type);
	struct stat st;
	sigset_t mask;
	DIR *d;

	if (argc < 4 || strcmp(argv[1], "check") != 0) {
		bad("usage: PATH check NSOCK STDIN_KIND [ARGS...]");
		return 2;
	}

	/* argv[0] is the path we were started from. */
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		bad("readlink /proc/self/exe: %m");
	else
		self[n] = '\0';
	if (!realpath(argv[0], real0))
		bad("argv[0] '%s' does not resolve: %m", argv[0]);
	else if (n >= 0 && strcmp(self, real0) != 0)
		bad("argv[0] '%s' is not this program '%s'", argv[0], self);

	/* Exactly one CROSVM_SOCKET, naming an AF_UNIX SOCK_SEQPACKET socket. */
	for (char **e = environ; *e; e++)
		n_env += strncmp(*e, "CROSVM_SOCKET=", 14) == 0;
	if (n_env != 1)
		bad("%d CROSVM_SOCKET entries in the environment", n_env);
	env = getenv("CROSVM_SOCKET");
	sock = parse_fd(env);
	if (sock < 0) {
		bad("CROSVM_SOCKET='%s' is not a descriptor number", env ? env : "(unset)");
		return 1;
	}
	if (strcmp(argv[2], "any") != 0 && sock != parse_fd(argv[2]))
		bad("CROSVM_SOCKET=%d, expected %s", sock, argv[2]);
	if (sock <= 2)
		bad("the socket is on stdio descriptor %d", sock);
	if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		bad("CROSVM_SOCKET %d: %m", sock);
	else if (type != SOCK_SEQPACKET)
		bad("CROSVM_SOCKET %d has type %d", sock, type);

	/* stderr is the capture pipe. */
	if (fstat(STDERR_FILENO, &st) < 0 || !S_ISFIFO(st.st_mode))
		bad("stderr is not a pipe");
	if (strcmp(argv[3], "null") == 0) {
		if (fstat(STDIN_FILENO, &st) < 0 || !S_ISCHR(st.st_mode) ||
		    st.st_rdev != makedev(1, 3))
			bad("stdin is not /dev/null");
	}

	/* Only 0, 1, 2 and the socket are open. */
	d = opendir("/proc/self/fd");
	if (!d) {
		bad("opendir /proc/self/fd: %m");
	} else {
		struct dirent *e;

		while ((e = readdir(d))) {
			int fd = parse_fd(e->d_name);

			if (fd < 0 || fd <= 2 || fd == sock || fd == dirfd(d))
				continue;
			bad("descriptor %d leaked into the plugin", fd);
		}
		closedir(d);
	}

	/* Empty signal mask and default dispositions. */
	if (sigprocmask(SIG_BLOCK, NULL, &mask) < 0) {
		bad("sigprocmask: %m");
	} else {
		for (int sig = 1; sig < NSIG; sig++) {
			struct sigaction sa;

			if (sigismember(&mask, sig) == 1)
				bad("signal %d is blocked", sig);
			/*
			 * execve() resets handlers but keeps SIG_IGN, so "ignored" is what a
			 * careless spawner leaks (a sanitizer runtime may install handlers
			 * of its own in this helper, hence not a SIG_DFL check).
			 */
			if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
				bad("signal %d is ignored", sig);
		}
	}

	if (prctl(PR_GET_PDEATHSIG, &pdeath) < 0 || pdeath != SIGKILL)
		bad("parent-death signal is %d, not SIGKILL", pdeath);

	/* Echo the extra arguments so the test can compare them; send the verdict with them. */
	len = (size_t)snprintf(msg, sizeof(msg), "%s", failures ? "FAIL" : "OK");
	for (int i = 4; i < argc && len < sizeof(msg); i++) {
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%s", i == 4 ? "|" : sep,
					argv[i]);
		sep = "|";
	}
	if (len >= sizeof(msg))
		len = sizeof(msg) - 1;
	if (send(sock, msg, len, MSG_NOSIGNAL) < 0)
		bad("send on the socket: %m");
	fprintf(stderr, "spawn-helper: done\n");
	return failures ? 1 : 0;
}
