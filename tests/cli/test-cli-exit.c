// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The real plugvm binary (argv[1]) on bad command lines: exit status 1,
 * exactly one "plugvm: error: " line on stderr and nothing on stdout.
 * --help and --version exit 0 with their text on stdout only.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "plugvm-config.h"

#define RUN_TIMEOUT_MS 10000
#define OUT_MAX 65536

static const char *plugvm_path;
static char tmpdir[64];

struct result {
	int status; /* exit status, or 128+signal */
	char out[OUT_MAX];
	size_t out_len;
	char err[OUT_MAX];
	size_t err_len;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drain(int *fd, char *buf, size_t *len)
{
	ssize_t n = read(*fd, buf + *len, OUT_MAX - 1 - *len);

	if (n > 0) {
		*len += (size_t)n;
		buf[*len] = '\0';
	} else if (n == 0 || errno != EINTR) {
		close(*fd);
		*fd = -1;
	}
	if (*len >= OUT_MAX - 1) {
		close(*fd);
		*fd = -1;
	}
}

/* Runs plugvm with the given arguments ("%TMP" is replaced by the scratch directory). */
static void run(struct result *res, const char *const *args)
{
	char bufs[32][256];
	char *argv[34];
	int out[2], err[2], st, argc = 0;
	long long deadline;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	argv[argc++] = (char *)plugvm_path;
	for (; *args; args++) {
		assert_true(argc < 33);
		if (strncmp(*args, "%TMP", 4) == 0)
			snprintf(bufs[argc], sizeof(bufs[argc]), "%s%s", tmpdir, *args + 4);
		else
			snprintf(bufs[argc], sizeof(bufs[argc]), "%s", *args);
		argv[argc] = bufs[argc];
		argc++;
	}
	argv[argc] = NULL;

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		execv(plugvm_path, argv);
		_exit(126);
	}
	close(out[1]);
	close(err[1]);

	deadline = now_ms() + RUN_TIMEOUT_MS;
	while (out[0] >= 0 || err[0] >= 0) {
		struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
				       { .fd = err[0], .events = POLLIN } };
		long long left = deadline - now_ms();

