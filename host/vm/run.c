// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
#include "run.h"

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
#include "spawn.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"
#include "wire.h"

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

/*
 * A plugin that reads the host's terminal (unjailed, or --plugin-stdin) may
 * change its mode and die before it can put it back (SIGKILL, a seccomp
 * kill): the host saves the mode before the spawn and restores it at the end.
 */
static void run_save_tty(struct host *h)
{
	if ((h->cfg->disable_sandbox || h->cfg->plugin_stdin) && isatty(STDIN_FILENO) &&
	    tcgetattr(STDIN_FILENO, &h->tty) == 0)
		h->tty_saved = true;
}

static void run_restore_tty(struct host *h)
{
	if (h->tty_saved && tcsetattr(STDIN_FILENO, TCSANOW, &h->tty) < 0)
		log_warn("cannot restore the terminal's mode: %m");
	h->tty_saved = false;
}

/* At most this many distinct system calls are named after a run. */
#define RUN_AUDIT_MAX 8

/*
 * What the plugin's seccomp filter stopped, from the kernel's audit
 * records: "personality (135), ..." in buf, or "" if it cannot tell.
 */
static void run_denied_calls(struct host *h, char *buf, size_t len, int wait_ms)
{
	int nrs[RUN_AUDIT_MAX];
	size_t n = seccomp_audit_scan(h->audit_fd, h->pid, nrs, RUN_AUDIT_MAX, wait_ms), used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		char name[64];

		seccomp_audit_name(nrs[i], name, sizeof(name));
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name);
	}
}

static long long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000LL + (now.tv_nsec - since->tv_nsec) / 1000000;
}

/* Starts the 1 s grace period and stops the VM (vcpus leave, the plugin sees its kill eventfd). */
static void run_start_dying(struct host *h)
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

static void relay_flush(struct host *h)
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
static void relay_stderr(struct host *h, int burst)
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

/* Serves one request on connection i; any transport or codec failure closes that connection only. */
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

static void run_loop(struct host *h)
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

/* ---------------------------------------------------------------------------
 * Setup and teardown.
 */

static void run_stop_plugin(struct host *h)
{
	int status;
	pid_t p;

	if (h->plugin_exited)
		return;
	p = waitpid(h->pid, &status, WNOHANG);
	if (p == h->pid) {
		h->plugin_exited = true;
		h->plugin_status = status;
		return;
	}
	/* The original never killed it (docs/protocol.md §7.20); we do, and reap it. */
	vm_fail(&h->vm, "plugin did not exit within timeout");
	if (h->pidfd >= 0) {
		if (syscall(SYS_pidfd_send_signal, h->pidfd, SIGKILL, NULL, 0) < 0)
			log_warn("pidfd_send_signal: %m");
	} else {
		kill(h->pid, SIGKILL);
	}
	do
		p = waitpid(h->pid, &status, 0);
	while (p < 0 && errno == EINTR);
	if (p == h->pid) {
		h->plugin_exited = true;
		h->plugin_status = status;
	}
}

/*
 * Kills and reaps every process still below us once the plugin is gone:
 * helpers it forked were re-parented to us (PR_SET_CHILD_SUBREAPER), however
 * they detached (setsid, double fork).  Killing one re-parents its own
 * children to us, hence the rounds.  Needs /proc/<pid>/task/<tid>/children
 * (CONFIG_PROC_CHILDREN); without it leftovers are only logged as unknown.
 */
static void run_kill_leftovers(struct host *h)
{
	int killed = 0;

	if (h->children_fd < 0)
		return;
	for (int round = 0; round < 64; round++) {
		char buf[4096];
		/* The file is made anew on every read from its start. */
		ssize_t n = pread(h->children_fd, buf, sizeof(buf) - 1, 0);
		int found = 0;
		char *p, *end;

		if (n <= 0)
			break;
		buf[n] = '\0';
		for (p = buf;; p = end) {
			long pid = strtol(p, &end, 10);

			if (end == p)
				break;
			if (pid > 0) {
				kill((pid_t)pid, SIGKILL);
				found++;
			}
		}
		if (!found)
			break;
		for (int i = 0; i < found; i++) {
			pid_t w;

			do
				w = waitpid(-1, NULL, 0);
			while (w < 0 && errno == EINTR);
			if (w < 0)
				break;
			killed++;
		}
	}
	if (killed)
		log_warn("killed %d process%s the plugin left behind", killed,
			 killed == 1 ? "" : "es");
}

/* Opens what run_kill_leftovers() reads, while open() is still allowed. */
static void run_open_children(struct host *h)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/children", (int)gettid());
	h->children_fd = open(path, O_RDONLY | O_CLOEXEC);
}

