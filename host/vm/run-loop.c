// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * The running VM (run-internal.h): the main loop (docs/protocol.md §1.5),
 * the plugin's stderr relay, the main connections, the plugin filter's
 * notifications and the host's signals.
 */

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

#include "host-seccomp.h"
#include "jail.h"
#include "log.h"
#include "net.h"
#include "main-request.h"
#include "seccomp-audit.h"
#include "seccomp-notify.h"
#include "run-internal.h"
#include "spawn.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"
#include "wire.h"

static long long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000LL + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Starts the 1 s grace period and stops the VM (vcpus leave, the plugin sees its kill eventfd). */
void run_start_dying(struct host *h)
{
	if (!h->dying) {
		h->dying = true;
		clock_gettime(CLOCK_MONOTONIC, &h->dying_since);
	}
	vm_signal_kill(&h->vm);
}

/* ---------------------------------------------------------------------------
 * Plugin stderr relay.
 */

void relay_flush(struct host *h)
{
	if (h->line_len)
		log_relay_line("plugin: ", h->line, h->line_len);
	h->line_len = 0;
}

static void relay_bytes(struct host *h, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			log_relay_line("plugin: ", h->line, h->line_len);
			h->line_len = 0;
			continue;
		}
		if (h->line_len == sizeof(h->line))
			relay_flush(h);
		h->line[h->line_len++] = p[i];
	}
}

/* Relays up to burst chunks of plugin stderr that are ready now. */
void relay_stderr(struct host *h, int burst)
{
	char chunk[4096];

	for (int i = 0; i < burst && h->stderr_rd >= 0; i++) {
		ssize_t n = read(h->stderr_rd, chunk, sizeof(chunk));

		if (n > 0) {
			relay_bytes(h, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* Hang-up (every writer is gone) or a read error: flush and stop watching. */
		relay_flush(h);
		close(h->stderr_rd);
		h->stderr_rd = -1;
	}
}

/* ---------------------------------------------------------------------------
 * Main connections.
 */

static void conn_close(struct host *h, size_t i)
{
	close(h->conns[i]);
	h->conns[i] = -1;
}

static void conn_compact(struct host *h)
{
	size_t j = 0;

	for (size_t i = 0; i < h->n_conns; i++)
		if (h->conns[i] >= 0)
			h->conns[j++] = h->conns[i];
	h->n_conns = j;
}

static int conn_send(int sock, const Plugvm__MainResponse *resp, const int *fds, size_t nfds)
{
	size_t len = plugvm__main_response__get_packed_size(resp);
	uint8_t *buf = malloc(len ? len : 1);
	int r;

	if (!buf)
		return -ENOMEM;
	plugvm__main_response__pack(resp, buf);
	r = wire_send(sock, buf, len, fds, nfds);
	free(buf);
	return r;
}

/*
 * Serves one request on connection i; any transport or codec failure closes
 * that connection only.
 */
static void conn_serve_one(struct host *h, size_t i)
{
	int sock = h->conns[i], fd_in = -1, fds[1];
	struct main_ctx ctx = { .vm = &h->vm, .n_conns = h->n_conns, .new_conn_fd = -1 };
	struct main_reply reply;
	Plugvm__MainRequest *req;
	size_t nfds = 0;
	unsigned flags = 0;
	ssize_t n;
	int r;

	n = wire_recv(sock, h->rx, WIRE_MAIN_REQUEST_MAX, fds, 1, &nfds, &flags);
	if (n <= 0) {
		if (n < 0)
			log_debug("recv: %s", strerror((int)-n));
		conn_close(h, i);
		return;
	}
	if (nfds)
		fd_in = fds[0];
	/* Like the original, more than one descriptor means none (docs/protocol.md §2.1). */
	if ((flags & WIRE_RECV_CTRUNC) && fd_in >= 0) {
		close(fd_in);
		fd_in = -1;
	}
	if (flags & WIRE_RECV_TRUNC) {
		Plugvm__MainResponse resp = PLUGVM__MAIN_RESPONSE__INIT;

		/*
		 * Too large to decode: say so instead of dropping the connection (docs/protocol.md
		 * §7.3).
		 */
		if (fd_in >= 0)
			close(fd_in);
		resp.errnum = E2BIG;
		if (conn_send(sock, &resp, NULL, 0) < 0)
			conn_close(h, i);
		return;
	}
	req = plugvm__main_request__unpack(NULL, (size_t)n, h->rx);
	if (!req) {
		log_debug("undecodable request (%zd bytes), closing the connection", n);
		if (fd_in >= 0)
			close(fd_in);
		conn_close(h, i);
		return;
	}
	plugin_main_handle(&ctx, req, &fd_in, &reply);
	if (fd_in >= 0)
		close(fd_in);
	r = conn_send(sock, &reply.resp, reply.fds, reply.nfds);
	if (r == -EMSGSIZE || r == -ENOBUFS) {
		/*
		 * Larger than the socket takes (a dirty log near 8 GiB): say so
		 * rather than drop the connection.  Like the reply to an oversized
		 * request it has no member; clients read errno first.
		 */
		Plugvm__MainResponse resp = PLUGVM__MAIN_RESPONSE__INIT;

		log_debug("reply of request %d too large for the socket",
			  (int)req->message_case);
		resp.errnum = E2BIG;
		r = conn_send(sock, &resp, NULL, 0);
	}
	main_reply_release(&reply);
	plugvm__main_request__free_unpacked(req, NULL);
	if (r < 0) {
		log_debug("send: %s", strerror(-r));
		conn_close(h, i);
		if (ctx.new_conn_fd >= 0)
			close(ctx.new_conn_fd);
		return;
	}
	if (ctx.new_conn_fd >= 0)
		h->conns[h->n_conns++] = ctx.new_conn_fd;
}

/* One request from connection i; every line logged meanwhile names the connection. */
static void conn_serve(struct host *h, size_t i)
{
	log_set_context("conn %d", h->conns[i]);
	conn_serve_one(h, i);
	log_set_context(NULL);
}

/* ---------------------------------------------------------------------------
 * The plugin filter's notifications (seccomp-notify.h).
 */

static void run_kill_plugin(struct host *h)
{
	if (h->pidfd >= 0 && syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0) == 0)
		return;
	kill(h->pid, SIGKILL);
}

static void run_serve_notify(struct host *h)
{
	int r = seccomp_notify_handle(&h->notify, h->pid);
	char name[64];

	if (r < 0) {
		if (r != -EPIPE)
			log_warn("seccomp listener: %s", strerror(-r));
		seccomp_notify_release(&h->notify);
		return;
	}
	if (r == 0)
		return;
	/*
	 * Enforcing: the caller waits in the kernel, its call not run.  Killing
	 * the plugin, PID 1 of its namespace, takes every process of the jail
	 * with it, the caller too.  Nothing is answered again.
	 */
	run_kill_plugin(h);
	seccomp_audit_name(h->notify.killed_nr, name, sizeof(name));
	if (h->notify.killed_pid == h->pid || h->notify.killed_pid <= 0)
		vm_fail(&h->vm, "plugin killed: its seccomp policy does not allow system call %s",
			name);
	else
		vm_fail(&h->vm, "plugin killed: its seccomp policy does not allow system call %s, "
			"made by process %d, a descendant of the plugin", name,
			(int)h->notify.killed_pid);
	seccomp_notify_release(&h->notify);
	run_start_dying(h);
}

/* ---------------------------------------------------------------------------
 * Signals.  Returns true when the plugin has exited.
 */

static bool run_handle_signals(struct host *h)
{
	struct signalfd_siginfo si;
	bool child = false;
	int status;
	pid_t p;

	for (;;) {
		ssize_t n = read(h->sig_fd, &si, sizeof(si));

		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			break;
		if (si.ssi_signo == SIGCHLD) {
			child = true;
		} else if (!h->dying) {
			vm_fail(&h->vm, "stopped by signal %u (%s)", si.ssi_signo, strsignal((int)si.ssi_signo));
			run_start_dying(h);
		}
	}
	if (!child)
		return false;
	/*
	 * SIGCHLDs coalesce, so reap whatever is ready rather than trusting
	 * ssi_pid; a plugin that was only stopped or continued is not reaped.
	 */
	while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
		if (p == h->pid) {
			h->plugin_exited = true;
			h->plugin_status = status;
			continue;
		}
		/*
		 * The host forks nothing but the plugin, so any other child is a
		 * descendant of the plugin that we adopted as subreaper after its
		 * parent died: the plugin's business, not a failure of the VM.
		 */
		log_debug("reaped process %d, a descendant of the plugin (status 0x%x)", (int)p,
			  status);
	}
	return h->plugin_exited;
}

