/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * CROSVM_STATS=1: per-function latency statistics of the API, printed to
 * stderr when the process exits.
 *
 * How it is wired: the library's own sources are compiled with
 * stats-rename.h force-included, so each API function is defined as
 * plugvm_impl_<name>.  stats-wrappers.c (generated from crosvm.h by
 * gen-stats.py) defines the exported crosvm_* functions; each forwards to the
 * implementation and, only when stats are on, times the call.  Calls the
 * library makes internally go to the implementations directly and are not
 * counted twice.
 */
#ifndef PLUGVM_LIB_STATS_H
#define PLUGVM_LIB_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "crosvm.h"

#define EXPORT __attribute__((visibility("default")))
#define STATS_NFUNCS 73

extern const char *const stats_names[STATS_NFUNCS];

/* True when CROSVM_STATS=1 was in the environment at load time. */
bool stats_on(void);

/* Monotonic nanoseconds. */
uint64_t stats_now(void);

/* Accounts one call of function `idx` that started at t0. */
void stats_record(unsigned idx, uint64_t t0);

#endif /* PLUGVM_LIB_STATS_H */