static int run_result(struct host *h)
{
	int st = h->plugin_status;
	bool sigsys = h->plugin_exited && WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
	char denied[512] = "";
	char refused[128];

	/* The host's own filter stopped the VM: that is the cause, whatever followed. */
	if (host_seccomp_refused(refused, sizeof(refused))) {
		log_err("the host's seccomp filter refused system call %s; the VM was stopped",
			refused);
		return 1;
	}

	/*
	 * Only when the filter stopped something (a kill) or may have (logging
	 * mode).  The kernel prints the record of a kill a little after the
	 * death, and the last logged calls a little after they were made: wait
	 * for them, at most this long.
	 */
	if (h->notify_mode) {
		/* The listener named every call as it came (run_serve_notify()). */
	} else if (sigsys || h->cfg->seccomp_log_failures) {
		run_denied_calls(h, denied, sizeof(denied), sigsys ? 500 : 100);
	}
	if (denied[0] && h->cfg->seccomp_log_failures)
		log_warn("the plugin made system calls outside its seccomp policy (allowed by "
			 "--seccomp-log-failures): %s", denied);

	if (h->vm.failed) {
		log_err("%s", h->vm.fail_msg);
		return 1;
	}
	if (!h->plugin_exited) {
		log_err("plugin did not exit within timeout");
		return 1;
	}
	if (WIFEXITED(st)) {
		if (WEXITSTATUS(st) == 0)
			return 0;
		log_err("plugin exited with error: %d", WEXITSTATUS(st));
		return 1;
	}
	if (WIFSIGNALED(st)) {
		const char *why = jail_explain_status(st);
		char named[600];

		if (sigsys && denied[0]) {
			snprintf(named, sizeof(named),
				 "its seccomp policy does not allow system call %s", denied);
			why = named;
		}

		log_err("plugin killed by signal %d (%s)%s%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
			why ? ": " : "", why ? why : "");
		return 1;
	}
	log_err("plugin ended with status 0x%x", st);
	return 1;
}

static int run_vcpu_filter(unsigned id)
{
	int r = host_seccomp_vcpu(id);

	if (r == 0)
		host_seccomp_test_hook("vcpu");
	return r;
}

/*
 * The host's own seccomp filters (host-seccomp.h), unless --no-host-seccomp
 * or under valgrind, whose core makes its own system calls from the
 * filtered threads (docs/sandbox.md).  Everything opened later must be open
 * by now.
 */
static void run_install_filters(struct host *h)
{
	if (h->cfg->no_host_seccomp)
		return;
	if (RUNNING_ON_VALGRIND) {
		log_info("running under valgrind: the host's seccomp filters are off");
		return;
	}
	for (size_t i = 0; i < h->vm.n_taps; i++)
		net_prefetch(h->vm.tap_fds[i]);
	if (host_seccomp_main(h->vm.exit_efd) < 0)
		return; /* warned; the VM runs as it would with --no-host-seccomp */
	h->vm.vcpu_thread_hook = run_vcpu_filter;
	host_seccomp_test_hook("main");
}

static int run_setup_signals(struct host *h)
{
	sigset_t set;

	/* SIGPIPE stays off: a plugin that closed its end must not kill the host. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	/* Blocked before anything is spawned, so an early plugin death is not lost. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
		log_err("cannot set up signal handling: %s", strerror(EINVAL));
		return -EINVAL;
	}
	h->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (h->sig_fd < 0) {
		log_err("cannot set up signal handling: %m");
		return -errno;
	}
	return 0;
}

/*
 * run_vm() in steps.  Each setup step returns 0, or -errno after logging the
 * cause; whatever it leaves behind is in *h, for run_release() alone.
 */

/* The state with nothing acquired (every descriptor -1), or NULL without memory. */
static struct host *run_host_new(const struct host_config *cfg)
{
	struct host *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->cfg = cfg;
	h->sig_fd = h->stderr_rd = h->stderr_wr = h->pidfd = h->audit_fd = h->notify.fd = -1;
	h->children_fd = h->sock[0] = h->sock[1] = -1;
	h->pid = -1;
	h->vm.kvm_fd = h->vm.vm_fd = h->vm.kill_efd = h->vm.exit_efd = h->vm.stop_efd = -1;
	h->rx = malloc(WIRE_MAIN_REQUEST_MAX);
	if (!h->rx) {
		free(h);
		return NULL;
	}
	return h;
}

/* The pipe the plugin's stderr comes through (relay_stderr()). */
static int run_open_stderr(struct host *h)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0 || fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
		int r = -errno;

		log_err("cannot create the plugin stderr pipe: %m");
		return r;
	}
	h->stderr_rd = p[0];
	h->stderr_wr = p[1];
	return 0;
}

/* The taps, the VM, the plugin's socket and the vcpus (not yet running). */
static int run_open_vm(struct host *h)
{
	int r = net_open_taps(h->cfg, &h->tap_fds);

	if (r < 0)
		return r; /* net_open_taps() logged the tap that failed */
	r = vm_init(&h->vm, h->cfg);
	h->vm_ready = true;
	h->vm.tap_fds = h->tap_fds;
	h->vm.n_taps = h->tap_fds ? h->cfg->n_taps : 0;
	h->tap_fds = NULL;
	if (r < 0)
		return r; /* vm_init() logged the cause */

	if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, h->sock) < 0 ||
	    ioctl(h->sock[0], FIOCLEX) < 0) {
		r = -errno;
		log_err("cannot create the plugin socket: %m");
		return r;
	}
	return vcpus_prepare(&h->vm);
}

