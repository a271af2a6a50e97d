// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * jail_spawn() driven directly: the probe program (probe.c) runs as the
 * plugin, tries one escape and reports.  Usage: test-jail PROBE PERMISSIVE-DIR
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jail.h"
#include "log.h"

static const char *probe_path;
static const char *permissive_dir;
static volatile sig_atomic_t got_usr1;

struct run {
	int status;
	int spawn_ret;
	char err[8192]; /* what the plugin wrote on stderr */
	char log[8192]; /* what the host side logged */
};

static void read_all_timeout(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t len = 0;
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	buf[0] = '\0';
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
				     (now.tv_nsec - start.tv_nsec) / 1000000);
		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return;
		n = read(fd, buf + len, size - 1 - len);
		if (n <= 0)
			return;
		len += (size_t)n;
		buf[len] = '\0';
		if (len == size - 1)
			return;
	}
}

/* Waits for pid at most timeout_ms, then SIGKILLs it: a hung probe fails, never hangs. */
static int wait_bounded(pid_t pid, int timeout_ms)
{
	int status = -1;

	for (int waited = 0; waited < timeout_ms; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	fail_msg("probe pid %d did not finish within %d ms", (int)pid, timeout_ms);
	return status;
}

/*
 * Runs the probe in the jail with cfg (plugin path and params filled in
 * here).  The host-side log (our stderr) is captured into r->log.
 */
static void run_probe_cfg(struct host_config *cfg, struct run *r, const char *mode, ...)
{
	char *params[16];
	size_t n = 0;
	int sock[2], errp[2], logp[2], saved;
	pid_t pid = -1;
	int pidfd = -1;
	va_list ap;

	memset(r, 0, sizeof(*r));
	params[n++] = (char *)mode;
	va_start(ap, mode);
	for (const char *a; (a = va_arg(ap, const char *)) && n < 15;)
		params[n++] = (char *)a;
	va_end(ap);
	cfg->plugin_path = (char *)probe_path;
	cfg->params = params;
	cfg->n_params = n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sock), 0);
	fcntl(sock[0], F_SETFD, FD_CLOEXEC);
	assert_int_equal(pipe2(errp, O_CLOEXEC), 0);
	assert_int_equal(pipe2(logp, O_CLOEXEC), 0);
	saved = dup(STDERR_FILENO);
	dup2(logp[1], STDERR_FILENO);
	r->spawn_ret = jail_spawn(cfg, sock[1], errp[1], &pid, &pidfd, NULL);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(logp[1]);
	close(sock[1]);
	close(errp[1]);
	read_all_timeout(logp[0], r->log, sizeof(r->log), 2000);
	close(logp[0]);
	if (r->spawn_ret == 0) {
		read_all_timeout(errp[0], r->err, sizeof(r->err), 30000);
		r->status = wait_bounded(pid, 30000);
		if (pidfd >= 0)
			close(pidfd);
	}
	close(errp[0]);
	close(sock[0]);
	if (r->err[0])
		print_message("plugin stderr: %s", r->err);
	if (r->log[0])
		print_message("host log: %s", r->log);
}

#define run_probe(cfg, r, ...) run_probe_cfg(cfg, r, __VA_ARGS__, (const char *)NULL)

static void assert_denied(const struct run *r)
{
	assert_int_equal(r->spawn_ret, 0);
	if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0)
		fail_msg("probe status 0x%x: %s", r->status, r->err);
}

static void assert_seccomp_killed(const struct run *r)
{
	assert_int_equal(r->spawn_ret, 0);
	if (!WIFSIGNALED(r->status) || WTERMSIG(r->status) != SIGSYS)
		fail_msg("want death by SIGSYS, status 0x%x: %s", r->status, r->err);
	assert_non_null(jail_explain_status(r->status));
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static struct host_config permissive(void)
{
	return (struct host_config){ .seccomp_policy_dir = (char *)permissive_dir };
}

/* ---- properties of the jail ---- */

static void identity(void **state)
{
	struct host_config cfg = { 0 };
	struct run r;
	int stray;

	(void)state;
	/* An inheritable descriptor of the host must not reach the plugin. */
	stray = open("/dev/null", O_RDONLY);
	assert_true(stray >= 0);
	run_probe(&cfg, &r, "identity", probe_path);
	close(stray);
	assert_denied(&r);
}

static void benign_plugin_runs_under_default_policy(void **state)
{
	struct host_config cfg = { 0 };
	struct run r;
	int outp[2], saved;
	char out[256];

	(void)state;
	/* stdout stays inherited: plugins (hello-serial) print their result there. */
	assert_int_equal(pipe2(outp, O_CLOEXEC), 0);
	saved = dup(STDOUT_FILENO);
	fflush(stdout);
	dup2(outp[1], STDOUT_FILENO);
	run_probe(&cfg, &r, "benign");
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(outp[1]);
	read_all_timeout(outp[0], out, sizeof(out), 2000);
	close(outp[0]);
	assert_denied(&r);
	assert_non_null(strstr(out, "probe: hello from the jail"));
}

static void exit_status_passes_through(void **state)
{
	struct host_config cfg = { 0 };
	struct run r;

	(void)state;
	run_probe(&cfg, &r, "exit", "42");
	assert_int_equal(r.spawn_ret, 0);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 42);
}

