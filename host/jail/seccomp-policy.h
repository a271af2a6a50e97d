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
	/* progs[0] ends in SECCOMP_RET_USER_NOTIF: install it with a listener. */
	bool notify;
};

/* What the plugin's filter does with a system call outside the policy. */
enum seccomp_fail {
	SECCOMP_FAIL_KILL = 0,   /* SECCOMP_RET_KILL_PROCESS */
	SECCOMP_FAIL_LOG = 1,    /* SECCOMP_RET_LOG: the kernel logs it and lets it run */
	SECCOMP_FAIL_NOTIFY = 2, /* SECCOMP_RET_USER_NOTIF: the host decides (seccomp-notify.h) */
};

/*
 * System calls the host adds to every policy it compiles (a precompiled
 * plugin.bpf is taken as it is): execve, because the filter is installed
 * before the plugin is executed, and what libcrosvm_plugin makes beyond
 * what crosvm's library made, so that a policy written for crosvm keeps
 * working (docs/sandbox.md, "Calls the host adds").  A policy that names one
 * of them itself (e.g. with "; return EPERM") keeps its own rule.
 */
extern const char *const seccomp_added_calls[];

/*
 * Builds the plugin filter.  With dir == NULL the built-in default policy
 * (host/jail/policy/plugin.policy, compiled into the host) is used.  Otherwise
 * DIR/plugin.bpf is used if it exists and fail is SECCOMP_FAIL_KILL or
 * SECCOMP_FAIL_NOTIFY (then ret->notify stays false: the file has its own
 * default action), else DIR/plugin.policy.  fail chooses the default action.
 *
 * On failure logs exactly one error line naming the file and line and
 * returns -errno (-EINVAL for syntax errors).
 */
int seccomp_policy_compile(const char *dir, enum seccomp_fail fail, struct seccomp_policy *ret);

/*
 * Compiles policy text.  name is used in error messages and as the base for
 * relative @include paths (its directory).  Exposed for the tests.
 */
int seccomp_policy_compile_text(const char *text, const char *name, enum seccomp_fail fail,
				 struct seccomp_policy *ret);

/* The built-in default policy text. */
extern const char seccomp_default_policy[];

/*
 * Installs every program on the calling thread.  Uses only raw system
 * calls, so it is safe between fork() and execve().  The caller must have
 * set no_new_privs.  Returns 0, or with p->notify the new listener
 * descriptor (close-on-exec, as the kernel makes it), or -errno.
 */
int seccomp_policy_install(const struct seccomp_policy *p);

/* Frees the programs; p may be zeroed or partially built. */
void seccomp_policy_free(struct seccomp_policy *p);

#endif /* PLUGVM_HOST_SECCOMP_POLICY_H */
