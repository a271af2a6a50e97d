/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * Names the system calls the plugin's seccomp filter stopped.  The kernel
 * writes an audit record (type 1326) for every seccomp kill and every
 * logged call, with the process, the architecture and the system call
 * number; when audit has no daemon these land in the kernel log, which the
 * host reads through /dev/kmsg.  Reading it needs CAP_SYSLOG (or
 * kernel.dmesg_restrict=0), so the host opens it before it drops its
 * privileges; without it the host just cannot name the call.
 */
#ifndef PLUGVM_HOST_SECCOMP_AUDIT_H
#define PLUGVM_HOST_SECCOMP_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Opens the kernel log positioned at its end; -1 if it cannot be read. */
int seccomp_audit_open(void);

/*
 * Reads the records logged since the last call and collects, in the order
 * seen and without repeats, up to max system call numbers the seccomp filter
 * killed or logged process pid for (as the initial pid namespace numbers
 * it).  Only calls of the host's own architecture are collected.  Without
 * an audit daemon the kernel prints its records from a kernel thread, a
 * little after the event: if none is found, waits up to wait_ms for one.
 * Returns how many it stored.
 */
size_t seccomp_audit_scan(int fd, pid_t pid, int *nrs, size_t max, int wait_ms);

/* Parses one kernel log record; returns 1 with the call's pid and number, else 0. */
int seccomp_audit_parse(const char *rec, pid_t *ret_pid, int *ret_nr);

/* "name (nr)", or just the number if libseccomp does not know it. */
void seccomp_audit_name(int nr, char *buf, size_t len);

#endif /* PLUGVM_HOST_SECCOMP_AUDIT_H */
