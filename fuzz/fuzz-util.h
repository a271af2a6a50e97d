/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Shared by the fuzz targets: a check that aborts (so libFuzzer records the
 * input) and a cheap descriptor-leak probe.
 */
#ifndef PLUGVM_FUZZ_UTIL_H
#define PLUGVM_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FUZZ CHECK FAILED %s:%d: %s: ", __FILE__, __LINE__,       \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/*
 * The lowest free descriptor number.  A leaked descriptor always takes the
 * lowest free number, so comparing this before and after an input is a
 * leak check that costs two syscalls.
 */
static inline int fuzz_lowest_free_fd(void)
{
	int fd = fcntl(2, F_DUPFD, 0);

	if (fd >= 0)
		close(fd);
	return fd;
}

#endif /* PLUGVM_FUZZ_UTIL_H */
