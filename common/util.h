/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Small helpers every part of plugvm uses: array length, signalling an
 * eventfd, and growing an array by doubling.  Header only, so that any
 * source (including the fuzzers, which compile common files one by one) can
 * use them without a link dependency.
 */
#ifndef PLUGVM_COMMON_UTIL_H
#define PLUGVM_COMMON_UTIL_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Adds 1 to an eventfd's counter.  Returns 0 or -errno (EINTR is retried). */
static inline int efd_signal(int fd)
{
	uint64_t one = 1;

	for (;;) {
		if (write(fd, &one, sizeof(one)) == (ssize_t)sizeof(one))
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/*
 * Makes room for at least `need` (>= 1) elements of `elem` bytes in arr, an
 * array of *cap elements (NULL when *cap is 0): the capacity doubles,
 * starting from `first`, until it is enough.  Returns the array to use from
 * now on (arr itself when it was big enough), with *cap updated and the
 * contents kept; or NULL when memory is short or the size would overflow,
 * with arr and *cap untouched.
 */
static inline void *grow_array(void *arr, size_t *cap, size_t need, size_t elem, size_t first)
{
	size_t ncap = *cap ? *cap : (first ? first : 1);
	void *p;

	if (need <= *cap)
		return arr;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return NULL;
		ncap *= 2;
	}
	if (elem && ncap > SIZE_MAX / elem)
		return NULL;
	p = realloc(arr, ncap * elem);
	if (!p)
		return NULL;
	*cap = ncap;
	return p;
}

#endif /* PLUGVM_COMMON_UTIL_H */