/* ---- escape probes ---- */

static void host_files_are_invisible(void **state)
{
	struct host_config cfg = { 0 };
	char tmp[] = "/tmp/plugvm-secret-XXXXXX";
	struct run r;
	int fd;

	(void)state;
	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "secret", 6), 6);
	close(fd);
	chmod(tmp, 0644);
	run_probe(&cfg, &r, "read-file", tmp, "/etc/hostname", "/etc/passwd", "/root",
		  "/proc/1/root/etc/passwd", "/sys/kernel");
	unlink(tmp);
	assert_denied(&r);
}

static void no_kvm_or_devices(void **state)
{
	struct host_config cfg = permissive();
	struct run r;

	(void)state;
	run_probe(&cfg, &r, "kvm");
	assert_denied(&r);
}

static void no_host_network(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	struct host_config cfg = permissive();
	struct run r;
	char port[16];
	int lfd, cfd;

	(void)state;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));

	run_probe(&cfg, &r, "tcp", port);
	assert_denied(&r);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd < 0 && errno == EAGAIN);

	/* Under the default policy socket() itself is outside the filter. */
	cfg = (struct host_config){ 0 };
	run_probe(&cfg, &r, "tcp", port);
	assert_seccomp_killed(&r);
	close(lfd);
}

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void cannot_signal_or_trace_host(void **state)
{
	struct host_config cfg = permissive();
	struct sigaction sa = { .sa_handler = on_usr1 }, old;
	char pid[16];
	struct run r;

	(void)state;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	sigaction(SIGUSR1, &sa, &old);
	got_usr1 = 0;
	run_probe(&cfg, &r, "signal-host", pid);
	assert_denied(&r);
	run_probe(&cfg, &r, "ptrace", pid);
	assert_denied(&r);
	usleep(50000);
	assert_int_equal(got_usr1, 0);

	/* Default policy: kill is allowed (and confined), ptrace is not. */
	cfg = (struct host_config){ 0 };
	run_probe(&cfg, &r, "signal-host", pid);
	assert_denied(&r);
	run_probe(&cfg, &r, "ptrace", pid);
	assert_seccomp_killed(&r);
	usleep(50000);
	assert_int_equal(got_usr1, 0);
	sigaction(SIGUSR1, &old, NULL);
}

static void cannot_mount(void **state)
{
	struct host_config cfg = permissive();
	struct run r;

	(void)state;
	run_probe(&cfg, &r, "mount");
	assert_denied(&r);
}

static void cannot_unshare_or_setns(void **state)
{
	struct host_config cfg = permissive();
	struct run r;

	(void)state;
	run_probe(&cfg, &r, "unshare");
	assert_denied(&r);
}

static void cannot_raise_rlimits(void **state)
{
	struct host_config cfg = permissive();
	struct run r;

	(void)state;
	run_probe(&cfg, &r, "rlimit");
	assert_denied(&r);
}

static void fork_bomb_is_bounded(void **state)
{
	struct host_config cfg = permissive();
	struct run r;

	(void)state;
	run_probe(&cfg, &r, "forkbomb");
	assert_denied(&r);
	/* Default policy: fork is not even possible. */
	cfg = (struct host_config){ 0 };
	run_probe(&cfg, &r, "forkbomb");
	assert_seccomp_killed(&r);
}