/* ---------------------------------------------------------------------------
 * The main loop (docs/protocol.md §1.5).
 */

void run_loop(struct host *h)
{
	struct vm *vm = &h->vm;
	struct pollfd pfds[4 + VM_MAX_CONNECTIONS];
	int conn_of[4 + VM_MAX_CONNECTIONS];

	for (;;) {
		size_t np = 0, n_conns;
		int timeout = -1, r;

		if (h->dying) {
			long long left = RUN_GRACE_MS - elapsed_ms(&h->dying_since);

			if (left <= 0)
				return;
			timeout = (int)left;
		}
		if (!h->exit_seen) {
			pfds[np] = (struct pollfd){ .fd = vm->exit_efd, .events = POLLIN };
			conn_of[np++] = -1;
		}
		pfds[np] = (struct pollfd){ .fd = h->sig_fd, .events = POLLIN };
		conn_of[np++] = -2;
		if (h->stderr_rd >= 0) {
			pfds[np] = (struct pollfd){ .fd = h->stderr_rd, .events = POLLIN };
			conn_of[np++] = -3;
		}
		if (h->notify.fd >= 0) {
			pfds[np] = (struct pollfd){ .fd = h->notify.fd, .events = POLLIN };
			conn_of[np++] = -4;
		}
		n_conns = h->n_conns;
		for (size_t i = 0; i < n_conns; i++) {
			pfds[np] = (struct pollfd){ .fd = h->conns[i], .events = POLLIN };
			conn_of[np++] = (int)i;
		}

		r = poll(pfds, np, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			vm_fail(&h->vm, "poll failed: %s", strerror(errno));
			return;
		}

		for (size_t k = 0; k < np; k++) {
			if (!pfds[k].revents)
				continue;
			switch (conn_of[k]) {
			case -1:
				/* Not read: it is simply left out of the poll set from now on. */
				h->exit_seen = true;
				run_start_dying(h);
				break;
			case -2:
				if (run_handle_signals(h))
					return;
				break;
			case -3:
				relay_stderr(h, RUN_STDERR_BURST);
				break;
			case -4:
				if (!(pfds[k].revents & POLLIN)) {
					/* POLLHUP: no process is left under the filter. */
					seccomp_notify_release(&h->notify);
					break;
				}
				if (h->notify.fd >= 0)
					run_serve_notify(h);
				break;
			default:
				if (h->conns[conn_of[k]] >= 0)
					conn_serve(h, (size_t)conn_of[k]);
				break;
			}
		}
		conn_compact(h);

		if (vm->start_requested && !vm->vcpus_started && !h->dying) {
			vm->vcpus_started = true;
			if (vcpus_start(vm) < 0)
				run_start_dying(h);
		}
	}
}
