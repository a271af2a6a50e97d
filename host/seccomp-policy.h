/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Seccomp policies for the plugin: minijail's text syntax compiled with
 * libseccomp into classic BPF, in the host, before the plugin is spawned,
 * so that the child only has to hand ready programs to the kernel.
 */
#ifndef PLUGVM_HOST_SECCOMP_POLICY_H
#define PLUGVM_HOST_SECCOMP_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/filter.h>

/* One main allow-list filter plus one helper filter per distinct "; return ERRNO" value. */
#define SECCOMP_POLICY_MAX_PROGS 8

struct seccomp_policy {
	struct sock_fprog progs[SECCOMP_POLICY_MAX_PROGS];
	size_t n_progs;
};

/*
 * Builds the plugin filter.  With dir == NULL the built-in default policy
 * (host/policy/plugin.policy, compiled into the host) is used.  Otherwise
 * DIR/plugin.bpf is used if it exists and log_failures is off, else
 * DIR/plugin.policy.  log_failures makes the default action SECCOMP_RET_LOG
 * instead of SECCOMP_RET_KILL_PROCESS.
 *
 * On failure logs exactly one error line naming the file and line and
 * returns -errno (-EINVAL for syntax errors).
 */
int seccomp_policy_compile(const char *dir, bool log_failures, struct seccomp_policy *ret);

/*
 * Compiles policy text.  name is used in error messages and as the base for
 * relative @include paths (its directory).  Exposed for the tests.
 */
int seccomp_policy_compile_text(const char *text, const char *name, bool log_failures,
				 struct seccomp_policy *ret);

/* The built-in default policy text. */
extern const char seccomp_default_policy[];

/*
 * Installs every program on the calling thread.  Uses only raw system
 * calls, so it is safe between fork() and execve().  The caller must have
 * set no_new_privs.  Returns 0 or -errno.
 */
int seccomp_policy_install(const struct seccomp_policy *p);

/* Frees the programs; p may be zeroed or partially built. */
void seccomp_policy_free(struct seccomp_policy *p);

#endif /* PLUGVM_HOST_SECCOMP_POLICY_H */