		if (left <= 0)
			break;
		if (poll(p, 2, (int)left) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			drain(&out[0], res->out, &res->out_len);
		if (p[1].revents)
			drain(&err[0], res->err, &res->err_len);
	}
	if (out[0] >= 0 || err[0] >= 0) {
		/* Still running: a hang is a failure, but the child must not outlive us. */
		kill(pid, SIGKILL);
		if (out[0] >= 0)
			close(out[0]);
		if (err[0] >= 0)
			close(err[0]);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static size_t count_lines(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == '\n';
	return n;
}

static void expect_error(const char *const *args)
{
	static struct result res;
	char shown[1024] = "";

	for (const char *const *a = args; *a; a++) {
		strncat(shown, " ", sizeof(shown) - strlen(shown) - 1);
		strncat(shown, *a, sizeof(shown) - strlen(shown) - 1);
	}
	run(&res, args);
	if (res.status != 1 || res.out_len != 0 || count_lines(res.err, res.err_len) != 1 ||
	    res.err[res.err_len - 1] != '\n' || strncmp(res.err, "plugvm: error: ", 15) != 0) {
		print_error("plugvm%s: status %d, stdout '%s', stderr '%s'\n", shown, res.status,
			    res.out, res.err);
		fail();
	}
}

#define EXPECT_ERROR(...)                                                                          \
	do {                                                                                       \
		static const char *const a_[] = { __VA_ARGS__, NULL };                            \
		expect_error(a_);                                                                  \
	} while (0)

static void bad_command_lines(void **state)
{
	(void)state;
	{
		static const char *const none[] = { NULL };

		expect_error(none);
	}
	EXPECT_ERROR("start");
	EXPECT_ERROR("run");
	EXPECT_ERROR("--plugin", "/bin/true");
	EXPECT_ERROR("--log-level");
	EXPECT_ERROR("--log-level", "chatty", "run", "--plugin", "/bin/true");
	EXPECT_ERROR("run", "--plugin");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin", "/bin/false");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--frobnicate");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "-x");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "vmlinux");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--disable-sandbox=1");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--cpus", "0");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--cpus", "65");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--cpus", "two");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "-c", "num-cores=x");
	/* User text with a newline still gives one line. */
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--cpus", "1\n2\n");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--host-ip", "100.115.92.5");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--host-ip", "100.115.92", "--netmask",
		     "255.255.255.252", "--mac", "de:21:e8:47:6b:6a");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--host-ip", "100.115.92.5", "--netmask",
		     "255.255.255.252", "--mac", "de:21:e8:47:6b");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--net", "tap-name=t0,vhost-net");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--net", "tap-name=t0,tap-fd=3");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--net", "host-ip=1.2.3.4");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--net", "bridge=br0");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--vhost-net", "--tap-name", "t0");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--vhost-net-device", "/dev/vhost-net");
	/* Descriptor 200 is not open in the child (and an inherited CLOEXEC one cannot be). */
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--tap-fd", "200");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--tap-fd", "three");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--tap-name", "a-name-that-is-too-long");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--hypervisor", "kvm", "--kvm-device",
		     "/dev/kvm");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--hypervisor", "gunyah");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--hypervisor", "kvm[dev=/dev/kvm]");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-root", "relative");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-root", "/nonexistent/plugvm");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-mount", "/nonexistent/plugvm");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-mount", "relative");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-mount", "/dev/null:rel");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-mount", "/dev/null::perhaps");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-mount", "/dev/null:/a:true:b");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-mount-file", "%TMP/missing");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-mount-file", "%TMP/bad-mounts");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-gid-map", "root");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-gid-map", "1:2:3:4");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--plugin-gid-map-file", "%TMP/bad-gids");
	EXPECT_ERROR("run", "--plugin", "/bin/true", "--vcpu-cgroup-path", "/nonexistent/plugvm");
	EXPECT_ERROR("run", "--disable-sandbox", "--plugin", "/nonexistent/plugvm");
	EXPECT_ERROR("run", "--disable-sandbox", "--plugin", "/dev/null");
}

static void help_and_version(void **state)
{
	static const char *const help1[] = { "--help", NULL };
	static const char *const help2[] = { "-h", NULL };
	static const char *const help3[] = { "run", "--plugin", "/bin/true", "--help", NULL };
	static const char *const version[] = { "--version", NULL };
	static const char *const const_version2[] = { "--log-level", "debug", "--version", NULL };
	const char *const *helps[] = { help1, help2, help3 };
	static struct result res;
	char want[128];

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		run(&res, helps[i]);
		assert_int_equal(res.status, 0);
		assert_int_equal(res.err_len, 0);
		assert_non_null(strstr(res.out, "Usage: plugvm"));
		assert_non_null(strstr(res.out, "--plugin-gid-map-file"));
	}
	snprintf(want, sizeof(want), "plugvm %s (crosvm plugin API 0.23.0)\n", PLUGVM_VERSION);
	run(&res, version);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.err_len, 0);
	assert_string_equal(res.out, want);
	run(&res, const_version2);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.out, want);
}

static void write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/plugvm-cli-exit-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	write_file("bad-mounts", "# ok so far\n/dev/null\n\n/dev/null:/x:maybe\n");
	write_file("bad-gids", "1:1:1\n1:1:zero\n");
	return 0;
}

static int teardown(void **state)
{
	char path[128];

	(void)state;
	snprintf(path, sizeof(path), "%s/bad-mounts", tmpdir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bad-gids", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(bad_command_lines),
		cmocka_unit_test(help_and_version),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-PLUGVM\n", argv[0]);
		return 2;
	}
	plugvm_path = argv[1];
	return cmocka_run_group_tests(tests, setup, teardown);
}
