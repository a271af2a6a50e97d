// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */

/*
 * run_vm() (run.h) as named steps with one unwind path, run_release(); the
 * plugin's end and the exit status.  The running VM is in run-loop.c.
 */
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
#include "run-internal.h"
#include "spawn.h"
#include "util.h"
#include "vcpu.h"
#include "vm.h"
#include "wire.h"

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

	/* Objects and connections, 8 per vcpu (its fd, pipes, kick), and room for the rest. */
	spawn_raise_host_nofile(VM_MAX_OBJECTS + VM_MAX_CONNECTIONS + 8ull * cfg->cpus + 256);
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
