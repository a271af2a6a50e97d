/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Host logging: one line per call on stderr, "plugvm: <level>: <text>",
 * written with a single write() so lines from different threads do not mix.
 * Messages a plugin can trigger at will must go through log_ratelimited().
 */
#ifndef PLUGVM_HOST_LOG_H
#define PLUGVM_HOST_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_MAX,
};

void log_set_level(int level);
int log_get_level(void);

/* Parses "error", "warn", "info", "debug" (also crosvm's "trace" -> debug, "off"). -EINVAL if unknown. */
int log_parse_level(const char *s, int *ret_level);

/*
 * Names what the calling thread works for ("vcpu 2", "conn 5"); every line it
 * logs then carries that context after the level.  NULL clears it.
 */
void log_set_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Also sends every line to syslog (LOG_DAEMON) with the given tag (default "plugvm"). */
void log_open_syslog(const char *tag);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Like log_msg(), but at most about 10 lines per second per call site
 * (*state is the call site's static counter), with a note of how many
 * were suppressed.
 */
struct log_ratelimit {
	long long window_start_ns;
	unsigned count;
	unsigned suppressed;
};
void log_ratelimited(struct log_ratelimit *rl, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes a line exactly as given (plus "\n") with the given prefix, for relayed plugin stderr. */
void log_relay_line(const char *prefix, const char *line, unsigned long len);

#define log_err(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif /* PLUGVM_HOST_LOG_H */
