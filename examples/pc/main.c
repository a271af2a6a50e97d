// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * pc: a plugvm plugin that is a small i440FX PC and runs an unmodified
 * SeaBIOS through POST (and, given a disk, into its boot sector).
 *
 *   plugvm run --disable-sandbox --plugin build/examples/pc/pc -- \
 *           --bios /usr/share/seabios/bios.bin [--disk IMAGE] [--timeout S]
 *
 * The in-kernel irqchip and PIT (created by the host) provide the PIC,
 * IOAPIC, LAPIC and timer; this plugin adds memory, the firmware image and
 * the port-I/O devices of pc.h.  The vcpus start at the architectural reset
 * state that KVM gives them: nothing but CPUID is set at INIT.
 *
 * Output of the debug console (0x402) and of COM1 goes to stdout.  The
 * plugin exits 0 as soon as a line of that output contains the --expect
 * text ("No bootable device." by default), and 1 on a timeout, a shutdown,
 * or any error before that.  A guest reset (ports 0xcf9, 0x92, the keyboard
 * controller, or a triple fault) reboots the machine where the host has the
 * API 0.23 reset extension, and ends the run otherwise or with --no-reboot.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <crosvm.h>

#include "machine.h"
#include "memory.h"
#include "migrate.h"
#include "pc.h"
#include "snapshot.h"
#include "vmstate.h"

/* The connection of the thread that is handling a guest access (one per vcpu thread). */
__thread struct crosvm *tls_conn;
/* The vcpu whose thread this is (0 on the others), for its debug console's lines. */
__thread unsigned int tls_vcpu;
/* The pause token that tells vcpu threads to leave. */
int stop_token;
/* The pause token that asks a vcpu to reset itself for a machine reset. */
int reset_token;

void say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	/* One write per message so it does not interleave with guest output mid-line. */
	if (write(STDERR_FILENO, "pc: ", 4) < 0 || write(STDERR_FILENO, buf, (size_t)n) < 0)
		return;
}

double elapsed(const struct pc *pc)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - pc->t0.tv_sec) + (double)(t.tv_nsec - pc->t0.tv_nsec) / 1e9;
}

/* Decides the run's outcome (the first decision wins) and wakes the main thread. */
void pc_finish(struct pc *pc, int status)
{
	int expected = -1;
	uint64_t one = 1;

	if (atomic_compare_exchange_strong(&pc->exit_status, &expected, status))
		if (write(pc->done_fd, &one, sizeof(one)) < 0)
			say("cannot wake the main thread: %s", strerror(errno));
}

/* --verbose, at the end: how the API 0.23 extensions (or their 0.22 fallbacks) were used. */
static void say_counts(struct pc *pc)
{
	/* A vcpu thread that did not stop (stop_threads()) may still count. */
	pthread_mutex_lock(&pc->lock);
	say("debug console: %lu writes (%lu stopped the vcpu), %lu reads, %s; "
	    "string I/O: %lu events split into elements (I/O details %s); "
	    "PAM: %lu segment changes in place, %lu remapped",
	    pc->debugcon_writes, pc->debugcon_sync_writes, pc->debugcon_reads,
	    pc->debugcon_split   ? "async writes and sync reads"
	    : pc->debugcon_async ? "made async after its first read"
				 : "synchronous",
	    pc->io_strings, pc->io_details ? "on" : "off", pc->mem.pam_in_place,
	    pc->mem.pam_remapped);
	pthread_mutex_unlock(&pc->lock);
}

static int start_threads(struct pc *pc, char *err, size_t errlen)
{
	unsigned int i;
	int r;

	if (!pc->rtc_on_vcpu0) {
		r = pthread_create(&pc->rtc_thread, NULL, rtc_thread, pc);
		if (r) {
			snprintf(err, errlen, "RTC thread: %s", strerror(r));
			return -r;
		}
		pc->rtc_started = true;
	}
	if (pc->input_conn) {
		if (isatty(STDIN_FILENO)) {
			r = tty_make_raw();
			if (r < 0)
				say("the terminal stays in its mode: %s", strerror(-r));
			else
				say("console on this terminal: Ctrl-A x quits");
		}
		r = pthread_create(&pc->input_thread, NULL, input_thread, pc);
		if (r) {
			snprintf(err, errlen, "console input thread: %s", strerror(r));
			return -r;
		}
		pc->input_started = true;
	}
	for (i = 0; i < pc->nvcpus; i++) {
		atomic_store(&pc->vcpus[i].started, true);
		r = pthread_create(&pc->vcpus[i].thread, NULL, vcpu_thread, &pc->vcpus[i]);
		if (r) {
			atomic_store(&pc->vcpus[i].started, false);
			snprintf(err, errlen, "vcpu thread %u: %s", i, strerror(r));
			return -r;
		}
	}
	return 0;
}

