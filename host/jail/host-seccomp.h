/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Copyright 2026 The plugvm Authors.
 *
 * The host's own seccomp filters (docs/sandbox.md, "The host's filters").
 * Once the VM, the sockets and the jail exist and privileges are dropped,
 * the host needs only a narrow set of system calls to serve the plugin; a
 * bug in a request handler then cannot open files, execute programs, make
 * sockets or trace processes.  Two allow-lists, built with libseccomp:
 *
 * - the main thread's (installed with SECCOMP_FILTER_FLAG_TSYNC, so every
 *   thread that exists then, a sanitizer runtime's too, gets it), and
 * - the vcpu threads', stacked on top of the inherited main filter by each
 *   vcpu thread once its own setup is done: a vcpu thread can do only what
 *   both allow.
 *
 * A refused call does not run: the filter traps it (SIGSYS), the handler
 * makes it fail with EPERM, records it and stops the VM (the vcpus' exit
 * eventfd), and the host then ends with one error line naming the call and
 * the thread, exit status 1.  socket() and connect() only fail with EACCES,
 * unrecorded: glibc's syslog() reconnects by itself when the log daemon
 * restarts, and that must not stop a VM.
 */
#ifndef PLUGVM_HOST_HOST_SECCOMP_H
#define PLUGVM_HOST_HOST_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Installs the SIGSYS handler and the main thread's filter on every thread
 * of the process.  exit_efd is written when a call is refused.  Returns 0
 * or -errno (after one warning line).
 */
int host_seccomp_main(int exit_efd);

/* Adds the vcpu filter to the calling thread, vcpu id's.  Returns 0 or -errno. */
int host_seccomp_vcpu(unsigned id);

/* True once the filters were installed (host_seccomp_main succeeded). */
bool host_seccomp_active(void);

/*
 * The first refused call, as "openat (257) in thread crosvm_vcpu0", or
 * false if none was refused.
 */
bool host_seccomp_refused(char *buf, size_t len);

/*
 * Test hook (tests/plugins/meson.build, suite kvm-unjailed): with
 * PLUGVM_TEST_HOST_FORBIDDEN=main or =vcpu in the host's environment, that
 * thread makes one call its filter refuses (openat of "/") right after its
 * filter is installed.  Harmless without the filter: the descriptor is
 * closed again.
 */
void host_seccomp_test_hook(const char *thread);

#endif /* PLUGVM_HOST_HOST_SECCOMP_H */
