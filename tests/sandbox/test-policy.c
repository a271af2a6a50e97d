// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The minijail-syntax policy compiler: parsing, errors, and what the
 * compiled filters really do, checked by installing them in a child.
 */

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "seccomp-audit.h"
#include "seccomp-policy.h"

/* What the child needs to report and exit, added to every tested policy. */
#define BASE "write: 1\nexit_group: 1\nexit: 1\n"

static int compile(const char *text, struct seccomp_policy *p)
{
	int logp[2], saved, r;

	/* Keep the expected error lines out of the test output. */
	assert_int_equal(pipe2(logp, O_CLOEXEC | O_NONBLOCK), 0);
	saved = dup(STDERR_FILENO);
	dup2(logp[1], STDERR_FILENO);
	r = seccomp_policy_compile_text(text, "/tmp/test.policy", false, p);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(logp[0]);
	close(logp[1]);
	return r;
}

/* Installs the policy in a child, runs fn there and returns the child's wait status. */
static int run_filtered(const char *text, int (*fn)(void))
{
	struct seccomp_policy p;
	pid_t pid;
	int status;

#ifdef __SANITIZE_ADDRESS__
	/* The sanitizer runtime makes system calls of its own that these tight policies kill. */
	skip();
#endif
	assert_int_equal(compile(text, &p), 0);
	pid = fork();
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_policy_install(&p) < 0)
			_exit(100);
		_exit(fn());
	}
	seccomp_policy_free(&p);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static void assert_exit0(int status)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("child status 0x%x (exit %d)", status,
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static void assert_sigsys(int status)
{
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
		fail_msg("want SIGSYS, child status 0x%x", status);
}

static int err_of(long r)
{
	return r < 0 ? errno : 0;
}

/* Each failed expectation exits with its own code, so the test names it. */
#define EXPECT(n, cond)             \
	do {                        \
		if (!(cond))        \
			return (n); \
	} while (0)

static int child_semantics(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	/* lseek: arg2 & 2 (SEEK_END, SEEK_DATA) allowed, else E2BIG */
	EXPECT(10, err_of(lseek(fd, 0, SEEK_END)) == 0);
	EXPECT(11, err_of(lseek(fd, 0, SEEK_SET)) == E2BIG);
	EXPECT(12, err_of(lseek(fd, 0, SEEK_CUR)) == E2BIG);
	/* fcntl: arg1 in 3 (0..3) allowed, else ENOTTY */
	EXPECT(20, err_of(fcntl(fd, F_GETFD)) == 0);
	EXPECT(21, err_of(fcntl(fd, F_GETFL)) == 0);
	EXPECT(22, err_of(fcntl(fd, F_SETFL, 0)) == ENOTTY);
	/* getpriority: (arg0 == 0 && arg1 == 0) || arg0 == 1, else EDOM */
	EXPECT(30, err_of(getpriority(PRIO_PROCESS, 0)) == 0);
	EXPECT(31, err_of(getpriority(PRIO_PROCESS, (id_t)getpid())) == EDOM);
	EXPECT(32, err_of(getpriority(PRIO_PGRP, 0)) != EDOM);
	EXPECT(33, err_of(getpriority(PRIO_USER, 0)) == EDOM);
	/* umask: arg0 < 077 || arg0 > 0700, else ERANGE (umask itself never fails) */
	EXPECT(40, err_of(syscall(SYS_umask, 022)) == 0);
	EXPECT(41, err_of(syscall(SYS_umask, 0777)) == 0);
	EXPECT(42, err_of(syscall(SYS_umask, 0200)) == ERANGE);
	/* unconditional errno */
	EXPECT(50, err_of(syscall(SYS_getppid)) == EPERM);
	/* allowed outright, and untouched by the "; return" helper filters */
	EXPECT(60, err_of(syscall(SYS_getpid)) == 0);
	/* socket: arg0 == AF_UNIX; return EAFNOSUPPORT */
	EXPECT(70, err_of(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == 0);
	EXPECT(71, err_of(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == EAFNOSUPPORT);
	return 0;
}

static void semantics(void **state)
{
	static const char text[] = BASE
		"openat: 1\nclose: 1\n"
		"lseek: arg2 & 2; return E2BIG\n"
		"fcntl: arg1 in 3; return ENOTTY\n"
		"getpriority: arg0 == 0 && arg1 == 0 || arg0 == PRIO_PGRP_IS_1; return EDOM\n"
		"umask: arg0 < 077 || arg0 > 0700; return ERANGE\n"
		"getppid: return EPERM\n"
		"getpid: 1\n"
		"socket: arg0 == AF_UNIX; return EAFNOSUPPORT\n";
	char *t, *at;
	int status;

	(void)state;
#ifdef __SANITIZE_ADDRESS__
	skip();
#endif
	t = strdup(text);
	assert_non_null(t);
	/* PRIO_PGRP is 1; the constant table does not have it, so spell it as a number. */
	at = strstr(t, "PRIO_PGRP_IS_1");
	memcpy(at, "1             ", 14);
	status = run_filtered(t, child_semantics);
	free(t);
	assert_exit0(status);
}

static int child_forbidden(void)
{
	syscall(SYS_getppid);
	return 0;
}

static int child_forbidden_arg(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	EXPECT(2, fcntl(fd, F_GETFD) >= 0);
	fcntl(fd, F_SETFD, FD_CLOEXEC); /* arg1 == 2: not allowed */
	return 1;
}

static void default_action_kills(void **state)
{
	(void)state;
	assert_sigsys(run_filtered(BASE, child_forbidden));
	assert_sigsys(run_filtered(BASE "openat: 1\nfcntl: arg1 == F_GETFD || arg1 == F_GETFL\n",
				   child_forbidden_arg));
}

static int child_wx(void)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	EXPECT(2, m != MAP_FAILED);
	EXPECT(3, mprotect(m, 4096, PROT_READ | PROT_EXEC) == 0);
	mprotect(m, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
	return 1;
}

static void syntax_features(void **state)
{
	/* Comments, continuation lines, numbers by name and value, ~, |, parentheses. */
	static const char text[] = BASE
		"# a comment line\n"
		"   \n"
		"mmap: arg2 in ~PROT_EXEC || \\\n"
		"      arg2 in ~PROT_WRITE # trailing comment\n"
		"mprotect: arg2 in (~PROT_EXEC) || arg2 in 0xfffffffffffffffb\n"
		"10: 1\n" /* mprotect by number would be a duplicate: 10 is mprotect */;
	struct seccomp_policy p;

	(void)state;
	assert_true(compile(text, &p) < 0); /* "10" duplicates mprotect */
	assert_int_equal(compile(BASE "mmap: arg2 in ~PROT_EXEC || \\\n arg2 in ~PROT_WRITE\n"
				 "mprotect: arg2 in (~PROT_EXEC) || arg2 in 0xfffffffffffffffb\n",
				 &p), 0);
	seccomp_policy_free(&p);
	assert_sigsys(run_filtered(BASE "mmap: arg2 in ~PROT_EXEC || \\\n arg2 in ~PROT_WRITE\n"
				   "mprotect: arg2 in (~PROT_EXEC) || arg2 in ~(4)\n",
				   child_wx));
	assert_int_equal(compile(BASE "ioctl: arg1 == TCGETS|0 || arg1 == 0x5401 || arg0 == -1\n"
				 "prctl: arg0 == PR_SET_NAME\nkill: arg1 == SIGKILL | SIGTERM\n"
				 "getpid: allow\ngettid: log\nsched_yield: trap\nalarm: kill-thread\n"
				 "pause: kill-process\nnanosleep: kill\n102: 1\n"
				 "@frequency ./ignored.frequency\n", &p), 0);
	seccomp_policy_free(&p);
}

static void errors(void **state)
{
	static const char *const bad[] = {
		"read: arg6 == 1\n",
		"read: arg0 === 1\n",
		"read: arg0 == \n",
		"read: arg0 == (1\n",
		"read: arg0 == 1;\n",
		"read: arg0 == 1; return\n",
		"read: arg0 == 1; kill\n",
		"read: return 5000\n",
		"read: user-notify\n",
		"read:\n",
		": 1\n",
		"read: 1 2\n",
		"@bogus x\n",
		"@include\n",
		"2000: 1\n",
		"read: arg0 & 1 && arg0 < 4\n",
	};
	struct seccomp_policy p;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (compile(bad[i], &p) == 0) {
			seccomp_policy_free(&p);
			fail_msg("accepted: %s", bad[i]);
		}
	}
}

static void include_relative(void **state)
{
	char dir[] = "/tmp/plugvm-inc-XXXXXX";
	char main_path[64], sub_path[64];
	struct seccomp_policy p;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(main_path, sizeof(main_path), "%s/plugin.policy", dir);
	snprintf(sub_path, sizeof(sub_path), "%s/sub.policy", dir);
	f = fopen(sub_path, "w");
	fputs("getpid: 1\n@include sub.policy\n", f); /* includes itself: depth limit */
	fclose(f);
	f = fopen(main_path, "w");
	fputs(BASE "@include sub.policy\n", f);
	fclose(f);
	assert_true(seccomp_policy_compile(dir, false, &p) < 0);

	f = fopen(sub_path, "w");
	fputs("getpid: 1\n", f);
	fclose(f);
	assert_int_equal(seccomp_policy_compile(dir, false, &p), 0);
	seccomp_policy_free(&p);

	/* A precompiled plugin.bpf wins unless failures are logged. */
	assert_int_equal(seccomp_policy_compile(NULL, false, &p), 0);
	snprintf(sub_path, sizeof(sub_path), "%s/plugin.bpf", dir);
	f = fopen(sub_path, "w");
	fwrite(p.progs[0].filter, sizeof(struct sock_filter), p.progs[0].len, f);
	fclose(f);
	{
		struct seccomp_policy b;

		assert_int_equal(seccomp_policy_compile(dir, false, &b), 0);
		assert_int_equal(b.n_progs, 1);
		assert_int_equal(b.progs[0].len, p.progs[0].len);
		assert_memory_equal(b.progs[0].filter, p.progs[0].filter,
				    p.progs[0].len * sizeof(struct sock_filter));
		seccomp_policy_free(&b);
	}
	seccomp_policy_free(&p);
	f = fopen(sub_path, "w");
	fputs("odd", f);
	fclose(f);
	assert_true(seccomp_policy_compile(dir, false, &p) < 0);
	assert_int_equal(seccomp_policy_compile(dir, true, &p), 0); /* log mode: plugin.policy */
	seccomp_policy_free(&p);

	unlink(sub_path);
	snprintf(sub_path, sizeof(sub_path), "%s/sub.policy", dir);
	unlink(sub_path);
	unlink(main_path);
	rmdir(dir);
}

static void default_policy_compiles(void **state)
{
	struct seccomp_policy p;

	(void)state;
	assert_int_equal(seccomp_policy_compile(NULL, false, &p), 0);
	/* clone3 is "return ENOSYS", unconditional: no helper filter needed. */
	assert_int_equal(p.n_progs, 1);
	assert_true(p.progs[0].len > 10 && p.progs[0].len < 4096);
	seccomp_policy_free(&p);
	assert_int_equal(seccomp_policy_compile(NULL, true, &p), 0);
	seccomp_policy_free(&p);
}

/* Kernel log records as /dev/kmsg gives them: which name a seccomp-stopped call. */
static void audit_records(void **state)
{
	static const char kill_rec[] =
		"5,916,11516050824,-;audit: type=1326 audit(1795587642.215:916): auid=4294967295 "
		"uid=0 gid=0 ses=4294967295 pid=4286 comm=\"probe\" exe=\"/x/probe\" sig=31 "
		"arch=c000003e syscall=135 compat=0 ip=0x7fa5028cb829 code=0x80000000\n";
	static const char log_rec[] =
		"5,917,1,-;audit: type=1326 audit(1.2:917): pid=77 comm=\"p\" sig=0 arch=c000003e "
		"syscall=101 compat=0 ip=0x1 code=0x7ffc0000\n";
	pid_t pid = 0;
	int nr = -1;
	char name[64];

	(void)state;
	assert_int_equal(seccomp_audit_parse(kill_rec, &pid, &nr), 1);
	assert_int_equal(pid, 4286);
	assert_int_equal(nr, 135);
	assert_int_equal(seccomp_audit_parse(log_rec, &pid, &nr), 1);
	assert_int_equal(pid, 77);
	assert_int_equal(nr, 101);
	/* Not seccomp, another architecture (i386), no message part, malformed numbers. */
	assert_int_equal(seccomp_audit_parse("5,1,1,-;audit: type=1400 pid=1 arch=c000003e "
					     "syscall=1\n", &pid, &nr), 0);
	assert_int_equal(seccomp_audit_parse("5,1,1,-;audit: type=1326 pid=1 arch=40000003 "
					     "syscall=1\n", &pid, &nr), 0);
	assert_int_equal(seccomp_audit_parse("audit: type=1326 pid=1 arch=c000003e syscall=1",
					     &pid, &nr), 0);
	assert_int_equal(seccomp_audit_parse("5,1,1,-;audit: type=1326 pid=x1 arch=c000003e "
					     "syscall=1\n", &pid, &nr), 0);
	assert_int_equal(seccomp_audit_parse("5,1,1,-;audit: type=1326 pid=1 arch=c000003e "
					     "syscall=99999\n", &pid, &nr), 0);
	seccomp_audit_name(135, name, sizeof(name));
	assert_string_equal(name, "personality (135)");
	seccomp_audit_name(4000, name, sizeof(name));
	assert_string_equal(name, "4000");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(semantics),
		cmocka_unit_test(default_action_kills),
		cmocka_unit_test(syntax_features),
		cmocka_unit_test(errors),
		cmocka_unit_test(include_relative),
		cmocka_unit_test(default_policy_compiles),
		cmocka_unit_test(audit_records),
	};

	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