/* Waits for the outcome: a decision from a vcpu thread, the host stopping, or the timeout. */
static void wait_outcome(struct pc *pc, int shutdown_fd)
{
	struct pollfd pfd[3] = { { .fd = pc->done_fd, .events = POLLIN },
				 { .fd = shutdown_fd, .events = POLLIN },
				 { .fd = pc->save_fd, .events = POLLIN } };
	bool save_timer = (pc->opt.save && pc->opt.save_after > 0) ||
			  (pc->opt.migrate_to && pc->opt.migrate_after > 0);
	double save_at = pc->opt.save ? pc->opt.save_after : pc->opt.migrate_after;
	struct timespec ts, *tsp;
	sigset_t unblocked;
	int timeout_ms;

	/* SIGUSR1 (blocked everywhere else) arrives only while this thread waits. */
	sigemptyset(&unblocked);
	for (;;) {
		double left = pc->opt.timeout > 0 ? pc->opt.timeout - elapsed(pc) : -1;
		double save_left = save_timer ? save_at - elapsed(pc) : -1;
		uint64_t n;

		if (save_timer && save_left <= 0) {
			save_timer = false;
			if ((pc->opt.save ? save_machine(pc) : migrate_machine(pc)) == 0) {
				pc_finish(pc, 0);
				return;
			}
			continue;
		}
		if (pc->opt.timeout > 0 && left <= 0) {
			if (!atomic_load(&pc->matched))
				say("timed out after %.1f s without seeing \"%s\"", pc->opt.timeout,
				    pc->opt.expect);
			pc_finish(pc, atomic_load(&pc->matched) ? 0 : 1);
			return;
		}
		if (save_timer && (left < 0 || save_left < left))
			left = save_left;
		timeout_ms = left < 0 ? -1 : (int)(left * 1000) + 1;
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		tsp = timeout_ms < 0 ? NULL : &ts;
		if (ppoll(pfd, pc->save_fd >= 0 ? 3 : 2, tsp, &unblocked) < 0 && errno != EINTR) {
			say("poll: %s", strerror(errno));
			pc_finish(pc, 1);
			return;
		}
		if (pfd[0].revents)
			return;
		if (pc->save_fd >= 0 && (pfd[2].revents & POLLIN) &&
		    read(pc->save_fd, &n, sizeof(n)) == sizeof(n)) {
			say("SIGUSR1: %s the machine", pc->opt.save ? "saving" : "migrating");
			if ((pc->opt.save ? save_machine(pc) : migrate_machine(pc)) == 0) {
				pc_finish(pc, 0);
				return;
			}
		}
		if (pfd[1].revents) {
			if (!atomic_load(&pc->matched))
				say("the VM stopped before \"%s\" was seen", pc->opt.expect);
			pc_finish(pc, atomic_load(&pc->matched) ? 0 : 1);
			return;
		}
	}
}

static void stop_threads(struct pc *pc)
{
	struct timespec deadline;
	uint64_t mask = 0, one = 1;
	unsigned int i;
	int r;

	atomic_store(&pc->stopping, true);
	if (pc->rtc_started) {
		if (write(pc->rtc_kick_fd, &one, sizeof(one)) < 0)
			say("cannot wake the RTC thread: %s", strerror(errno));
		pthread_join(pc->rtc_thread, NULL);
		pc->rtc_started = false;
	}
	if (pc->input_started) {
		if (write(pc->input_kick_fd, &one, sizeof(one)) < 0)
			say("cannot wake the console input thread: %s", strerror(errno));
		pthread_join(pc->input_thread, NULL);
		pc->input_started = false;
	}
	tty_restore();
	/* A vcpu parked for a snapshot leaves from there. */
	unpark(pc, PARK_LEAVE);
	for (i = 0; i < pc->nvcpus; i++)
		if (pc->vcpus[i].started)
			mask |= 1ull << i;
	if (!mask)
		return;
	r = crosvm_pause_vcpus(pc->crosvm, mask, &stop_token);
	if (r < 0)
		say("pause_vcpus: %s", strerror(-r));
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 2;
	for (i = 0; i < pc->nvcpus; i++) {
		if (!pc->vcpus[i].started)
			continue;
		r = pthread_timedjoin_np(pc->vcpus[i].thread, NULL, &deadline);
		if (r) {
			/* The thread may still use its connection: leave it all to exit(). */
			say("vcpu %u did not stop: %s", i, strerror(r));
			pc->nvcpus = 0;
			return;
		}
		atomic_store(&pc->vcpus[i].started, false);
	}
}

