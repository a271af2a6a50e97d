// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * host/log.c: line format, levels, %m, one line per call even with embedded
 * newlines or from many threads at once, rate limiting and the stderr relay.
 * stderr is redirected into a pipe and read back.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

#define CAPTURE_MAX (1 << 20)

static int capture_r = -1, saved_stderr = -1;
static char captured[CAPTURE_MAX];

static void capture_start(void)
{
	int p[2];

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	/* Room for everything the threaded test writes before we read. */
	assert_true(fcntl(p[1], F_SETPIPE_SZ, CAPTURE_MAX) >= 512 * 1024);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	close(p[1]);
	capture_r = p[0];
}

/* Restores stderr and returns what was written, NUL-terminated. */
static const char *capture_end(void)
{
	size_t len = 0;

	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	for (;;) {
		ssize_t n = read(capture_r, captured + len, sizeof(captured) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(capture_r);
	captured[len] = '\0';
	return captured;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void levels_and_format(void **state)
{
	const char *out;

	(void)state;
	log_set_level(LOG_LEVEL_WARN);
	assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
	capture_start();
	log_err("e %d", 1);
	log_warn("w %s", "two");
	log_info("hidden info");
	log_debug("hidden debug");
	errno = ENOENT;
	log_warn("open: %m");
	assert_int_equal(errno, ENOENT); /* logging does not clobber errno */
	log_err("multi\nline\r\ntext");
	out = capture_end();
	assert_string_equal(out, "plugvm: error: e 1\n"
				 "plugvm: warn: w two\n"
				 "plugvm: warn: open: No such file or directory\n"
				 "plugvm: error: multi line  text\n");

	log_set_level(LOG_LEVEL_DEBUG);
	capture_start();
	log_info("i");
	log_debug("d");
	out = capture_end();
	assert_string_equal(out, "plugvm: info: i\nplugvm: debug: d\n");

	/* Out-of-range levels are clamped, not trusted. */
	log_set_level(1000);
	assert_int_equal(log_get_level(), LOG_LEVEL_DEBUG);
	log_set_level(LOG_LEVEL_INFO);
}

static void parse_levels(void **state)
{
	int level = 77;

	(void)state;
	assert_int_equal(log_parse_level("error", &level), 0);
	assert_int_equal(level, LOG_LEVEL_ERROR);
	assert_int_equal(log_parse_level("WARN", &level), 0);
	assert_int_equal(level, LOG_LEVEL_WARN);
	assert_int_equal(log_parse_level("info", &level), 0);
	assert_int_equal(level, LOG_LEVEL_INFO);
	assert_int_equal(log_parse_level("debug", &level), 0);
	assert_int_equal(level, LOG_LEVEL_DEBUG);
	assert_int_equal(log_parse_level("trace", &level), 0);
	assert_int_equal(level, LOG_LEVEL_DEBUG);
	assert_int_equal(log_parse_level("off", &level), 0);
	assert_true(level < LOG_LEVEL_ERROR);
	level = 77;
	assert_int_equal(log_parse_level("verbose", &level), -EINVAL);
	assert_int_equal(log_parse_level("", &level), -EINVAL);
	assert_int_equal(log_parse_level(NULL, &level), -EINVAL);
	assert_int_equal(level, 77);
}

static void off_silences_everything(void **state)
{
	int off;

	(void)state;
	assert_int_equal(log_parse_level("off", &off), 0);
	log_set_level(off);
	capture_start();
	log_err("not shown");
	log_relay_line("plugin: ", "not shown either", 16);
	assert_string_equal(capture_end(), "");
	log_set_level(LOG_LEVEL_INFO);
}

static void long_lines_are_cut(void **state)
{
	static char big[8192];
	const char *out;

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	capture_start();
	log_err("%s", big);
	out = capture_end();
	assert_int_equal(count_lines(out), 1);
	assert_true(strlen(out) < 2048);
	assert_int_equal(strncmp(out, "plugvm: error: xxx", 18), 0);
}

static void relay(void **state)
{
	const char line[] = "hello\tworld, not NUL-terminated here";

	(void)state;
	capture_start();
	log_relay_line("minijail/plugin: ", line, 5);
	log_relay_line("p: ", line, 0);
	assert_string_equal(capture_end(), "minijail/plugin: hello\np: \n");
}

static void ratelimit(void **state)
{
	static struct log_ratelimit rl;
	const char *out;

	(void)state;
	capture_start();
	for (int i = 0; i < 25; i++)
		log_ratelimited(&rl, LOG_LEVEL_WARN, "burst %d", i);
	out = capture_end();
	assert_int_equal(count_lines(out), 10);
	assert_non_null(strstr(out, "burst 0\n"));
	assert_non_null(strstr(out, "burst 9\n"));
	assert_null(strstr(out, "burst 10\n"));

	/* In the next window the count of dropped messages comes first. */
	usleep(1100 * 1000);
	capture_start();
	log_ratelimited(&rl, LOG_LEVEL_WARN, "later");
	out = capture_end();
	assert_string_equal(out, "plugvm: warn: (15 similar messages suppressed)\n"
				 "plugvm: warn: later\n");

	/* Below the threshold nothing is printed or counted. */
	capture_start();
	log_ratelimited(&rl, LOG_LEVEL_DEBUG, "debug");
	assert_string_equal(capture_end(), "");
}

#define THREADS 4
#define PER_THREAD 500

static void *writer(void *arg)
{
	long id = (long)arg;
	char pad[100];

	memset(pad, 'a' + (int)id, sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; i < PER_THREAD; i++)
		log_warn("t%ld n%04d %s", id, i, pad);
	return NULL;
}

static void threads_do_not_interleave(void **state)
{
	pthread_t t[THREADS];
	const char *out, *line;
	int seen[THREADS] = { 0 };

	(void)state;
	capture_start();
	for (long i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	out = capture_end();
	assert_int_equal(count_lines(out), THREADS * PER_THREAD);
	/* Every line is whole: prefix, its own thread's padding, nothing else. */
	for (line = out; *line;) {
		const char *end = strchr(line, '\n');
		long id;
		int n;
		char pad[100];

		assert_non_null(end);
		assert_int_equal(sscanf(line, "plugvm: warn: t%ld n%d %99s", &id, &n, pad), 3);
		assert_true(id >= 0 && id < THREADS);
		assert_int_equal(n, seen[id]++);
		assert_int_equal(strlen(pad), 99);
		for (int k = 0; k < 99; k++)
			assert_int_equal(pad[k], 'a' + id);
		assert_int_equal(end - line, (long)strlen("plugvm: warn: t0 n0000 ") + 99);
		line = end + 1;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(levels_and_format),
		cmocka_unit_test(parse_levels),
		cmocka_unit_test(off_silences_everything),
		cmocka_unit_test(long_lines_are_cut),
		cmocka_unit_test(relay),
		cmocka_unit_test(ratelimit),
		cmocka_unit_test(threads_do_not_interleave),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
