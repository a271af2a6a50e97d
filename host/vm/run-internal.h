/* SPDX-License-Identifier: BSD-3-Clause */
/* Copyright 2026 The plugvm Authors. */

/*
 * Inside run_vm() (host/vm/run.c: setup, teardown, the exit status;
 * host/vm/run-loop.c: the running VM's main loop, stderr relay, main
 * connections, signals).  run.h is the interface.
 */
#ifndef PLUGVM_HOST_RUN_INTERNAL_H
#define PLUGVM_HOST_RUN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <termios.h>
#include <time.h>

#include "config.h"
#include "seccomp-notify.h"
#include "vm.h"

/* How long the plugin may keep running once the VM is stopping (docs/protocol.md §1.5). */
#define RUN_GRACE_MS 1000
/* Longest relayed stderr line; longer ones are split. */
#define RUN_LINE_MAX 4096u
/* Chunks of plugin stderr read per wake-up, so a chatty plugin cannot starve the loop. */
#define RUN_STDERR_BURST 16
#define RUN_STDERR_FINAL_BURST 256

struct host {
	const struct host_config *cfg;
	struct vm vm;
	int sig_fd;
	int stderr_rd;
	int stderr_wr; /* the plugin's stderr until the spawn */
	int sock[2];   /* the first connection: ours, and the plugin's until the spawn */
	int *tap_fds;  /* until vm_init() ran, then owned by vm */
	bool vm_ready; /* vm_init() ran: vcpus_free() and vm_release() apply */
	char line[RUN_LINE_MAX];
	size_t line_len;
	int conns[VM_MAX_CONNECTIONS];
	size_t n_conns;
	uint8_t *rx;
	pid_t pid;
	int pidfd;
	bool plugin_exited;
	int plugin_status;
	bool exit_seen;
	bool dying;
	struct timespec dying_since;
	int audit_fd; /* the kernel log, to name what the seccomp filter stopped; -1 if unreadable */
	struct seccomp_notify notify; /* the plugin filter's listener (fd -1 without one) */
	bool notify_mode;             /* the filter notifies (even once its listener is gone) */
	int children_fd; /* /proc/self/task/<tid>/children, opened before the host's filter */
	bool tty_saved; /* stdin is a terminal the plugin may put into raw mode */
	struct termios tty;
};

/* ---- run-loop.c ---- */

/* Starts the 1 s grace period and stops the VM (vcpus leave, the plugin sees its kill eventfd). */
void run_start_dying(struct host *h);
/* Relays up to burst chunks of the plugin's stderr that are ready now, line by line. */
void relay_stderr(struct host *h, int burst);
/* Relays what is left of an unterminated line. */
void relay_flush(struct host *h);
/*
 * Serves the main connections, the plugin's stderr, notifications and
 * signals until the plugin exited or the grace period after a stop ran out.
 */
void run_loop(struct host *h);

#endif /* PLUGVM_HOST_RUN_INTERNAL_H */