static void teardown(struct pc *pc)
{
	unsigned int i;

	for (i = 0; i < CONSOLE_STREAMS; i++)
		flush_line(pc, i);
	/*
	 * The run may end mid-line (right at the expected text): end it for the
	 * terminal, unless it ended in a snapshot, whose restore continues the line.
	 */
	if (pc->mid_line && !pc->saved)
		write_out("\n", 1);
	if (pc->crosvm) {
		if (pc->rtc_irq)
			crosvm_destroy_irq_event(pc->crosvm, &pc->rtc_irq);
		memory_unmap(&pc->mem, pc->crosvm);
	}
	for (i = 0; i < pc->nvcpus; i++)
		if (pc->vcpus[i].conn)
			crosvm_destroy_connection(&pc->vcpus[i].conn);
	if (pc->input_conn)
		crosvm_destroy_connection(&pc->input_conn);
	if (pc->crosvm)
		crosvm_destroy_connection(&pc->crosvm);
	if (pc->ram_map)
		munmap(pc->ram_map, pc->mem.ram_size);
	memory_free(&pc->mem);
	fwcfg_free(&pc->fwcfg);
	free(pc->ata.disk);
	if (pc->disk_fd >= 0 && close(pc->disk_fd) < 0)
		say("closing %s: %s", pc->opt.disk, strerror(errno));
	free(pc->cpuid);
	for (i = 0; i < MAX_VCPUS; i++) {
		free(pc->vcpus[i].cpuid);
		vcpu_state_free(&pc->vcpus[i].saved);
	}
	if (pc->cpu_restore)
		for (i = 0; i < pc->snap_vcpus; i++)
			vcpu_state_free(&pc->cpu_restore[i]);
	free(pc->cpu_restore);
	free(pc->msr_list);
	free(pc->plugin_dirty);
	free(pc->mig_bitmap);
	if (pc->mig_sock >= 0)
		close(pc->mig_sock);
	snap_close(&pc->snap);
	if (pc->save_fd >= 0)
		close(pc->save_fd);
	pthread_mutex_destroy(&pc->park_lock);
	pthread_cond_destroy(&pc->park_cond);
	if (pc->done_fd >= 0)
		close(pc->done_fd);
	if (pc->rtc_kick_fd >= 0)
		close(pc->rtc_kick_fd);
	if (pc->input_kick_fd >= 0)
		close(pc->input_kick_fd);
	tty_restore();
	pthread_cond_destroy(&pc->reset_cond);
	pthread_mutex_destroy(&pc->reset_lock);
	pthread_mutex_destroy(&pc->lock);
}

