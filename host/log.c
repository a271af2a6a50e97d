// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Longest line we emit; longer messages are cut so that one line stays one write(). */
#define LOG_LINE_MAX 1024
#define LOG_RATELIMIT_BURST 10u
#define LOG_RATELIMIT_WINDOW_NS 1000000000LL

/* "off" is below every level, so even errors are dropped. */
#define LOG_LEVEL_OFF (-1)

static atomic_int log_level = LOG_LEVEL_INFO;

/* Serialises the rate-limit counters, which vcpu threads share per call site. */
static pthread_mutex_t log_ratelimit_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const log_level_names[LOG_LEVEL_MAX] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(int level)
{
	if (level < LOG_LEVEL_OFF)
		level = LOG_LEVEL_OFF;
	if (level >= LOG_LEVEL_MAX)
		level = LOG_LEVEL_MAX - 1;
	atomic_store(&log_level, level);
}

int log_get_level(void)
{
	return atomic_load(&log_level);
}

int log_parse_level(const char *s, int *ret_level)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{ "off", LOG_LEVEL_OFF },      { "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN },
		{ "warning", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO },   { "debug", LOG_LEVEL_DEBUG },
		{ "trace", LOG_LEVEL_DEBUG },
	};

	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*ret_level = names[i].level;
			return 0;
		}
	}
	return -EINVAL;
}

static void log_write_all(const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	/* One writev() keeps the line whole; a short write (rare: full pipe) is not retried
	 * piecewise because interleaving half lines is worse than losing a tail. */
	do {
		n = writev(STDERR_FILENO, iov, iovcnt);
	} while (n < 0 && errno == EINTR);
}

static void __attribute__((format(printf, 2, 0)))
log_vformat(int level, const char *fmt, va_list ap, int saved_errno)
{
	char line[LOG_LINE_MAX];
	int prefix, n;
	size_t len;

	prefix = snprintf(line, sizeof(line), "plugvm: %s: ", log_level_names[level]);
	if (prefix < 0)
		return;
	/* %m must see the caller's errno, not whatever snprintf left behind. */
	errno = saved_errno;
	n = vsnprintf(line + prefix, sizeof(line) - (size_t)prefix - 1, fmt, ap);
	if (n < 0)
		n = 0;
	len = (size_t)prefix + (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	/* A message must never turn into several lines (it may quote plugin-chosen text). */
	for (size_t i = (size_t)prefix; i < len; i++) {
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	}
	line[len++] = '\n';

	struct iovec iov = { .iov_base = line, .iov_len = len };
	log_write_all(&iov, 1);
}

void log_msg(int level, const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	if (level < 0 || level >= LOG_LEVEL_MAX || level > log_get_level())
		goto out;
	va_start(ap, fmt);
	log_vformat(level, fmt, ap, saved_errno);
	va_end(ap);
out:
	errno = saved_errno;
}

static long long log_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void log_ratelimited(struct log_ratelimit *rl, int level, const char *fmt, ...)
{
	int saved_errno = errno;
	unsigned suppressed = 0;
	bool emit;
	long long now;
	va_list ap;

	if (level < 0 || level >= LOG_LEVEL_MAX || level > log_get_level())
		goto out;

	now = log_now_ns();
	pthread_mutex_lock(&log_ratelimit_lock);
	if (rl->window_start_ns == 0 || now - rl->window_start_ns >= LOG_RATELIMIT_WINDOW_NS) {
		suppressed = rl->suppressed;
		rl->window_start_ns = now;
		rl->count = 0;
		rl->suppressed = 0;
	}
	emit = rl->count < LOG_RATELIMIT_BURST;
	if (emit)
		rl->count++;
	else if (rl->suppressed < ~0u)
		rl->suppressed++;
	pthread_mutex_unlock(&log_ratelimit_lock);

	if (suppressed)
		log_msg(level, "(%u similar messages suppressed)", suppressed);
	if (!emit)
		goto out;
	va_start(ap, fmt);
	log_vformat(level, fmt, ap, saved_errno);
	va_end(ap);
out:
	errno = saved_errno;
}

void log_relay_line(const char *prefix, const char *line, unsigned long len)
{
	int saved_errno = errno;
	struct iovec iov[3];

	/* Plugin stderr is logged at error level, as the original host does. */
	if (log_get_level() < LOG_LEVEL_ERROR)
		goto out;
	iov[0].iov_base = (void *)(prefix ? prefix : "");
	iov[0].iov_len = prefix ? strlen(prefix) : 0;
	iov[1].iov_base = (void *)line;
	iov[1].iov_len = line ? len : 0;
	iov[2].iov_base = (void *)"\n";
	iov[2].iov_len = 1;
	log_write_all(iov, 3);
out:
	errno = saved_errno;
}