static void forbidden_syscall_is_killed(void **state)
{
	struct host_config cfg = { 0 };
	struct run r;

	(void)state;
	run_probe(&cfg, &r, "forbidden");
	assert_seccomp_killed(&r);
	run_probe(&cfg, &r, "wx");
	assert_seccomp_killed(&r);

	/* --seccomp-log-failures: logged by the kernel, allowed. */
	cfg.seccomp_log_failures = true;
	run_probe(&cfg, &r, "forbidden");
	assert_denied(&r);
}

static void user_mounts(void **state)
{
	char dir[] = "/tmp/plugvm-mount-XXXXXX";
	char file[sizeof(dir) + 32];
	struct plugin_mount m = { .dst = (char *)"/scratch" };
	struct host_config cfg = { .mounts = &m, .n_mounts = 1 };
	struct run r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	m.src = dir;
	snprintf(file, sizeof(file), "%s/probe-was-here", dir);

	m.writable = false;
	run_probe(&cfg, &r, "readonly", "/scratch");
	assert_denied(&r);
	assert_int_equal(access(file, F_OK), -1);

	m.writable = true;
	run_probe(&cfg, &r, "writable", "/scratch");
	assert_denied(&r);
	assert_int_equal(access(file, F_OK), 0);
	unlink(file);
	rmdir(dir);
}

static void gid_maps(void **state)
{
	struct gid_map g = { .inner = 1, .outer = 4242, .count = 2 };
	struct host_config cfg = { .gid_maps = &g, .n_gid_maps = 1 };
	struct run r;

	(void)state;
	if (geteuid() != 0)
		skip();
	run_probe(&cfg, &r, "gid-map", "1", "4242", "2");
	assert_denied(&r);
}

/* ---- errors: one clear line, no child left ---- */

static void assert_one_error(const struct run *r, const char *needle)
{
	assert_true(r->spawn_ret < 0);
	if (count_lines(r->log) != 1 || !strstr(r->log, needle))
		fail_msg("want one error line with '%s', got: %s", needle, r->log);
	assert_true(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

static void bad_mounts(void **state)
{
	struct plugin_mount m = { .src = (char *)"/nonexistent/plugvm" };
	struct host_config cfg = { .mounts = &m, .n_mounts = 1 };
	struct run r;

	(void)state;
	run_probe(&cfg, &r, "exit", "0");
	assert_one_error(&r, "--plugin-mount /nonexistent/plugvm");

	m.src = (char *)"relative/path";
	run_probe(&cfg, &r, "exit", "0");
	assert_one_error(&r, "absolute");

	/* The mount point would have to be created in a read-only bind of /usr/lib. */
	m.src = (char *)"/dev/null";
	m.dst = (char *)"/usr/lib/plugvm-no-such-dir/x";
	run_probe(&cfg, &r, "exit", "0");
	assert_one_error(&r, "jail setup failed: creating mount point /dev/null at "
			     "/usr/lib/plugvm-no-such-dir/x");

	m.dst = (char *)"/proc/self";
	run_probe(&cfg, &r, "exit", "0");
	assert_one_error(&r, "cannot mount over /proc/self");
}

static void bad_policy(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} cases[] = {
		{ "read: 1\nwrite: arg9 == 1\n", "plugin.policy:2: expected argN" },
		{ "read: 1\nnosuchcall: 1\n", "plugin.policy:2: unknown system call 'nosuchcall'" },
		{ "read: 1\nread: 1\n", "plugin.policy:2: duplicate entry" },
		{ "# c\n\nioctl: arg1 == NOSUCHCONST\n", "plugin.policy:3: unknown constant" },
		{ "read: return NOSUCHERRNO\n", "plugin.policy:1: unknown errno" },
		{ "read: arg0 == 1 && arg0 != 2\n", "compared twice" },
		{ "@include nosuch.policy\n", "cannot open @include" },
		{ "read: frobnicate\n", "unknown action 'frobnicate'" },
		{ "read 1\n", "plugin.policy:1: expected 'syscall: action'" },
	};
	char dir[] = "/tmp/plugvm-policy-XXXXXX";
	char path[sizeof(dir) + 32];
	struct host_config cfg = { .seccomp_policy_dir = dir };
	struct run r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/plugin.policy", dir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(cases[i].text, f);
		fclose(f);
		run_probe(&cfg, &r, "exit", "0");
		assert_one_error(&r, cases[i].msg);
	}
	unlink(path);
	run_probe(&cfg, &r, "exit", "0");
	assert_one_error(&r, "cannot read seccomp policy");
	rmdir(dir);
}