int main(int argc, char **argv)
{
	static struct pc pc_storage;
	struct pc *pc = &pc_storage;
	char err[256] = "";
	int r, status, shutdown_fd = -1;

	clock_gettime(CLOCK_MONOTONIC, &pc->t0);
	pc->mem.ram_fd = pc->mem.rom_fd = -1;
	pc->done_fd = pc->rtc_kick_fd = pc->input_kick_fd = pc->disk_fd = pc->save_fd = -1;
	pc->mig_sock = -1;
	pthread_mutex_init(&pc->park_lock, NULL);
	pthread_cond_init(&pc->park_cond, NULL);
	r = parse_args(argc, argv, &pc->opt);
	if (r)
		return r > 0 ? 0 : 1; /* bad options: one line said why */

	/* A vanished stdout reader must not kill the plugin with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&pc->lock, NULL);
	pthread_mutex_init(&pc->reset_lock, NULL);
	pthread_cond_init(&pc->reset_cond, NULL);
	atomic_init(&pc->reset_requested, false);
	atomic_init(&pc->exit_status, -1);
	atomic_init(&pc->stopping, false);
	atomic_init(&pc->matched, false);
	pc->env = (struct pc_env){ .opaque = pc,
				   .set_irq = env_set_irq,
				   .pam_changed = env_pam_changed,
				   .reset = env_reset,
				   .console = env_console };
	pc->done_fd = eventfd(0, EFD_CLOEXEC);
	pc->rtc_kick_fd = eventfd(0, EFD_CLOEXEC);
	pc->input_kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pc->done_fd < 0 || pc->rtc_kick_fd < 0 || pc->input_kick_fd < 0) {
		say("eventfd: %s", strerror(errno));
		status = 1;
		goto out;
	}
	if (pc->opt.save || pc->opt.migrate_to) {
		/* Blocked in every thread; wait_outcome's ppoll lets it in. */
		struct sigaction sa = { .sa_handler = save_signal };
		sigset_t set;

		pc->save_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (pc->save_fd < 0) {
			say("eventfd: %s", strerror(errno));
			status = 1;
			goto out;
		}
		save_signal_fd = pc->save_fd;
		sigaction(SIGUSR1, &sa, NULL);
		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		pthread_sigmask(SIG_BLOCK, &set, NULL);
	}
	fwcfg_init(&pc->fwcfg);
	if (pc->opt.restore || pc->opt.migrate_listen) {
		r = pc->opt.migrate_listen ? receive_migration(pc, err, sizeof(err))
					   : load_snapshot(pc, err, sizeof(err));
		if (r < 0)
			goto fail;
	} else {
		r = memory_init(&pc->mem, pc->opt.mem_mib << 20, pc->opt.bios, err, sizeof(err));
		if (r < 0)
			goto fail;
	}
	if (pc->opt.migrate_to) {
		uint64_t pages = pc->mem.ram_size / MIG_PAGE;

		pc->mem.dirty_log = true;
		pc->plugin_dirty = calloc(1, (pages + 7) / 8);
		pc->mig_bitmap = calloc(1, (pages + 7) / 8);
		if (!pc->plugin_dirty || !pc->mig_bitmap) {
			snprintf(err, sizeof(err), "out of memory for the dirty bitmaps");
			goto fail;
		}
	}
	if (pc->opt.disk && !pc->restoring) {
		r = load_disk(pc, err, sizeof(err));
		if (r < 0)
			goto fail;
		pc->have_disk = true;
	}
	if (pc->opt.kernel) {
		r = setup_kernel(pc, err, sizeof(err));
		if (r < 0)
			goto fail;
	}

	r = crosvm_connect(&pc->crosvm);
	if (r < 0) {
		snprintf(err, sizeof(err), "crosvm_connect: %s (run me under plugvm)",
			 strerror(-r));
		goto fail;
	}
	r = crosvm_get_shutdown_eventfd(pc->crosvm);
	if (r < 0) {
		snprintf(err, sizeof(err), "shutdown eventfd: %s", strerror(-r));
		goto fail;
	}
	shutdown_fd = r;
	r = setup_vm(pc, err, sizeof(err));
	if (r < 0)
		goto fail;
	r = crosvm_start(pc->crosvm);
	if (r < 0) {
		snprintf(err, sizeof(err), "crosvm_start: %s", strerror(-r));
		goto fail;
	}
	r = start_threads(pc, err, sizeof(err));
	if (r == 0 && pc->mig_sock >= 0) {
		/* The source stops once it hears this; a failure here leaves it running. */
		r = mig_send_hdr(pc->mig_sock, MIG_RUNNING, 0, 0, MIG_TIMEOUT_MS);
		if (r < 0)
			snprintf(err, sizeof(err), "migration: telling the source: %s", strerror(-r));
		else
			say("migration: the guest runs here");
		close(pc->mig_sock);
		pc->mig_sock = -1;
	}
	if (r < 0) {
		say("%s", err);
		pc_finish(pc, 1);
	} else {
		wait_outcome(pc, shutdown_fd);
	}
	stop_threads(pc);
	status = atomic_load(&pc->exit_status);
	if (pc->opt.verbose)
		say_counts(pc);
	goto out;

fail:
	say("%s", err);
	status = 1;
out:
	if (shutdown_fd >= 0)
		close(shutdown_fd);
	teardown(pc);
	return status;
}