/* The plugin, jailed unless --disable-sandbox, and what watches it. */
static int run_spawn(struct host *h)
{
	const struct host_config *cfg = h->cfg;
	int r, notify_fd = -1;

	/*
	 * Whatever the plugin forks ends up below us when its parent dies, so
	 * nothing it started can outlive the host (run_kill_leftovers()).
	 */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		log_warn("cannot become a subreaper; plugin helpers may outlive the host: %m");
	run_open_children(h);
	/*
	 * Before the spawn, so that no record of the plugin's is missed; only
	 * needed where the kernel cannot hand the host a seccomp listener.
	 */
	if (!cfg->disable_sandbox && !seccomp_notify_available())
		h->audit_fd = seccomp_audit_open();
	run_save_tty(h);
	r = spawn_plugin(cfg, h->sock[1], h->stderr_wr, &h->pid, &h->pidfd, &notify_fd);
	/* From here on EOF on these means the plugin (and its children) are gone. */
	close(h->sock[1]);
	h->sock[1] = -1;
	close(h->stderr_wr);
	h->stderr_wr = -1;
	if (r < 0) {
		/* spawn_plugin() has said why. */
		h->pid = -1;
		return r;
	}
	h->conns[h->n_conns++] = h->sock[0];
	h->sock[0] = -1;
	if (notify_fd >= 0) {
		h->notify_mode = true;
		if (seccomp_notify_init(&h->notify, notify_fd, cfg->seccomp_log_failures) < 0) {
			vm_fail(&h->vm, "out of memory");
			run_start_dying(h);
		}
	}
	return 0;
}

/*
 * The kill eventfd, then the host's own privilege drop and seccomp filters.
 * A failure here fails the VM (the plugin is running and learns of it).
 */
static void run_arm(struct host *h)
{
	int r;

	/* Made after the spawn, so it is never inherited; the plugin gets it on request. */
	h->vm.kill_efd = eventfd(0, EFD_CLOEXEC);
	if (h->vm.kill_efd < 0) {
		vm_fail(&h->vm, "cannot create the kill eventfd: %s", strerror(errno));
		run_start_dying(h);
		return;
	}
	/* The host needs no privilege from here on (KVM fds are already open). */
	r = host_drop_privileges();
	if (r < 0)
		log_warn("cannot drop all privileges: %s", strerror(-r));
	run_install_filters(h);
}

/* Stops the vcpus and the plugin, relays its last words; the exit status. */
static int run_finish(struct host *h)
{
	vm_signal_kill(&h->vm);
	vcpus_join(&h->vm);
	vcpus_print_stats(&h->vm);
	run_stop_plugin(h);
	run_kill_leftovers(h);
	/* The plugin's last words; bounded in case its descendants keep writing. */
	relay_stderr(h, RUN_STDERR_FINAL_BURST);
	relay_flush(h);
	return run_result(h);
}

/* The one unwind path: releases whatever the steps acquired, in any state. */
static void run_release(struct host *h)
{
	if (h->pid > 0 && !h->plugin_exited) {
		/* Only reached on setup failures after a successful spawn. */
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		run_kill_leftovers(h);
	}
	run_restore_tty(h);
	for (size_t i = 0; i < h->n_conns; i++)
		close(h->conns[i]);
	wire_close_fds(h->sock, 2);
	if (h->vm_ready) {
		vcpus_free(&h->vm);
		vm_release(&h->vm); /* and the taps */
	}
	if (h->tap_fds) {
		for (size_t i = 0; i < h->cfg->n_taps; i++)
			close(h->tap_fds[i]);
		free(h->tap_fds);
	}
	if (h->stderr_wr >= 0)
		close(h->stderr_wr);
	if (h->stderr_rd >= 0)
		close(h->stderr_rd);
	if (h->pidfd >= 0)
		close(h->pidfd);
	if (h->sig_fd >= 0)
		close(h->sig_fd);
	if (h->audit_fd >= 0)
		close(h->audit_fd);
	seccomp_notify_release(&h->notify);
	if (h->children_fd >= 0)
		close(h->children_fd);
	free(h->rx);
	free(h);
}

int run_vm(const struct host_config *cfg)
{
	/* In this order: signals before the spawn, the VM before the plugin can ask for it. */
	static int (*const setup[])(struct host *) = {
		run_setup_signals, run_open_stderr, run_open_vm, run_spawn,
	};
	struct host *h;
	int ret = 1;

	spawn_raise_host_nofile(cfg->cpus);
	h = run_host_new(cfg);
	if (!h) {
		log_err("out of memory");
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(setup); i++) {
		if (setup[i](h) < 0)
			goto out;
	}
	run_arm(h);
	if (!h->dying)
		run_loop(h);
	ret = run_finish(h);
out:
	run_release(h);
	return ret;
}