static void missing_plugin(void **state)
{
	struct host_config cfg = { 0 };
	const char *saved = probe_path;
	struct run r;

	(void)state;
	probe_path = "/nonexistent/plugin";
	run_probe(&cfg, &r, "exit", "0");
	probe_path = saved;
	assert_one_error(&r, "cannot execute plugin /nonexistent/plugin");
}

/* ---- lifetime ---- */

static void host_death_kills_plugin(void **state)
{
	int pfd[2];
	pid_t host, plugin = -1;
	int status;

	(void)state;
	/* Become the reaper of orphans, so the jailed plugin's fate is visible here. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	assert_int_equal(pipe(pfd), 0);
	host = fork();
	if (host == 0) {
		struct host_config cfg = { .plugin_path = (char *)probe_path };
		char *params[] = { (char *)"sleep" };
		int sock[2], errp[2];
		pid_t pid;

		cfg.params = params;
		cfg.n_params = 1;
		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sock) < 0 || pipe(errp) < 0 ||
		    jail_spawn(&cfg, sock[1], errp[1], &pid, NULL, NULL) < 0)
			_exit(1);
		if (write(pfd[1], &pid, sizeof(pid)) != sizeof(pid))
			_exit(1);
		_exit(0); /* the "host" dies with its plugin still running */
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &plugin, sizeof(plugin)), sizeof(plugin));
	close(pfd[0]);
	assert_int_equal(wait_bounded(host, 10000), 0);
	status = wait_bounded(plugin, 5000);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
}

/* The same jail from an unprivileged host: root inside maps to the invoking user. */
static void unprivileged_host(void **state)
{
	pid_t child;
	int status;

	(void)state;
	if (geteuid() != 0)
		skip(); /* already unprivileged: the other tests cover it */
	child = fork();
	if (child == 0) {
		struct host_config cfg = { 0 };
		struct run r;

		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(3);
		/* Changing uid made us non-dumpable, which a real user never is: /proc/PID of
		 * the jailed child would belong to root and its id maps be unwritable. */
		prctl(PR_SET_DUMPABLE, 1);
		/* A build tree in a private directory (a 0700 temporary clone, say) is out
		 * of nobody's reach: nothing to test then. */
		{
			/* By absolute path: the relative one starts at our cwd, inside the tree. */
			char *abs = realpath(probe_path, NULL);

			if (!abs || access(abs, X_OK) < 0)
				_exit(3);
			free(abs);
		}
		run_probe(&cfg, &r, "identity", probe_path);
		if (r.spawn_ret < 0 || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
			_exit(4);
		/* Here RLIMIT_NPROC, counted in the jail's user namespace, is the pid limit. */
		cfg = permissive();
		run_probe(&cfg, &r, "forkbomb");
		if (r.spawn_ret < 0 || !WIFEXITED(r.status) || WEXITSTATUS(r.status) != 0)
			_exit(5);
		_exit(0);
	}
	status = wait_bounded(child, 60000);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 3)
		skip();
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static int userns_usable(void)
{
	pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | SIGCHLD,
				   NULL, NULL, NULL, 0);
	int status;

	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identity),
		cmocka_unit_test(benign_plugin_runs_under_default_policy),
		cmocka_unit_test(exit_status_passes_through),
		cmocka_unit_test(host_files_are_invisible),
		cmocka_unit_test(no_kvm_or_devices),
		cmocka_unit_test(no_host_network),
		cmocka_unit_test(cannot_signal_or_trace_host),
		cmocka_unit_test(cannot_mount),
		cmocka_unit_test(cannot_unshare_or_setns),
		cmocka_unit_test(cannot_raise_rlimits),
		cmocka_unit_test(fork_bomb_is_bounded),
		cmocka_unit_test(forbidden_syscall_is_killed),
		cmocka_unit_test(user_mounts),
		cmocka_unit_test(gid_maps),
		cmocka_unit_test(bad_mounts),
		cmocka_unit_test(bad_policy),
		cmocka_unit_test(missing_plugin),
		cmocka_unit_test(host_death_kills_plugin),
		cmocka_unit_test(unprivileged_host),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s PROBE PERMISSIVE-POLICY-DIR\n", argv[0]);
		return 2;
	}
	probe_path = argv[1];
	permissive_dir = argv[2];
	if (!userns_usable()) {
		printf("SKIP: user namespaces are not available here\n");
		return 77;
	}
	log_set_level(LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
