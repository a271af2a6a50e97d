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
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <crosvm.h>

#include "memory.h"
#include "migrate.h"
#include "pc.h"
#include "snapshot.h"
#include "vmstate.h"

#define MAX_VCPUS 64
#define LINE_MAX_KEEP 512
#define DEFAULT_BIOS "/usr/share/seabios/bios.bin"
#define DEFAULT_EXPECT "No bootable device."
#define IDENTITY_MAP_ADDR 0xfeffc000u
#define MAX_DISK (512ull << 20)
#define MAX_KERNEL (64u << 20)
#define DEFAULT_LINUXBOOT_ROM "/usr/share/qemu/linuxboot_dma.bin"

struct options {
	const char *bios;
	const char *disk;
	const char *expect;
	uint64_t mem_mib;
	double timeout;
	bool stay, quiet, verbose, no_fwcfg, boot_menu, sercon, sync_debugcon;
	bool no_stdin, disk_writable, no_reboot, rtc_thread;
	const char *kernel, *initrd, *append, *linuxboot_rom;
	const char *save, *restore; /* snapshot files */
	double save_after;          /* seconds; 0: only on SIGUSR1 */
	const char *migrate_to, *migrate_listen; /* unix socket paths */
	double migrate_after;
	double migrate_downtime; /* ms the stop-and-copy may take, by the measured bandwidth */
};

struct vcpu_ctx {
	struct pc *pc;
	unsigned int id;
	struct crosvm *conn;
	struct crosvm_vcpu *vcpu;
	pthread_t thread;
	/*
	 * Set by the main thread before it creates the thread (a reset on another vcpu's
	 * thread reads it: a vcpu whose thread is starting must be paused and reset too).
	 */
	atomic_bool started;
	/* What was given at INIT (crosvm.h cannot read CPUID back), and the parked state. */
	struct kvm_cpuid_entry2 *cpuid;
	uint32_t ncpuid;
	struct vcpu_state saved;
};

struct line {
	char buf[LINE_MAX_KEEP];
	size_t len;
};

struct pc {
	struct options opt;
	pthread_mutex_t lock; /* all device models below */
	struct pc_env env;
	struct cmos cmos;
	struct uart uart;
	struct ps2 ps2;
	struct port92 port92;
	struct port61 port61;
	struct pci pci;
	struct fwcfg fwcfg;
	struct ata ata;
	struct pc_memory mem;
	bool have_disk;
	/*
	 * The debug console: re-reserved as an async write range after its first read
	 * (debugcon_go_async(), a host without CROSVM_EXTENSION_RANGE_MODE), or reserved
	 * once with CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ (debugcon_split).
	 */
	bool debugcon_async, debugcon_split;
	/* Accesses to it: all writes, those that stopped the vcpu, and reads (pc->lock). */
	unsigned long debugcon_writes, debugcon_sync_writes, debugcon_reads;
	/*
	 * The host's extensions (crosvm_get_extensions(), read once in setup_vm), and
	 * whether IO_ACCESS events carry the element size and count of string I/O.
	 */
	uint64_t ext;
	bool io_details;
	unsigned long io_strings; /* string I/O events split into their elements (pc->lock) */
	int disk_fd; /* --disk-writable: the image, written through; else -1 */
	uint8_t *ram_map; /* guest RAM as the plugin sees it (fw_cfg DMA), or NULL */
	uint64_t disk_file_sectors;
	struct line lines[PC_CONSOLE_MAX]; /* output not yet written */
	struct line match[PC_CONSOLE_MAX]; /* the current line, for --expect */
	bool mid_line;                     /* stdout does not end with a newline */

	struct crosvm *crosvm;
	unsigned int nvcpus;
	struct vcpu_ctx vcpus[MAX_VCPUS];
	struct kvm_cpuid_entry2 *cpuid;
	uint32_t ncpuid;

	struct crosvm_irq *rtc_irq;
	int rtc_kick_fd; /* wakes the RTC thread when the periodic rate changes */
	/*
	 * Without --rtc-thread (and where the library has crosvm_vcpu_wait_timeout()):
	 * vcpu 0's thread fires the RTC's periodic ticks between its events, and a rate
	 * change kicks it (rtc_rate_changed()).  Set before the threads start.
	 */
	bool rtc_on_vcpu0;
	pthread_t rtc_thread;
	bool rtc_started;

	/* COM1's receiver: stdin, a terminal (raw, Ctrl-A x quits) or a pipe. */
	struct crosvm *input_conn;
	int input_kick_fd; /* room in the receive FIFO, or time to stop */
	pthread_t input_thread;
	bool input_started;

	/*
	 * Guest resets (API 0.23 reset extension): a reset port or a triple
	 * fault reboots the machine (machine_reset()) when the host offers it.
	 */
	bool can_reboot;
	atomic_bool reset_requested; /* by a reset port, for the vcpu thread that wrote it */
	pthread_mutex_t reset_lock;
	pthread_cond_t reset_cond;
	bool resetting;          /* a vcpu is resetting the machine (reset_lock) */
	unsigned int reset_gen;  /* completed machine resets (reset_lock) */
	unsigned int reset_seen; /* vcpus of this reset that reset themselves (reset_lock) */
	bool have_chip_state;    /* the in-kernel PIC, IOAPIC and PIT as created */
	struct kvm_pic_state pic0, pic1;
	struct kvm_ioapic_state ioapic;
	struct kvm_pit_state2 pit;

	int done_fd; /* wakes the main thread when the run is decided */
	atomic_bool stopping;
	atomic_int exit_status; /* -1 until decided */
	atomic_bool matched;
	struct timespec t0;

	/* Snapshots: vcpus park in their PAUSED event while the machine is read. */
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	unsigned int parked;
	int park_err;
	int park_release; /* PARK_HOLD, PARK_RESUME or PARK_LEAVE */
	uint32_t *msr_list;
	uint32_t nmsr;
	int save_fd;      /* SIGUSR1 */
	bool saved;       /* the run ended in a snapshot: the output stream stops exactly there */
	/* --restore: the validated file and what goes into KVM from it. */
	struct snap_file snap;
	struct vm_state vm_restore;
	struct vcpu_state *cpu_restore;
	unsigned int snap_vcpus;
	bool restoring;
	/* Live migration: written pages the dirty log cannot see, the log's buffer, the peer. */
	uint8_t *plugin_dirty, *mig_bitmap;
	int mig_sock;
	char state_path[64];
};

enum { PARK_HOLD = 0, PARK_RESUME, PARK_LEAVE };

static void mark_plugin_dirty(struct pc *pc, uint64_t off, uint64_t len);

/* The connection of the thread that is handling a guest access (one per vcpu thread). */
static __thread struct crosvm *tls_conn;
/* The pause token that tells vcpu threads to leave. */
static int stop_token;
/* The pause token that asks a vcpu to reset itself for a machine reset. */
static int reset_token;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
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

static double elapsed(const struct pc *pc)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - pc->t0.tv_sec) + (double)(t.tv_nsec - pc->t0.tv_nsec) / 1e9;
}

/* Decides the run's outcome (the first decision wins) and wakes the main thread. */
static void pc_finish(struct pc *pc, int status)
{
	int expected = -1;
	uint64_t one = 1;

	if (atomic_compare_exchange_strong(&pc->exit_status, &expected, status))
		if (write(pc->done_fd, &one, sizeof(one)) < 0)
			say("cannot wake the main thread: %s", strerror(errno));
}

static void write_out(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(STDOUT_FILENO, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a closed stdout must not stop the guest */
		p += n;
		len -= (size_t)n;
	}
}

static void flush_line(struct pc *pc, enum pc_console_source src)
{
	struct line *l = &pc->lines[src];

	if (!pc->opt.quiet && l->len) {
		write_out(l->buf, l->len);
		pc->mid_line = l->buf[l->len - 1] != '\n';
	}
	l->len = 0;
}

/* ---- pc_env callbacks (called with pc->lock held) ---- */

static void env_set_irq(void *opaque, unsigned int irq, bool level)
{
	int r;

	(void)opaque;
	if (!tls_conn)
		return;
	r = crosvm_set_irq(tls_conn, irq, level);
	if (r < 0)
		say("set_irq(%u, %d): %s", irq, level, strerror(-r));
}

static void env_pam_changed(void *opaque, const uint8_t pam[7])
{
	struct pc *pc = opaque;
	unsigned long in_place = pc->mem.pam_in_place, remapped = pc->mem.pam_remapped;
	double t;
	int r;

	if (!tls_conn)
		return;
	t = elapsed(pc);
	r = memory_pam_apply(&pc->mem, tls_conn, pam);
	if (pc->opt.verbose)
		say("PAM %02x %02x %02x %02x %02x %02x %02x at %.3f s: %lu segments switched in "
		    "place, %lu remapped, in %.3f s",
		    pam[0], pam[1], pam[2], pam[3], pam[4], pam[5], pam[6], t,
		    pc->mem.pam_in_place - in_place, pc->mem.pam_remapped - remapped,
		    elapsed(pc) - t);
	if (r < 0) {
		say("remapping the BIOS shadow area after a PAM change: %s", strerror(-r));
		pc_finish(pc, 1);
	}
}

static void env_reset(void *opaque, const char *why)
{
	struct pc *pc = opaque;

	if (pc->can_reboot) {
		/* The vcpu thread that made the access reboots once the access is done. */
		say("guest requested a reset (%s) at %.3f s; rebooting", why, elapsed(pc));
		atomic_store(&pc->reset_requested, true);
		return;
	}
	/* No reboot (--no-reboot, or a host without the reset extension): the run ends. */
	say("guest requested a reset (%s) at %.3f s; powering off", why, elapsed(pc));
	pc_finish(pc, atomic_load(&pc->matched) ? 0 : 1);
}

static void env_console(void *opaque, enum pc_console_source src, const uint8_t *buf, size_t len)
{
	struct pc *pc = opaque;
	struct line *out = &pc->lines[src], *m = &pc->match[src];
	size_t elen = strlen(pc->opt.expect);
	size_t i;

	for (i = 0; i < len; i++) {
		char ch = (char)buf[i];

		/* Output is passed on by line (the UART at once: it may be interactive). */
		if (out->len == sizeof(out->buf))
			flush_line(pc, src);
		out->buf[out->len++] = ch;
		if (ch == '\n' || src == PC_CONSOLE_UART)
			flush_line(pc, src);

		/* Matching looks at the current line only; a longer one keeps its tail. */
		if (ch == '\n') {
			m->len = 0;
			continue;
		}
		if (m->len == sizeof(m->buf)) {
			memmove(m->buf, m->buf + sizeof(m->buf) / 2, sizeof(m->buf) / 2);
			m->len = sizeof(m->buf) / 2;
		}
		m->buf[m->len++] = ch;
		if (elen && !atomic_load(&pc->matched) && m->len >= elen &&
		    !memcmp(m->buf + m->len - elen, pc->opt.expect, elen)) {
			atomic_store(&pc->matched, true);
			flush_line(pc, src);
			say("saw \"%s\" after %.3f s", pc->opt.expect, elapsed(pc));
			if (!pc->opt.stay)
				pc_finish(pc, 0);
		}
	}
}

/* ---- guest I/O dispatch ---- */

static void debugcon_go_async(struct pc *pc)
{
	int r;

	/*
	 * The debug console needs a synchronous read once (the firmware checks
	 * for the 0xe9 readback), after which it is write-only.  Async writes
	 * do not stop the vcpu, which makes the firmware's log nearly free.
	 */
	pc->debugcon_async = true;
	r = crosvm_reserve_range(tls_conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 0);
	if (r < 0)
		return;
	r = crosvm_reserve_async_write_range(tls_conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 1);
	if (r < 0) {
		say("debug console stays synchronous: %s", strerror(-r));
		crosvm_reserve_range(tls_conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 1);
	}
}

/*
 * Port B.  The in-kernel PIT counts channel 2 but does not serve this port
 * here, so its output (bit 5, which GRUB polls to calibrate the TSC) is
 * computed from the PIT's state.  The gate bit is only remembered: in the
 * modes firmware uses for delays, KVM's PIT counts regardless.
 */
static void port61_io(struct pc *pc, uint8_t *data, uint32_t len, bool is_write)
{
	struct kvm_pit_state2 st;
	struct pit_channel ch2 = { 0 };
	struct timespec now;
	uint32_t i;
	int r;

	if (is_write) {
		for (i = 0; i < len; i++)
			port61_write(&pc->port61, data[i]);
		return;
	}
	r = crosvm_get_pit_state(tls_conn, &st);
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (r == 0) {
		ch2.mode = st.channels[2].mode;
		ch2.count = st.channels[2].count;
		ch2.load_ns = st.channels[2].count_load_time;
	}
	for (i = 0; i < len; i++)
		data[i] = port61_read(&pc->port61, &ch2,
				      (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
}

/* The RTC's periodic rate may have changed: the thread that times it recomputes it. */
static void rtc_rate_changed(struct pc *pc)
{
	uint64_t one = 1;
	int r;

	if (pc->rtc_on_vcpu0) {
		r = crosvm_vcpu_kick(pc->vcpus[0].vcpu);
		if (r < 0)
			say("cannot kick vcpu 0 for the RTC: %s", strerror(-r));
	} else if (write(pc->rtc_kick_fd, &one, sizeof(one)) < 0) {
		say("cannot wake the RTC thread: %s", strerror(errno));
	}
}

static void pc_io(struct pc *pc, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	unsigned int hz;

	if (port >= 0x3f8 && port <= 0x3ff)
		uart_io(&pc->uart, port, data, len, is_write);
	else if (port >= 0xcf8 && port <= 0xcff)
		pci_io(&pc->pci, port, data, len, is_write);
	else if (port == 0x402) {
		debugcon_io(&pc->env, port, data, len, is_write);
		if (!is_write && !pc->debugcon_async && !pc->debugcon_split &&
		    !pc->opt.sync_debugcon)
			debugcon_go_async(pc);
	} else if (port == 0x60 || port == 0x64)
		ps2_io(&pc->ps2, port, data, len, is_write);
	else if (port == 0x70 || port == 0x71) {
		hz = cmos_periodic_hz(&pc->cmos);
		cmos_io(&pc->cmos, port, data, len, is_write);
		if (cmos_periodic_hz(&pc->cmos) != hz)
			rtc_rate_changed(pc);
	} else if (port == 0x92)
		port92_io(&pc->port92, port, data, len, is_write);
	else if (port == 0x61)
		port61_io(pc, data, len, is_write);
	else if (port == 0x510 || port == 0x511)
		fwcfg_io(&pc->fwcfg, port, data, len, is_write);
	else if (port >= 0x514 && port <= 0x51b)
		fwcfg_dma_io(&pc->fwcfg, port, data, len, is_write);
	else if (pc->have_disk && ((port >= 0x1f0 && port <= 0x1f7) || port == 0x3f6))
		ata_io(&pc->ata, port, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
}

static void handle_io(struct pc *pc, struct crosvm_vcpu_event *ev)
{
	uint8_t *data = ev->io_access.data;
	uint32_t len = ev->io_access.length, size, count, i;
	uint16_t port;

	if (ev->io_access.address_space != CROSVM_ADDRESS_SPACE_IOPORT ||
	    ev->io_access.address > 0xffff || !data) {
		/* We trap no MMIO; anything else reads as a floating bus. */
		if (data && !ev->io_access.is_write)
			memset(data, 0xff, len);
		return;
	}
	port = (uint16_t)ev->io_access.address;
	size = ev->io_access.element_size;
	count = ev->io_access.count;
	pthread_mutex_lock(&pc->lock);
	if (port == 0x402) {
		if (!ev->io_access.is_write)
			pc->debugcon_reads++;
		else if (pc->debugcon_writes++, !ev->io_access.no_resume)
			pc->debugcon_sync_writes++;
	}
	/*
	 * String I/O with its element size known (crosvm_enable_io_details()):
	 * `count` accesses of `size` bytes, each to the same port, so an 8-bit
	 * port sees `rep insb` of two bytes as two reads of itself, not as one
	 * 16-bit access to it and the next port.  The byte streams (the ATA
	 * and fw_cfg data ports) take the whole string at once either way.
	 * Without the details the models guess from the length (pc_io_bytewise()).
	 */
	if (size && count > 1 && (uint64_t)size * count == len && port != 0x1f0 &&
	    port != 0x511) {
		pc->io_strings++;
		for (i = 0; i < count; i++)
			pc_io(pc, port, data + (size_t)i * size, size, ev->io_access.is_write);
	} else {
		pc_io(pc, port, data, len, ev->io_access.is_write);
	}
	pthread_mutex_unlock(&pc->lock);
}

/* ---- vcpus ---- */

/* The pause token that parks vcpus for a snapshot. */
static int park_token;

/* At INIT of a restored machine: the saved state instead of the reset state. */
static int vcpu_restore(struct vcpu_ctx *v)
{
	struct vcpu_state *st = &v->pc->cpu_restore[v->id];
	int r;

	v->cpuid = calloc(st->ncpuid, sizeof(*v->cpuid));
	if (!v->cpuid)
		return -ENOMEM;
	memcpy(v->cpuid, st->cpuid, st->ncpuid * sizeof(*v->cpuid));
	v->ncpuid = st->ncpuid;
	r = vcpu_state_set(v->vcpu, st);
	vcpu_state_free(st);
	return r;
}

/*
 * A PAUSED event for a snapshot: read this vcpu's state, report it, and
 * wait (stopped) until the main thread says whether to resume or leave.
 */
static int vcpu_park(struct vcpu_ctx *v)
{
	struct pc *pc = v->pc;
	const uint32_t *msr_list;
	uint32_t nmsr;
	int r, release;

	/*
	 * The main thread set the MSR list before it asked the host to pause
	 * us; that order runs through another process, so take it from
	 * under the lock the main thread held after writing it.
	 */
	pthread_mutex_lock(&pc->park_lock);
	msr_list = pc->msr_list;
	nmsr = pc->nmsr;
	pthread_mutex_unlock(&pc->park_lock);
	r = vcpu_state_get(v->vcpu, msr_list, nmsr, &v->saved);
	if (!r) {
		free(v->saved.cpuid);
		v->saved.cpuid = calloc(v->ncpuid ? v->ncpuid : 1, sizeof(*v->cpuid));
		if (v->saved.cpuid && v->ncpuid)
			memcpy(v->saved.cpuid, v->cpuid, v->ncpuid * sizeof(*v->cpuid));
		v->saved.ncpuid = v->ncpuid;
		if (!v->saved.cpuid || !v->ncpuid)
			r = -ENODATA;
	}
	pthread_mutex_lock(&pc->park_lock);
	if (r < 0 && !pc->park_err)
		pc->park_err = r;
	pc->parked++;
	pthread_cond_broadcast(&pc->park_cond);
	while (pc->park_release == PARK_HOLD)
		pthread_cond_wait(&pc->park_cond, &pc->park_lock);
	release = pc->park_release;
	pc->parked--;
	pthread_cond_broadcast(&pc->park_cond);
	pthread_mutex_unlock(&pc->park_lock);
	return release;
}

static int vcpu_init(struct vcpu_ctx *v)
{
	struct pc *pc = v->pc;
	struct kvm_cpuid_entry2 *e;
	uint32_t i;
	int r;

	e = calloc(pc->ncpuid, sizeof(*e));
	if (!e)
		return -ENOMEM;
	memcpy(e, pc->cpuid, pc->ncpuid * sizeof(*e));
	/* Firmware counts processors by their initial APIC ids: make each one unique. */
	for (i = 0; i < pc->ncpuid; i++) {
		if (e[i].function == 1)
			e[i].ebx = (e[i].ebx & 0x00ffffff) | (v->id << 24);
		if (e[i].function == 0xb || e[i].function == 0x1f)
			e[i].edx = v->id;
	}
	r = crosvm_vcpu_set_cpuid(v->vcpu, pc->ncpuid, e);
	free(v->cpuid);
	v->cpuid = e;
	v->ncpuid = pc->ncpuid;
	return r;
}

/* ---- machine reset ---- */

/*
 * The devices as at power-on, with pc->lock held: the shadow area's DRAM
 * back to its power-on content and PAM to 0 (write-protected), chipset, CMOS (its shutdown status 0, so the
 * firmware runs a full POST), keyboard controller, UART, disk registers and
 * fw_cfg, the in-kernel PIC, IOAPIC and PIT, and the debug console trapped
 * synchronously again (the firmware probes it with a read).  RAM is kept,
 * as on a real warm reset.
 */
static int devices_reset(struct pc *pc, struct crosvm *conn)
{
	static const uint8_t pam_reset[7];
	void (*rx_space)(void *) = pc->uart.rx_space;
	void *rx_opaque = pc->uart.rx_space_opaque;
	struct ata saved = pc->ata;
	int r;

	pci_init(&pc->pci, &pc->env, pc->have_disk);
	r = memory_shadow_reset(&pc->mem);
	if (r == 0)
		r = memory_pam_apply(&pc->mem, conn, pam_reset);
	if (r < 0) {
		say("reset: restoring the BIOS area: %s", strerror(-r));
		return r;
	}
	cmos_init(&pc->cmos, &pc->env, pc->mem.below_4g, pc->mem.above_4g, pc->nvcpus,
		  pc->have_disk);
	rtc_rate_changed(pc);
	ps2_init(&pc->ps2, &pc->env);
	port92_init(&pc->port92, &pc->env);
	memset(&pc->port61, 0, sizeof(pc->port61));
	uart_init(&pc->uart, &pc->env);
	pc->uart.rx_space = rx_space;
	pc->uart.rx_space_opaque = rx_opaque;
	if (pc->have_disk) {
		ata_init(&pc->ata, &pc->env, saved.disk, saved.nsectors);
		pc->ata.sector_written = saved.sector_written;
		pc->ata.sector_written_opaque = saved.sector_written_opaque;
	}
	pc->fwcfg.selector = 0;
	pc->fwcfg.offset = 0;
	memset(pc->fwcfg.dma_addr, 0, sizeof(pc->fwcfg.dma_addr));
	if (pc->have_chip_state) {
		r = crosvm_set_pic_state(conn, false, &pc->pic0);
		if (r == 0)
			r = crosvm_set_pic_state(conn, true, &pc->pic1);
		if (r == 0)
			r = crosvm_set_ioapic_state(conn, &pc->ioapic);
		if (r == 0)
			r = crosvm_set_pit_state(conn, &pc->pit);
		if (r < 0) {
			say("reset: interrupt controllers and PIT: %s", strerror(-r));
			return r;
		}
	}
	/* Only the 0.22 way changed the reservation (a split one stays as it is). */
	if (pc->debugcon_async) {
		pc->debugcon_async = false;
		r = crosvm_reserve_range(conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 0);
		if (r == 0)
			r = crosvm_reserve_range(conn, CROSVM_ADDRESS_SPACE_IOPORT, 0x402, 1);
		if (r < 0)
			say("reset: debug console: %s", strerror(-r));
	}
	return 0;
}

/* Waits on reset_cond (reset_lock held) for at most 100 ms: stopping must be noticed. */
static void reset_cond_wait(struct pc *pc)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&pc->reset_cond, &pc->reset_lock, &ts);
}

/*
 * Another vcpu is resetting the machine (its reset_token pause, or this
 * vcpu asked for a reset at the same time): reset this vcpu, report it, and
 * wait until the devices are back before resuming.  A pause left over from
 * a reset that is already over is ignored.
 */
static void vcpu_join_reset(struct vcpu_ctx *v)
{
	struct pc *pc = v->pc;
	unsigned int gen;
	int r;

	pthread_mutex_lock(&pc->reset_lock);
	if (!pc->resetting) {
		pthread_mutex_unlock(&pc->reset_lock);
		return;
	}
	gen = pc->reset_gen;
	pthread_mutex_unlock(&pc->reset_lock);
	r = crosvm_vcpu_reset(v->vcpu);
	if (r < 0) {
		say("vcpu %u: reset: %s", v->id, strerror(-r));
		pc_finish(pc, 1);
	}
	pthread_mutex_lock(&pc->reset_lock);
	pc->reset_seen++;
	pthread_cond_broadcast(&pc->reset_cond);
	while (pc->reset_gen == gen && !atomic_load(&pc->stopping))
		reset_cond_wait(pc);
	pthread_mutex_unlock(&pc->reset_lock);
}

/*
 * A machine reset from vcpu v's thread, v stopped: stop and reset every
 * other vcpu (a pause with reset_token), reset the devices and v itself.
 * All vcpus then resume at their power-on state: the first at f000:fff0 in
 * the BIOS ROM, the others waiting for INIT/SIPI.
 */
static void machine_reset(struct vcpu_ctx *v)
{
	struct pc *pc = v->pc;
	uint64_t others = 0;
	unsigned int i, n = 0;
	int r;

	pthread_mutex_lock(&pc->reset_lock);
	if (pc->resetting) {
		pthread_mutex_unlock(&pc->reset_lock);
		vcpu_join_reset(v);
		return;
	}
	pc->resetting = true;
	pc->reset_seen = 0;
	pthread_mutex_unlock(&pc->reset_lock);

	for (i = 0; i < pc->nvcpus; i++) {
		if (i != v->id && atomic_load(&pc->vcpus[i].started)) {
			others |= 1ull << i;
			n++;
		}
	}
	if (others) {
		r = crosvm_pause_vcpus(v->conn, others, &reset_token);
		if (r < 0) {
			say("reset: pause_vcpus: %s", strerror(-r));
			pc_finish(pc, 1);
		}
	}
	pthread_mutex_lock(&pc->reset_lock);
	while (pc->reset_seen < n && !atomic_load(&pc->stopping))
		reset_cond_wait(pc);
	pthread_mutex_unlock(&pc->reset_lock);

	pthread_mutex_lock(&pc->lock);
	r = devices_reset(pc, v->conn);
	pthread_mutex_unlock(&pc->lock);
	if (r == 0)
		r = crosvm_vcpu_reset(v->vcpu);
	if (r < 0) {
		say("vcpu %u: machine reset: %s", v->id, strerror(-r));
		pc_finish(pc, 1);
	}

	pthread_mutex_lock(&pc->reset_lock);
	pc->resetting = false;
	pc->reset_gen++;
	pthread_cond_broadcast(&pc->reset_cond);
	pthread_mutex_unlock(&pc->reset_lock);
}

/* ---- RTC periodic interrupt ---- */

/*
 * One periodic tick.  The flag and its interrupt go together under the lock,
 * so that a snapshot never holds one without the other.  Ticks while the
 * line is still raised are lost, as on real chips.
 */
static void rtc_tick(struct pc *pc)
{
	uint64_t one = 1;

	pthread_mutex_lock(&pc->lock);
	if (cmos_periodic_tick(&pc->cmos) &&
	    write(crosvm_irq_event_get_fd(pc->rtc_irq), &one, sizeof(one)) < 0)
		say("RTC: irqfd: %s", strerror(errno));
	pthread_mutex_unlock(&pc->lock);
}

static int64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* The RTC's periodic timer as vcpu 0's thread keeps it (pc.rtc_on_vcpu0). */
struct rtc_clock {
	unsigned int hz;
	int64_t next; /* CLOCK_MONOTONIC ns of the next tick, when hz */
};

/*
 * vcpu 0's wait for its next event (pc.rtc_on_vcpu0): crosvm_vcpu_wait_timeout()
 * up to the RTC's next periodic tick, which fires here.  A kick (a rate change,
 * rtc_rate_changed()) only makes it look at the rate again.  Ticks that a long
 * event handler made it miss fire once, as the timerfd of the RTC thread does.
 */
static int vcpu0_wait(struct vcpu_ctx *v, struct rtc_clock *rc, struct crosvm_vcpu_event *ev)
{
	struct pc *pc = v->pc;
	int64_t now, period, timeout;
	unsigned int hz;
	int r;

	for (;;) {
		pthread_mutex_lock(&pc->lock);
		hz = cmos_periodic_hz(&pc->cmos);
		pthread_mutex_unlock(&pc->lock);
		now = mono_ns();
		timeout = -1;
		if (hz) {
			period = 1000000000 / hz;
			if (hz != rc->hz) {
				rc->next = now + period;
			} else if (now >= rc->next) {
				rtc_tick(pc);
				rc->next += period;
				if (rc->next <= now)
					rc->next = now + period;
			}
			timeout = rc->next - now;
		}
		rc->hz = hz;
		r = crosvm_vcpu_wait_timeout(v->vcpu, ev, timeout);
		if (r != -ETIMEDOUT && r != -EINTR)
			return r;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu_ctx *v = arg;
	struct pc *pc = v->pc;
	struct crosvm_vcpu_event ev;
	struct rtc_clock rc = { 0, 0 };
	int r;

	tls_conn = v->conn;
	for (;;) {
		memset(&ev, 0, sizeof(ev));
		if (v->id == 0 && pc->rtc_on_vcpu0)
			r = vcpu0_wait(v, &rc, &ev);
		else
			r = crosvm_vcpu_wait(v->vcpu, &ev);
		if (r < 0) {
			if (!atomic_load(&pc->stopping)) {
				say("vcpu %u: wait: %s", v->id, strerror(-r));
				pc_finish(pc, atomic_load(&pc->matched) ? 0 : 1);
			}
			break;
		}
		switch (ev.kind) {
		case CROSVM_VCPU_EVENT_KIND_INIT:
			/* The registers stay at KVM's reset state: only CPUID is ours to give. */
			r = pc->restoring ? vcpu_restore(v) : vcpu_init(v);
			if (r < 0) {
				say("vcpu %u: %s: %s", v->id,
				    pc->restoring ? "restoring its state" : "set_cpuid", strerror(-r));
				pc_finish(pc, 1);
			}
			break;
		case CROSVM_VCPU_EVENT_KIND_IO_ACCESS:
			handle_io(pc, &ev);
			if (ev.io_access.no_resume)
				continue;
			/* A reset port: the access is complete, the machine reboots. */
			if (atomic_exchange(&pc->reset_requested, false))
				machine_reset(v);
			break;
		case CROSVM_VCPU_EVENT_KIND_PAUSED:
			/* Leaving without resuming keeps the vcpu stopped for good. */
			if (ev.user == &stop_token)
				return NULL;
			if (ev.user == &park_token && vcpu_park(v) == PARK_LEAVE)
				return NULL;
			if (ev.user == &reset_token)
				vcpu_join_reset(v);
			break;
		case CROSVM_VCPU_EVENT_KIND_RESET:
			/* Only with crosvm_enable_reset_events(): a triple fault resets the machine. */
			say("triple fault on vcpu %u at %.3f s; rebooting", v->id, elapsed(pc));
			machine_reset(v);
			break;
		default:
			break;
		}
		r = crosvm_vcpu_resume(v->vcpu);
		if (r < 0) {
			if (!atomic_load(&pc->stopping)) {
				say("vcpu %u: resume: %s", v->id, strerror(-r));
				pc_finish(pc, 1);
			}
			break;
		}
	}
	return NULL;
}

/* The RTC's periodic ticks on a thread of their own (--rtc-thread). */
static void *rtc_thread(void *arg)
{
	struct pc *pc = arg;
	struct itimerspec its = { 0 };
	struct pollfd pfd[2];
	unsigned int hz = 0, now;
	uint64_t n;
	int tfd;

	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (tfd < 0) {
		say("RTC: timerfd: %s", strerror(errno));
		return NULL;
	}
	pfd[0].fd = pc->rtc_kick_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = tfd;
	pfd[1].events = POLLIN;
	while (!atomic_load(&pc->stopping)) {
		if (poll(pfd, 2, 200) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN)
			if (read(pc->rtc_kick_fd, &n, sizeof(n)) < 0)
				break;
		if (pfd[1].revents & POLLIN) {
			if (read(tfd, &n, sizeof(n)) < 0)
				continue;
			rtc_tick(pc);
		}
		pthread_mutex_lock(&pc->lock);
		now = cmos_periodic_hz(&pc->cmos);
		pthread_mutex_unlock(&pc->lock);
		if (now != hz) {
			hz = now;
			its.it_value.tv_sec = 0;
			its.it_value.tv_nsec = hz ? 1000000000L / hz : 0;
			its.it_interval = its.it_value;
			timerfd_settime(tfd, 0, &its, NULL);
		}
	}
	close(tfd);
	return NULL;
}

/* ---- COM1 input from stdin ---- */

/* The terminal's mode before raw mode; restored on every way out, signals included. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_raw;

static void tty_restore(void)
{
	if (tty_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
		tty_raw = 0;
	}
}

static void tty_signal(int sig)
{
	/* tcsetattr is async-signal-safe; then die of the signal as if it had no handler. */
	tty_restore();
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Raw input (every key goes to the guest, Ctrl-C included), output still
 * post-processed so that the plugin's own messages end their lines.
 */
static int tty_make_raw(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS,
				    SIGFPE, SIGILL };
	struct termios t;
	unsigned int i;

	if (tcgetattr(STDIN_FILENO, &saved_tty) < 0)
		return -errno;
	t = saved_tty;
	t.c_iflag &= (tcflag_t) ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= (tcflag_t) ~(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	atexit(tty_restore);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], tty_signal);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0)
		return -errno;
	tty_raw = 1;
	return 0;
}

#define ESCAPE_CHAR 0x01 /* Ctrl-A, as in QEMU */

static void input_kick(void *opaque)
{
	struct pc *pc = opaque;
	uint64_t one = 1;

	if (write(pc->input_kick_fd, &one, sizeof(one)) < 0)
		say("cannot wake the console input thread: %s", strerror(errno));
}

/*
 * Feeds stdin to COM1.  Bytes wait here while the receive FIFO is full (no
 * input is lost), and once the line is idle with data below the FIFO's
 * trigger level, the UART gets its character timeout.  On a terminal,
 * Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A, and Ctrl-A h lists these.
 */
static void *input_thread(void *arg)
{
	struct pc *pc = arg;
	bool terminal = isatty(STDIN_FILENO), escape = false, eof = false;
	uint8_t in[256], buf[512];
	size_t len = 0, off = 0, n, i;
	struct pollfd pfd[2];
	ssize_t got;
	uint64_t kicks;

	tls_conn = pc->input_conn;
	while (!atomic_load(&pc->stopping)) {
		bool idle_due;
		int r;

		pthread_mutex_lock(&pc->lock);
		if (off < len) {
			n = uart_receive(&pc->uart, buf + off, len - off);
			off += n;
		}
		idle_due = pc->uart.rx_count && !pc->uart.rx_timeout;
		pthread_mutex_unlock(&pc->lock);
		if (off == len)
			off = len = 0;

		pfd[0] = (struct pollfd){ .fd = pc->input_kick_fd, .events = POLLIN };
		/* Read more only when what was read has gone into the FIFO. */
		pfd[1] = (struct pollfd){ .fd = (len || eof) ? -1 : STDIN_FILENO, .events = POLLIN };
		/* Four characters at 115200 baud take about 0.35 ms; a millisecond is close. */
		r = poll(pfd, 2, idle_due ? 1 : -1);
		if (r < 0 && errno != EINTR)
			break;
		if (r == 0) {
			pthread_mutex_lock(&pc->lock);
			uart_rx_idle(&pc->uart);
			pthread_mutex_unlock(&pc->lock);
			continue;
		}
		if (pfd[0].revents & POLLIN)
			if (read(pc->input_kick_fd, &kicks, sizeof(kicks)) < 0)
				break;
		if (!(pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = read(STDIN_FILENO, in, sizeof(in));
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0) {
			/* End of input: the guest keeps running, as with a closed serial line. */
			eof = true;
			continue;
		}
		for (i = 0; i < (size_t)got; i++) {
			uint8_t ch = in[i];

			if (terminal && escape) {
				escape = false;
				if (ch == 'x' || ch == 'X') {
					say("quit from the console (Ctrl-A x) after %.3f s", elapsed(pc));
					pc_finish(pc, 0);
					return NULL;
				}
				if (ch == 'h' || ch == 'H') {
					say("console keys: Ctrl-A x quit, Ctrl-A Ctrl-A send Ctrl-A");
					continue;
				}
				if (ch != ESCAPE_CHAR)
					buf[len++] = ESCAPE_CHAR;
			} else if (terminal && ch == ESCAPE_CHAR) {
				escape = true;
				continue;
			}
			buf[len++] = ch;
		}
	}
	return NULL;
}

/* ---- setup ---- */

static int setup_fwcfg(struct pc *pc)
{
	struct fwcfg *f = &pc->fwcfg;
	uint64_t ram = pc->mem.ram_size;
	uint16_t ncpu = (uint16_t)pc->nvcpus, menu = pc->opt.boot_menu, nographic = pc->opt.sercon;
	uint32_t id = FWCFG_ID_TRADITIONAL, fail_wait = 0xffffffffu;
	struct __attribute__((packed)) {
		uint64_t addr, len;
		uint32_t type;
	} e820[3];
	unsigned int n = 0;
	int r = 0;

	r |= fwcfg_add(f, FWCFG_SIGNATURE, "QEMU", 4);
	if (f->guest_ptr)
		id |= FWCFG_ID_DMA;
	r |= fwcfg_add(f, FWCFG_ID, &id, sizeof(id));
	r |= fwcfg_add(f, FWCFG_RAM_SIZE, &ram, sizeof(ram));
	r |= fwcfg_add(f, FWCFG_NOGRAPHIC, &nographic, sizeof(nographic));
	r |= fwcfg_add(f, FWCFG_NB_CPUS, &ncpu, sizeof(ncpu));
	r |= fwcfg_add(f, FWCFG_MAX_CPUS, &ncpu, sizeof(ncpu));
	r |= fwcfg_add(f, FWCFG_BOOT_MENU, &menu, sizeof(menu));
	/* Wait forever after "No bootable device." instead of rebooting after 60 s. */
	r |= fwcfg_add_file(f, "etc/boot-fail-wait", &fail_wait, sizeof(fail_wait));
	e820[n++] = (typeof(e820[0])){ 0, pc->mem.below_4g, 1 };
	if (pc->mem.above_4g)
		e820[n++] = (typeof(e820[0])){ PC_4G, pc->mem.above_4g, 1 };
	e820[n++] = (typeof(e820[0])){ IDENTITY_MAP_ADDR, 0x4000, 2 };
	r |= fwcfg_add_file(f, "etc/e820", e820, (uint32_t)(n * sizeof(e820[0])));
	return r ? -EINVAL : 0;
}

/* --disk-writable: every sector the guest writes goes to the image file at once. */
static int disk_write_back(void *opaque, uint64_t lba, const uint8_t *data)
{
	struct pc *pc = opaque;
	ssize_t n;

	if (lba >= pc->disk_file_sectors)
		return 0; /* the padding up to a whole cylinder exists only in memory */
	n = pwrite(pc->disk_fd, data, ATA_SECTOR, (off_t)(lba * ATA_SECTOR));
	if (n != ATA_SECTOR) {
		say("writing sector %" PRIu64 " of %s: %s", lba, pc->opt.disk,
		    n < 0 ? strerror(errno) : "short write");
		return -EIO;
	}
	return 0;
}

/*
 * Reads the disk image, refusing what cannot be one: not a regular file, a
 * size that is no whole number of sectors, no MBR boot signature, or a
 * partition table that points past the end of the file (a truncated copy).
 */
static int load_disk(struct pc *pc, char *err, size_t errlen)
{
	const char *path = pc->opt.disk;
	uint64_t size, nsect, cyl = 16 * 63;
	struct stat st;
	uint8_t *disk;
	unsigned int i;
	ssize_t got;
	int fd;

	fd = open(path, (pc->opt.disk_writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "disk %s: cannot open%s: %s", path,
			 pc->opt.disk_writable ? " for writing" : "", strerror(errno));
		return -ENOENT;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "disk %s: not a regular file", path);
		goto bad;
	}
	size = (uint64_t)st.st_size;
	if (size < ATA_SECTOR || size % ATA_SECTOR) {
		snprintf(err, errlen,
			 "disk %s: %" PRIu64 " bytes is not a whole number of 512-byte sectors "
			 "(truncated?)",
			 path, size);
		goto bad;
	}
	if (size > MAX_DISK) {
		snprintf(err, errlen, "disk %s: %" PRIu64 " bytes is more than the %llu MiB allowed",
			 path, size, MAX_DISK >> 20);
		goto bad;
	}
	/* Whole cylinders of 16 heads x 63 sectors, so CHS and LBA agree on the size. */
	nsect = (size / ATA_SECTOR + cyl - 1) / cyl * cyl;
	disk = calloc(nsect, ATA_SECTOR);
	if (!disk) {
		snprintf(err, errlen, "out of memory for the disk");
		close(fd);
		return -ENOMEM;
	}
	for (uint64_t off = 0; off < size; off += (uint64_t)got) {
		got = pread(fd, disk + off, size - off, (off_t)off);
		if (got <= 0) {
			snprintf(err, errlen, "disk %s: read error: %s", path,
				 got < 0 ? strerror(errno) : "unexpected end of file");
			free(disk);
			goto bad;
		}
	}
	if (disk[510] != 0x55 || disk[511] != 0xaa) {
		snprintf(err, errlen, "disk %s: not a disk image (no 55 aa boot signature in sector 0)",
			 path);
		free(disk);
		goto bad;
	}
	for (i = 0; i < 4; i++) {
		const uint8_t *e = disk + 446 + 16 * i;
		uint32_t first = (uint32_t)e[8] | (uint32_t)e[9] << 8 | (uint32_t)e[10] << 16 |
				 (uint32_t)e[11] << 24;
		uint32_t count = (uint32_t)e[12] | (uint32_t)e[13] << 8 | (uint32_t)e[14] << 16 |
				 (uint32_t)e[15] << 24;

		/* A GPT's protective entry may claim all of a bigger disk. */
		if (!e[4] || !count || (e[4] == 0xee && count == 0xffffffffu))
			continue;
		if ((uint64_t)first + count > size / ATA_SECTOR) {
			snprintf(err, errlen,
				 "disk %s: partition %u ends at sector %" PRIu64 " but the file has "
				 "%" PRIu64 " sectors (truncated?)",
				 path, i + 1, (uint64_t)first + count, size / ATA_SECTOR);
			free(disk);
			goto bad;
		}
	}
	ata_init(&pc->ata, &pc->env, disk, nsect);
	if (pc->opt.disk_writable) {
		pc->disk_fd = fd;
		pc->disk_file_sectors = size / ATA_SECTOR;
		pc->ata.sector_written = disk_write_back;
		pc->ata.sector_written_opaque = pc;
	} else {
		close(fd);
	}
	return 0;
bad:
	close(fd);
	return -EINVAL;
}

/* Reads a whole regular file of at most `max` bytes; one line in `err` otherwise. */
static int read_file(const char *what, const char *path, size_t max, uint8_t **ret,
		     size_t *ret_size, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s %s: cannot open: %s", what, path, strerror(errno));
		return -ENOENT;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s %s: not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s %s: %lld bytes is more than the %zu MiB allowed", what,
			 path, (long long)st.st_size, max >> 20);
		close(fd);
		return -E2BIG;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		snprintf(err, errlen, "%s %s: out of memory", what, path);
		close(fd);
		return -ENOMEM;
	}
	while (off < (size_t)st.st_size) {
		n = pread(fd, buf + off, (size_t)st.st_size - off, (off_t)off);
		if (n <= 0) {
			snprintf(err, errlen, "%s %s: read error: %s", what, path,
				 n < 0 ? strerror(errno) : "file shrank");
			free(buf);
			close(fd);
			return -EIO;
		}
		off += (size_t)n;
	}
	close(fd);
	*ret = buf;
	*ret_size = off;
	return 0;
}

/* fw_cfg DMA's view of guest RAM: below 4 GiB the memfd offset is the address. */
static void *guest_ram(void *opaque, uint64_t gpa, uint64_t len)
{
	struct pc *pc = opaque;
	const struct pc_memory *m = &pc->mem;
	uint64_t off;

	if (gpa < m->below_4g && len <= m->below_4g - gpa)
		off = gpa;
	else if (gpa >= PC_4G && gpa - PC_4G < m->above_4g && len <= m->above_4g - (gpa - PC_4G))
		off = m->below_4g + (gpa - PC_4G);
	else
		return NULL;
	mark_plugin_dirty(pc, off, len);
	return pc->ram_map + off;
}

/*
 * --kernel: the bzImage, initrd and command line go to fw_cfg's kernel
 * items, and QEMU's linuxboot option ROM (which SeaBIOS finds in fw_cfg's
 * "genroms/" and boots first, as "bootorder" says) loads and starts them.
 */
static int setup_kernel(struct pc *pc, char *err, size_t errlen)
{
	const char *append = pc->opt.append ? pc->opt.append : "";
	static const char bootorder[] = "/rom@genroms/linuxboot_dma.bin\n";
	uint8_t *kernel = NULL, *initrd = NULL, *rom = NULL;
	size_t kernel_size, initrd_size = 0, rom_size, alen = strlen(append);
	struct linux_layout l;
	char why[200];
	uint32_t v;
	int r;

	r = read_file("kernel", pc->opt.kernel, MAX_KERNEL, &kernel, &kernel_size, err, errlen);
	if (r < 0)
		return r;
	if (pc->opt.initrd) {
		r = read_file("initrd", pc->opt.initrd, pc->mem.below_4g, &initrd, &initrd_size,
			      err, errlen);
		if (r < 0) {
			if (r == -E2BIG)
				snprintf(err, errlen, "initrd %s: does not fit in %" PRIu64 " MiB of RAM",
					 pc->opt.initrd, pc->opt.mem_mib);
			goto out;
		}
	}
	r = read_file("option ROM", pc->opt.linuxboot_rom, 1u << 20, &rom, &rom_size, err,
		      errlen);
	if (r < 0)
		goto out;
	r = linux_prepare(kernel, kernel_size, initrd_size, alen, pc->mem.below_4g, &l, why,
			  sizeof(why));
	if (r == 0) {
		/* linuxboot_dma copies through fw_cfg DMA, into RAM the plugin maps too. */
		pc->ram_map = mmap(NULL, pc->mem.ram_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   pc->mem.ram_fd, 0);
		if (pc->ram_map == MAP_FAILED) {
			pc->ram_map = NULL;
			snprintf(err, errlen, "mapping guest RAM for fw_cfg DMA: %s",
				 strerror(errno));
			r = -ENOMEM;
			goto out;
		}
		pc->fwcfg.guest_ptr = guest_ram;
		pc->fwcfg.guest_ptr_opaque = pc;
	}
	if (r < 0) {
		if (r == -E2BIG && pc->opt.initrd && strstr(why, "do not fit"))
			snprintf(err, errlen, "initrd %s: %s", pc->opt.initrd, why);
		else
			snprintf(err, errlen, "kernel %s: %s", pc->opt.kernel, why);
		goto out;
	}
	r = 0;
	v = l.setup_addr;
	r |= fwcfg_add(&pc->fwcfg, FWCFG_SETUP_ADDR, &v, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_SETUP_SIZE, &l.setup_size, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_SETUP_DATA, kernel, l.setup_size);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_KERNEL_ADDR, &l.kernel_addr, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_KERNEL_SIZE, &l.kernel_size, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_KERNEL_DATA, kernel + l.setup_size, l.kernel_size);
	v = (uint32_t)alen + 1;
	r |= fwcfg_add(&pc->fwcfg, FWCFG_CMDLINE_ADDR, &l.cmdline_addr, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_CMDLINE_SIZE, &v, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_CMDLINE_DATA, append, v);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_INITRD_ADDR, &l.initrd_addr, 4);
	r |= fwcfg_add(&pc->fwcfg, FWCFG_INITRD_SIZE, &l.initrd_size, 4);
	if (initrd_size)
		r |= fwcfg_add(&pc->fwcfg, FWCFG_INITRD_DATA, initrd, l.initrd_size);
	r |= fwcfg_add_file(&pc->fwcfg, "genroms/linuxboot_dma.bin", rom, (uint32_t)rom_size);
	r |= fwcfg_add_file(&pc->fwcfg, "bootorder", bootorder, sizeof(bootorder) - 1);
	if (r) {
		snprintf(err, errlen, "kernel %s: fw_cfg has no room for it", pc->opt.kernel);
		r = -ENOMEM;
	}
out:
	free(kernel);
	free(initrd);
	free(rom);
	return r;
}

/* ---- snapshots (--save, --restore; the format is in snapshot.h and README.md) ---- */

#define TAG_MACH SNAP_TAG('M', 'A', 'C', 'H')
#define TAG_CPU SNAP_TAG('C', 'P', 'U', ' ')
#define TAG_VM SNAP_TAG('V', 'M', ' ', ' ')
#define TAG_CMOS SNAP_TAG('C', 'M', 'O', 'S')
#define TAG_UART SNAP_TAG('U', 'A', 'R', 'T')
#define TAG_PS2 SNAP_TAG('P', 'S', '2', ' ')
#define TAG_P92 SNAP_TAG('P', '9', '2', ' ')
#define TAG_P61 SNAP_TAG('P', '6', '1', ' ')
#define TAG_PCI SNAP_TAG('P', 'C', 'I', ' ')
#define TAG_FWCF SNAP_TAG('F', 'W', 'C', 'F')
#define TAG_ATA SNAP_TAG('A', 'T', 'A', ' ')
#define TAG_DISK SNAP_TAG('D', 'I', 'S', 'K')
#define TAG_ROM SNAP_TAG('R', 'O', 'M', ' ')
#define TAG_RAM SNAP_TAG('R', 'A', 'M', ' ')

/* MACH flags. */
#define MACH_NO_FWCFG 0x01
#define MACH_DISK 0x02
#define MACH_DISK_FILE 0x04 /* --disk-writable: the image file holds the disk, not the snapshot */
#define MACH_FWCFG_DMA 0x08
#define MACH_DEBUGCON_ASYNC 0x10
#define MACH_FLAGS 0x1f

#define PARK_TIMEOUT_S 5

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The plugin's view of guest RAM, mapped once and kept (fw_cfg DMA uses it too). */
static int map_guest_ram(struct pc *pc)
{
	void *p;

	if (pc->ram_map)
		return 0;
	p = mmap(NULL, pc->mem.ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, pc->mem.ram_fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	pc->ram_map = p;
	return 0;
}

static uint32_t machine_flags(const struct pc *pc)
{
	return (pc->opt.no_fwcfg ? MACH_NO_FWCFG : 0) | (pc->have_disk ? MACH_DISK : 0) |
	       (pc->disk_fd >= 0 ? MACH_DISK_FILE : 0) |
	       (pc->fwcfg.guest_ptr ? MACH_FWCFG_DMA : 0) |
	       (pc->debugcon_async ? MACH_DEBUGCON_ASYNC : 0);
}

/* One device model's section: its X_save() into a buffer, then into the file. */
#define SAVE_DEVICE(w, tag, save, dev)                  \
	do {                                            \
		struct snap_out o_ = { 0 };             \
		save(dev, &o_);                         \
		snap_write_section(w, tag, 1, &o_);     \
		snap_out_free(&o_);                     \
	} while (0)

/*
 * Writes the whole machine to `fd` (vcpus parked, models locked); without
 * `with_ram` the RAM section is empty (a migration sent RAM already).
 */
static int write_machine(struct pc *pc, const struct vm_state *vm, int fd, bool with_ram)
{
	struct snap_writer w;
	struct snap_out o = { 0 };
	uint8_t *rom;
	unsigned int i;
	int r;

	r = map_guest_ram(pc);
	if (r < 0)
		return r;
	rom = mmap(NULL, pc->mem.rom_size, PROT_READ, MAP_SHARED, pc->mem.rom_fd, 0);
	if (rom == MAP_FAILED)
		return -errno;
	snap_write_begin(&w, fd);
	snap_put_u32(&o, pc->nvcpus);
	snap_put_u64(&o, pc->mem.ram_size);
	snap_put_u64(&o, pc->mem.rom_size);
	snap_put_u32(&o, machine_flags(pc));
	snap_put_u64(&o, pc->have_disk ? pc->ata.nsectors : 0);
	snap_write_section(&w, TAG_MACH, 1, &o);
	snap_out_free(&o);
	for (i = 0; i < pc->nvcpus; i++) {
		snap_put_u32(&o, i);
		vcpu_state_save(&pc->vcpus[i].saved, &o);
		snap_write_section(&w, TAG_CPU, 1, &o);
		snap_out_free(&o);
	}
	vm_state_save(vm, &o);
	snap_write_section(&w, TAG_VM, 1, &o);
	snap_out_free(&o);
	SAVE_DEVICE(&w, TAG_CMOS, cmos_save, &pc->cmos);
	SAVE_DEVICE(&w, TAG_UART, uart_save, &pc->uart);
	SAVE_DEVICE(&w, TAG_PS2, ps2_save, &pc->ps2);
	SAVE_DEVICE(&w, TAG_P92, port92_save, &pc->port92);
	SAVE_DEVICE(&w, TAG_P61, port61_save, &pc->port61);
	SAVE_DEVICE(&w, TAG_PCI, pci_save, &pc->pci);
	if (!pc->opt.no_fwcfg)
		SAVE_DEVICE(&w, TAG_FWCF, fwcfg_save, &pc->fwcfg);
	if (pc->have_disk) {
		SAVE_DEVICE(&w, TAG_ATA, ata_save, &pc->ata);
		if (pc->disk_fd < 0)
			vmstate_save_memory(&w, TAG_DISK, pc->ata.disk, pc->ata.nsectors * ATA_SECTOR,
					    -1);
	}
	vmstate_save_memory(&w, TAG_ROM, rom, pc->mem.rom_size, pc->mem.rom_fd);
	vmstate_save_memory(&w, TAG_RAM, pc->ram_map, with_ram ? pc->mem.ram_size : 0,
			    pc->mem.ram_fd);
	r = snap_write_finish(&w);
	munmap(rom, pc->mem.rom_size);
	return r;
}

static int write_snapshot(struct pc *pc, const struct vm_state *vm, char *err, size_t errlen)
{
	const char *path = pc->opt.save;
	int fd, r;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "snapshot %s: cannot create: %s", path, strerror(errno));
		return r;
	}
	r = write_machine(pc, vm, fd, true);
	if (close(fd) < 0 && !r)
		r = -errno;
	if (r < 0)
		snprintf(err, errlen, "snapshot %s: writing: %s", path, strerror(-r));
	return r;
}

static void unpark(struct pc *pc, int how)
{
	pthread_mutex_lock(&pc->park_lock);
	pc->park_release = how;
	pthread_cond_broadcast(&pc->park_cond);
	pthread_mutex_unlock(&pc->park_lock);
}

/*
 * Stops every vcpu in a PAUSED event, where each reads its own state.
 * Returns 0 with all of them parked, or an error (they are resumed).
 */
static int park_vcpus(struct pc *pc, char *err, size_t errlen)
{
	struct timespec deadline;
	uint64_t mask = 0;
	unsigned int i, n = 0;
	int r;

	if (!pc->msr_list) {
		r = vmstate_msr_list(pc->crosvm, &pc->msr_list, &pc->nmsr);
		if (r < 0) {
			snprintf(err, errlen, "snapshot: MSR index list: %s", strerror(-r));
			return r;
		}
	}
	for (i = 0; i < pc->nvcpus; i++)
		if (pc->vcpus[i].started) {
			mask |= 1ull << i;
			n++;
		}
	pthread_mutex_lock(&pc->park_lock);
	pc->park_release = PARK_HOLD;
	pc->park_err = 0;
	pthread_mutex_unlock(&pc->park_lock);
	if (n != pc->nvcpus) {
		snprintf(err, errlen, "snapshot: not every vcpu is running");
		return -EAGAIN;
	}
	r = crosvm_pause_vcpus(pc->crosvm, mask, &park_token);
	if (r < 0) {
		snprintf(err, errlen, "snapshot: pause_vcpus: %s", strerror(-r));
		unpark(pc, PARK_RESUME);
		return r;
	}
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += PARK_TIMEOUT_S;
	r = 0;
	pthread_mutex_lock(&pc->park_lock);
	while (pc->parked < n && r == 0)
		r = pthread_cond_timedwait(&pc->park_cond, &pc->park_lock, &deadline);
	if (pc->parked < n) {
		snprintf(err, errlen, "snapshot: %u of %u vcpus stopped within %d s", pc->parked, n,
			 PARK_TIMEOUT_S);
		r = -ETIMEDOUT;
	} else if (pc->park_err) {
		r = pc->park_err;
		snprintf(err, errlen, "snapshot: reading vcpu state: %s", strerror(-r));
	}
	pthread_mutex_unlock(&pc->park_lock);
	if (r < 0)
		unpark(pc, PARK_RESUME);
	return r;
}

/* --save: park, write, and on success end the run with status 0; else the guest goes on. */
static int save_machine(struct pc *pc)
{
	struct vm_state vm;
	char err[300];
	double t0 = now_s(), t1;
	int r;

	r = park_vcpus(pc, err, sizeof(err));
	if (r < 0) {
		say("%s; the guest goes on", err);
		return r;
	}
	t1 = now_s();
	pthread_mutex_lock(&pc->lock);
	r = vm_state_get(pc->crosvm, &vm);
	if (r < 0)
		snprintf(err, sizeof(err), "snapshot: reading the VM state: %s", strerror(-r));
	else
		r = write_snapshot(pc, &vm, err, sizeof(err));
	pthread_mutex_unlock(&pc->lock);
	if (r < 0) {
		unpark(pc, PARK_RESUME);
		say("%s; the guest goes on", err);
		return r;
	}
	pc->saved = true;
	unpark(pc, PARK_LEAVE);
	say("saved the machine to %s at %.3f s: vcpus stopped in %.1f ms, written in %.1f ms",
	    pc->opt.save, elapsed(pc), (t1 - t0) * 1e3, (now_s() - t1) * 1e3);
	return 0;
}

static volatile sig_atomic_t save_signal_fd = -1;

static void save_signal(int sig)
{
	uint64_t one = 1;

	(void)sig;
	if (save_signal_fd >= 0 && write(save_signal_fd, &one, sizeof(one)) < 0)
		return;
}

/* ---- restoring: the whole file is checked before anything reaches KVM ---- */

static int bad_section(const char *path, uint32_t tag, char *err, size_t errlen)
{
	char t[5];

	snprintf(err, errlen, "%s: corrupted snapshot (section %s does not hold what it should)",
		 path, snap_tag_name(tag, t));
	return -EINVAL;
}

/* A device model's section into its X_restore(); a refusal is a corrupted file. */
#define RESTORE_DEVICE(pc, tag, load, dev, err, errlen)                               \
	({                                                                               \
		const struct snap_section *s_ = snap_find(&(pc)->snap, tag, 0);           \
		struct snap_in in_;                                                      \
		snap_in_init(&in_, s_->data, s_->len);                                   \
		load(dev, &in_) < 0 ? bad_section((pc)->opt.restore, tag, err, errlen) : 0; \
	})

/* Which sections a machine with `flags` has, and how many of each. */
static unsigned int sections_wanted(uint32_t tag, uint32_t flags, uint32_t ncpu)
{
	switch (tag) {
	case TAG_MACH:
	case TAG_VM:
	case TAG_CMOS:
	case TAG_UART:
	case TAG_PS2:
	case TAG_P92:
	case TAG_P61:
	case TAG_PCI:
	case TAG_ROM:
	case TAG_RAM:
	case SNAP_TAG_END:
		return 1;
	case TAG_CPU:
		return ncpu;
	case TAG_FWCF:
		return !(flags & MACH_NO_FWCFG);
	case TAG_ATA:
		return (flags & MACH_DISK) != 0;
	case TAG_DISK:
		return (flags & MACH_DISK) && !(flags & MACH_DISK_FILE);
	default:
		return 0;
	}
}

static int check_sections(struct pc *pc, uint32_t flags, uint32_t ncpu, char *err, size_t errlen)
{
	static const uint32_t tags[] = { TAG_MACH, TAG_CPU,  TAG_VM,  TAG_CMOS, TAG_UART,
					 TAG_PS2,  TAG_P92,  TAG_P61, TAG_PCI,	TAG_FWCF,
					 TAG_ATA,  TAG_DISK, TAG_ROM, TAG_RAM,	SNAP_TAG_END };
	const char *path = pc->opt.restore;
	unsigned int i, j, known;
	char t[5];

	for (i = 0; i < pc->snap.nsect; i++) {
		const struct snap_section *s = &pc->snap.sect[i];

		for (j = 0, known = 0; j < sizeof(tags) / sizeof(tags[0]); j++)
			known |= tags[j] == s->tag;
		if (!known || s->version != 1) {
			snprintf(err, errlen, "%s: section %s version %u is not one this pc knows",
				 path, snap_tag_name(s->tag, t), s->version);
			return -EINVAL;
		}
	}
	for (j = 0; j < sizeof(tags) / sizeof(tags[0]); j++) {
		unsigned int want = sections_wanted(tags[j], flags, ncpu);

		if (snap_count(&pc->snap, tags[j]) != want) {
			snprintf(err, errlen, "%s: corrupted snapshot (%u %s sections, expected %u)",
				 path, snap_count(&pc->snap, tags[j]), snap_tag_name(tags[j], t),
				 want);
			return -EINVAL;
		}
	}
	return 0;
}

/* The disk of a restored machine: the snapshot's copy, or the image file given again. */
static int restore_disk(struct pc *pc, uint32_t flags, uint64_t nsect, char *err, size_t errlen)
{
	const char *path = pc->opt.restore;
	uint8_t *disk;
	int r;

	if (flags & MACH_DISK_FILE) {
		if (!pc->opt.disk || !pc->opt.disk_writable) {
			snprintf(err, errlen,
				 "%s: the machine wrote through to its disk image: give it again with "
				 "--disk IMAGE --disk-writable",
				 path);
			return -EINVAL;
		}
		r = load_disk(pc, err, errlen);
		if (r < 0)
			return r;
		if (pc->ata.nsectors != nsect) {
			snprintf(err, errlen, "disk %s: %" PRIu64 " sectors, the snapshot's disk had %" PRIu64,
				 pc->opt.disk, pc->ata.nsectors, nsect);
			return -EINVAL;
		}
		return 0;
	}
	if (pc->opt.disk) {
		snprintf(err, errlen, "%s: the snapshot carries its own disk: drop --disk", path);
		return -EINVAL;
	}
	if (vmstate_check_memory(snap_find(&pc->snap, TAG_DISK, 0), nsect * ATA_SECTOR) < 0)
		return bad_section(path, TAG_DISK, err, errlen);
	disk = calloc(nsect, ATA_SECTOR);
	if (!disk) {
		snprintf(err, errlen, "out of memory for the disk");
		return -ENOMEM;
	}
	vmstate_load_memory(snap_find(&pc->snap, TAG_DISK, 0), disk);
	ata_init(&pc->ata, &pc->env, disk, nsect);
	return 0;
}

static int load_snapshot(struct pc *pc, char *err, size_t errlen)
{
	const char *path = pc->opt.restore;
	const struct snap_section *s;
	struct snap_in in;
	uint64_t ram, rom, nsect;
	uint32_t ncpu, flags, i;
	uint8_t *rom_map;
	int r;

	r = snap_open(path, &pc->snap, err, errlen);
	if (r < 0)
		return r;
	s = snap_find(&pc->snap, TAG_MACH, 0);
	if (!s)
		return bad_section(path, TAG_MACH, err, errlen);
	snap_in_init(&in, s->data, s->len);
	ncpu = snap_get_u32(&in);
	ram = snap_get_u64(&in);
	rom = snap_get_u64(&in);
	flags = snap_get_u32(&in);
	nsect = snap_get_u64(&in);
	if (!snap_in_ok(&in) || !ncpu || ncpu > MAX_VCPUS || ram < (16ull << 20) ||
	    ram > (1ull << 40) || ram % (1u << 20) || rom < 0x10000 || rom > (16u << 20) ||
	    rom % 4096 || (flags & ~MACH_FLAGS) ||
	    (!!(flags & MACH_DISK) != !!nsect) || nsect > MAX_DISK / ATA_SECTOR + 16 * 63 ||
	    nsect % (16 * 63))
		return bad_section(path, TAG_MACH, err, errlen);
	r = check_sections(pc, flags, ncpu, err, errlen);
	if (r < 0)
		return r;
	if (vmstate_check_memory(snap_find(&pc->snap, TAG_RAM, 0), ram) < 0)
		return bad_section(path, TAG_RAM, err, errlen);
	if (vmstate_check_memory(snap_find(&pc->snap, TAG_ROM, 0), rom) < 0)
		return bad_section(path, TAG_ROM, err, errlen);

	pc->cpu_restore = calloc(ncpu, sizeof(*pc->cpu_restore));
	if (!pc->cpu_restore) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pc->snap_vcpus = ncpu;
	for (i = 0; i < ncpu; i++) {
		struct vcpu_state st;
		uint32_t id;

		s = snap_find(&pc->snap, TAG_CPU, i);
		snap_in_init(&in, s->data, s->len);
		id = snap_get_u32(&in);
		r = vcpu_state_restore(&st, &in);
		if (r < 0 || id >= ncpu || pc->cpu_restore[id].cpuid) {
			vcpu_state_free(&st);
			return bad_section(path, TAG_CPU, err, errlen);
		}
		pc->cpu_restore[id] = st;
	}
	s = snap_find(&pc->snap, TAG_VM, 0);
	snap_in_init(&in, s->data, s->len);
	if (vm_state_restore(&pc->vm_restore, &in) < 0)
		return bad_section(path, TAG_VM, err, errlen);

	/* The models, built as at power-on and then given their saved registers. */
	pc->opt.no_fwcfg = flags & MACH_NO_FWCFG;
	pc->have_disk = flags & MACH_DISK;
	pc->debugcon_async = flags & MACH_DEBUGCON_ASYNC;
	pc->opt.mem_mib = ram >> 20;
	cmos_init(&pc->cmos, &pc->env, ram < PC_PCI_HOLE ? ram : PC_PCI_HOLE,
		  ram < PC_PCI_HOLE ? 0 : ram - PC_PCI_HOLE, ncpu, pc->have_disk);
	uart_init(&pc->uart, &pc->env);
	ps2_init(&pc->ps2, &pc->env);
	port92_init(&pc->port92, &pc->env);
	pci_init(&pc->pci, &pc->env, pc->have_disk);
	r = RESTORE_DEVICE(pc, TAG_CMOS, cmos_restore, &pc->cmos, err, errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_UART, uart_restore, &pc->uart, err, errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_PS2, ps2_restore, &pc->ps2, err, errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_P92, port92_restore, &pc->port92, err,
				   errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_P61, port61_restore, &pc->port61, err,
				   errlen);
	if (!r)
		r = RESTORE_DEVICE(pc, TAG_PCI, pci_restore, &pc->pci, err, errlen);
	if (!r && !pc->opt.no_fwcfg)
		r = RESTORE_DEVICE(pc, TAG_FWCF, fwcfg_restore, &pc->fwcfg, err,
				   errlen);
	if (!r && pc->have_disk) {
		r = restore_disk(pc, flags, nsect, err, errlen);
		if (!r)
			r = RESTORE_DEVICE(pc, TAG_ATA, ata_restore, &pc->ata, err,
					   errlen);
	}
	if (r < 0)
		return r;

	/* Guest memory: fresh zeroed memfds (or those a migration filled), then the saved pages. */
	if (pc->mem.ram_fd >= 0 && (pc->mem.ram_size != ram || pc->mem.rom_size != rom))
		return bad_section(path, TAG_MACH, err, errlen);
	r = pc->mem.ram_fd >= 0 ? 0 : memory_create(&pc->mem, ram, rom);
	if (r == 0)
		r = map_guest_ram(pc);
	if (r < 0) {
		snprintf(err, errlen, "guest memory for the snapshot: %s", strerror(-r));
		return r;
	}
	vmstate_load_memory(snap_find(&pc->snap, TAG_RAM, 0), pc->ram_map);
	rom_map = mmap(NULL, rom, PROT_READ | PROT_WRITE, MAP_SHARED, pc->mem.rom_fd, 0);
	if (rom_map == MAP_FAILED) {
		snprintf(err, errlen, "mapping the firmware: %s", strerror(errno));
		return -ENOMEM;
	}
	vmstate_load_memory(snap_find(&pc->snap, TAG_ROM, 0), rom_map);
	munmap(rom_map, rom);
	if (flags & MACH_FWCFG_DMA) {
		pc->fwcfg.guest_ptr = guest_ram;
		pc->fwcfg.guest_ptr_opaque = pc;
	}
	snap_close(&pc->snap);
	pc->restoring = true;
	return 0;
}

/* Before crosvm_start(): the irqchip, PIT and clock, and the lines the models hold high. */
static int restore_vm(struct pc *pc, char *err, size_t errlen)
{
	const struct { bool high; unsigned int irq; } lines[] = {
		{ pc->uart.irq_level, 4 },
		{ pc->ps2.irq1, 1 },
		{ pc->ps2.irq12, 12 },
		{ pc->have_disk && pc->ata.irq_level, 14 },
	};
	unsigned int i;
	int r;

	if (pc->nvcpus != pc->snap_vcpus) {
		snprintf(err, errlen,
			 "the snapshot has %u vcpus but the host gave %u (plugvm run --cpus %u)",
			 pc->snap_vcpus, pc->nvcpus, pc->snap_vcpus);
		return -EINVAL;
	}
	r = memory_pam_apply(&pc->mem, pc->crosvm, pc->pci.pam);
	if (r < 0) {
		snprintf(err, errlen, "mapping the shadow area as saved: %s", strerror(-r));
		return r;
	}
	r = vm_state_set(pc->crosvm, &pc->vm_restore);
	if (r < 0) {
		snprintf(err, errlen, "restoring the irqchip, PIT and clock: %s", strerror(-r));
		return r;
	}
	/*
	 * KVM keeps each line's level outside the irqchip state.  A level-
	 * triggered line the models hold high must be raised again; an edge-
	 * triggered one must not (its edge is already in IRR or ISR), and the
	 * model's next change reaches KVM as usual.
	 */
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if (!lines[i].high || !vm_state_line_is_level(&pc->vm_restore, lines[i].irq))
			continue;
		r = crosvm_set_irq(pc->crosvm, lines[i].irq, true);
		if (r < 0) {
			snprintf(err, errlen, "raising IRQ %u again: %s", lines[i].irq, strerror(-r));
			return r;
		}
	}
	return 0;
}

/* ---- live migration (--migrate-to, --migrate-listen; the stream is in migrate.h) ---- */

#define MIG_TIMEOUT_MS 10000     /* the longest a peer may stay silent */
#define MIG_START_TIMEOUT_MS 30000 /* for the destination to start the guest */
#define MIG_DEFAULT_DOWNTIME_MS 50.0
#define MIG_MAX_ROUNDS 20        /* the stop-and-copy bound for a guest that keeps dirtying */
/*
 * A round looks at what the guest dirtied in at least this long: a round
 * that takes microseconds would always look converged, even for a guest
 * that dirties everything it touches within a few milliseconds.
 */
#define MIG_ROUND_MIN_S 0.010
#define MIG_MAX_STATE (1ull << 30)

struct mig_stats {
	uint64_t bytes, pages, zero_pages;
	unsigned int rounds;
	uint64_t last_dirty;
	double send_s; /* time spent reading and sending pages, not finding them */
};

/*
 * Sends RAM pages [first, first + n) (memfd page numbers): non-zero runs as
 * MIG_PAGES, zero runs as MIG_ZERO unless `skip_zero` (the destination
 * starts with zeros, so the first round never sends them).
 */
static int mig_send_range(struct pc *pc, int sock, uint64_t first, uint64_t n, bool skip_zero,
			  struct mig_stats *st)
{
	uint64_t p = first, end = first + n;
	double t = now_s();
	int r = 0;

	while (p < end) {
		bool zero = vmstate_page_is_zero(pc->ram_map + p * MIG_PAGE);
		uint64_t q = p + 1;

		while (q < end && q - p < MIG_MAX_RUN &&
		       vmstate_page_is_zero(pc->ram_map + q * MIG_PAGE) == zero)
			q++;
		if (zero) {
			st->zero_pages += q - p;
			if (!skip_zero) {
				r = mig_send_hdr(sock, MIG_ZERO, (uint32_t)(q - p), p * MIG_PAGE,
						 MIG_TIMEOUT_MS);
				if (r < 0)
					break;
				st->bytes += sizeof(struct mig_hdr);
			}
		} else {
			r = mig_send_hdr(sock, MIG_PAGES, (uint32_t)(q - p), p * MIG_PAGE,
					 MIG_TIMEOUT_MS);
			if (!r)
				r = mig_send(sock, pc->ram_map + p * MIG_PAGE, (q - p) * MIG_PAGE,
					     MIG_TIMEOUT_MS);
			if (r < 0)
				break;
			st->bytes += sizeof(struct mig_hdr) + (q - p) * MIG_PAGE;
			st->pages += q - p;
		}
		p = q;
	}
	st->send_s += now_s() - t;
	return r;
}

static bool bit(const uint8_t *map, uint64_t i)
{
	return (map[i / 8] >> (i % 8)) & 1;
}

/* Whether bits [i, i + 64) of `map` are all clear (i a multiple of 8). */
static bool word_clear(const uint8_t *map, uint64_t i)
{
	uint64_t w;

	memcpy(&w, map + i / 8, sizeof(w));
	return !w;
}

/*
 * One pre-copy round: the pages KVM logged as written since the last one,
 * plus those the plugin wrote itself (fw_cfg DMA).  With sock -1 the logs
 * are only cleared.  *ndirty gets the number of dirty pages.  `locked`: the
 * caller holds the models' lock (which guards plugin_dirty).
 */
static int mig_dirty_round(struct pc *pc, int sock, struct mig_stats *st, uint64_t *ndirty,
			   bool locked)
{
	const struct pc_memory *m = &pc->mem;
	const struct {
		struct crosvm_memory *obj;
		uint64_t off, len;
	} objs[] = {
		{ m->low, 0, 0xa0000 },
		{ m->mid, PC_SHADOW_END, m->below_4g - PC_SHADOW_END },
		{ m->high, m->below_4g, m->above_4g },
	};
	uint64_t total = 0, pages, i, run;
	unsigned int k;
	int r = 0;

	for (k = 0; k < sizeof(objs) / sizeof(objs[0]) && !r; k++) {
		if (!objs[k].obj)
			continue;
		pages = objs[k].len / MIG_PAGE;
		memset(pc->mig_bitmap, 0, (pages + 7) / 8);
		r = crosvm_memory_get_dirty_log(pc->crosvm, objs[k].obj, pc->mig_bitmap);
		if (r < 0)
			return r;
		if (!locked)
			pthread_mutex_lock(&pc->lock);
		for (i = 0; i < pages; i++) {
			uint64_t pg = objs[k].off / MIG_PAGE + i;

			/* A 16 GiB guest has 4 Mi pages: skip the clear words whole. */
			if (!(pg % 64) && i + 64 <= pages && word_clear(pc->plugin_dirty, pg)) {
				i += 63;
				continue;
			}
			if (bit(pc->plugin_dirty, pg)) {
				pc->mig_bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
				pc->plugin_dirty[pg / 8] &= (uint8_t)~(1u << (pg % 8));
			}
		}
		if (!locked)
			pthread_mutex_unlock(&pc->lock);
		for (i = 0; i < pages && !r; i += run) {
			run = 1;
			if (!(i % 64) && i + 64 <= pages && word_clear(pc->mig_bitmap, i)) {
				run = 64;
				continue;
			}
			if (!bit(pc->mig_bitmap, i))
				continue;
			while (i + run < pages && bit(pc->mig_bitmap, i + run))
				run++;
			total += run;
			if (sock >= 0)
				r = mig_send_range(pc, sock, objs[k].off / MIG_PAGE + i, run, false, st);
		}
	}
	*ndirty = total;
	return r;
}

/* The first round: every page that is not zero (a memfd's holes unread). */
static int mig_first_round(struct pc *pc, int sock, struct mig_stats *st)
{
	uint64_t off = 0, start, end, size = pc->mem.ram_size;
	int r;

	while (off < size) {
		vmstate_data_extent(pc->mem.ram_fd, off, size, &start, &end);
		if (start >= size)
			break;
		r = mig_send_range(pc, sock, start / MIG_PAGE, (end - start) / MIG_PAGE, true, st);
		if (r < 0)
			return r;
		off = end;
	}
	return 0;
}

/* The stop-and-copy: vcpus parked and models locked by the caller. */
static int mig_final(struct pc *pc, int sock, struct mig_stats *st, char *err, size_t errlen)
{
	struct vm_state vm;
	uint64_t n, size;
	uint8_t *blob;
	int fd, r;

	r = mig_dirty_round(pc, sock, st, &n, true);
	if (!r)
		r = mig_send_range(pc, sock, PC_SHADOW_START / MIG_PAGE,
				   (PC_SHADOW_END - PC_SHADOW_START) / MIG_PAGE, false, st);
	if (r < 0) {
		snprintf(err, errlen, "sending the last pages: %s", strerror(-r));
		return r;
	}
	st->last_dirty = n;
	r = vm_state_get(pc->crosvm, &vm);
	if (r < 0) {
		snprintf(err, errlen, "reading the VM state: %s", strerror(-r));
		return r;
	}
	fd = memfd_create("pc-migration-state", MFD_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "memfd: %s", strerror(errno));
		return -errno;
	}
	r = write_machine(pc, &vm, fd, false);
	size = r < 0 ? 0 : (uint64_t)lseek(fd, 0, SEEK_END);
	blob = r < 0 ? MAP_FAILED : mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (blob == MAP_FAILED) {
		snprintf(err, errlen, "writing the machine state: %s",
			 strerror(r < 0 ? -r : errno));
		return r < 0 ? r : -ENOMEM;
	}
	r = mig_send_hdr(sock, MIG_STATE, 0, size, MIG_TIMEOUT_MS);
	if (!r)
		r = mig_send(sock, blob, size, MIG_TIMEOUT_MS);
	munmap(blob, size);
	st->bytes += sizeof(struct mig_hdr) + size;
	if (r < 0)
		snprintf(err, errlen, "sending the machine state: %s", strerror(-r));
	return r;
}

/*
 * --migrate-to: pre-copy while the guest runs, then stop and copy.  On
 * success the run ends with status 0; on any failure the guest goes on here.
 */
static int migrate_machine(struct pc *pc)
{
	const char *path = pc->opt.migrate_to;
	struct mig_stats st = { 0 };
	double t0 = now_s(), tstop = 0, round_start, sent_before, scan_s, rate;
	uint8_t hello[8];
	struct mig_hdr h;
	char err[300] = "";
	bool parked = false;
	uint64_t n = 0;
	int sock, r;

	r = map_guest_ram(pc);
	if (r < 0) {
		say("migration to %s: mapping guest RAM: %s; the guest goes on here", path,
		    strerror(-r));
		return r;
	}
	sock = mig_connect(path);
	if (sock < 0) {
		say("migration to %s: cannot connect: %s; the guest goes on here", path,
		    strerror(-sock));
		return sock;
	}
	for (unsigned int i = 0; i < 8; i++)
		hello[i] = (uint8_t)(pc->mem.rom_size >> (8 * i));
	r = mig_send(sock, MIG_MAGIC, 8, MIG_TIMEOUT_MS);
	if (!r)
		r = mig_send_hdr(sock, MIG_HELLO, MIG_VERSION, pc->mem.ram_size, MIG_TIMEOUT_MS);
	if (!r)
		r = mig_send(sock, hello, sizeof(hello), MIG_TIMEOUT_MS);
	/* The log starts now: what the guest writes from here on goes again. */
	round_start = now_s();
	if (!r)
		r = mig_dirty_round(pc, -1, &st, &n, false);
	if (!r)
		r = mig_first_round(pc, sock, &st);
	if (r < 0) {
		snprintf(err, sizeof(err), "first round: %s", strerror(-r));
		goto fail;
	}
	for (st.rounds = 1; st.rounds < MIG_MAX_ROUNDS; st.rounds++) {
		double wait = round_start + MIG_ROUND_MIN_S - now_s();

		if (wait > 0) {
			struct timespec ts = { 0, (long)(wait * 1e9) };

			nanosleep(&ts, NULL);
		}
		round_start = now_s();
		sent_before = st.send_s;
		r = mig_dirty_round(pc, sock, &st, &n, false);
		if (r < 0) {
			snprintf(err, sizeof(err), "round %u: %s", st.rounds + 1, strerror(-r));
			goto fail;
		}
		/*
		 * Converged when finding the dirty pages (the dirty log and the
		 * bitmap walk, which the stop-and-copy repeats) plus sending what
		 * the last round found, at the rate seen so far, fit in half the
		 * allowed downtime (the other half is for the state and the
		 * destination's start).
		 */
		scan_s = now_s() - round_start - (st.send_s - sent_before);
		rate = (double)st.bytes / (st.send_s > 1e-6 ? st.send_s : 1e-6);
		if (scan_s + (double)n * MIG_PAGE / rate <= pc->opt.migrate_downtime / 2e3)
			break;
	}
	if (pc->opt.verbose)
		say("migration: %u pre-copy rounds, the last with %" PRIu64 " dirty pages",
		    st.rounds, n);
	tstop = now_s();
	r = park_vcpus(pc, err, sizeof(err));
	if (r < 0)
		goto fail;
	parked = true;
	pthread_mutex_lock(&pc->lock);
	r = mig_final(pc, sock, &st, err, sizeof(err));
	pthread_mutex_unlock(&pc->lock);
	if (r < 0)
		goto fail;
	r = mig_recv_hdr(sock, &h, MIG_START_TIMEOUT_MS);
	if (r < 0 || h.type != MIG_RUNNING) {
		snprintf(err, sizeof(err), "the destination did not start the guest (%s)",
			 r < 0 ? strerror(-r) : "unexpected answer");
		r = r < 0 ? r : -EPROTO;
		goto fail;
	}
	close(sock);
	pc->saved = true;
	unpark(pc, PARK_LEAVE);
	say("migrated to %s: %u rounds%s, %.1f MiB sent (%" PRIu64 " pages, %" PRIu64
	    " zero pages not sent), downtime %.1f ms, total %.3f s",
	    path, st.rounds + 1, st.rounds >= MIG_MAX_ROUNDS ? " (stop-and-copy bound)" : "",
	    (double)st.bytes / (1 << 20), st.pages, st.zero_pages, (now_s() - tstop) * 1e3,
	    now_s() - t0);
	return 0;

fail:
	if (parked)
		unpark(pc, PARK_RESUME);
	close(sock);
	say("migration to %s failed: %s; the guest goes on here", path, err);
	return r < 0 ? r : -EIO;
}

/* Marks pages the plugin itself wrote into guest RAM (called with the models' lock). */
static void mark_plugin_dirty(struct pc *pc, uint64_t off, uint64_t len)
{
	uint64_t p;

	if (!pc->plugin_dirty || !len)
		return;
	for (p = off / MIG_PAGE; p <= (off + len - 1) / MIG_PAGE; p++)
		pc->plugin_dirty[p / 8] |= (uint8_t)(1u << (p % 8));
}

/*
 * --migrate-listen: one connection, guest RAM straight into a new memfd,
 * then the machine state, loaded as a snapshot.  Nothing reaches KVM before
 * the whole stream is in and checked.
 */
static int receive_migration(struct pc *pc, char *err, size_t errlen)
{
	const char *path = pc->opt.migrate_listen;
	uint8_t magic[8], rom[8];
	struct mig_hdr h;
	uint64_t ram, rom_size = 0, got_pages = 0;
	int lfd, sock, r, state_fd;
	uint8_t *state;
	double t0;

	lfd = mig_listen(path);
	if (lfd < 0) {
		snprintf(err, errlen, "--migrate-listen %s: %s", path, strerror(-lfd));
		return lfd;
	}
	say("waiting for a migration on %s", path);
	sock = mig_accept(lfd, pc->opt.timeout > 0 ? (int)(pc->opt.timeout * 1000) : -1);
	close(lfd);
	unlink(path);
	if (sock < 0) {
		snprintf(err, errlen, "--migrate-listen %s: %s", path,
			 sock == -ETIMEDOUT ? "no source came" : strerror(-sock));
		return sock;
	}
	t0 = now_s();
	r = mig_recv(sock, magic, sizeof(magic), MIG_TIMEOUT_MS);
	if (!r && memcmp(magic, MIG_MAGIC, 8))
		r = -EPROTO;
	if (!r)
		r = mig_recv_hdr(sock, &h, MIG_TIMEOUT_MS);
	if (!r && (h.type != MIG_HELLO || h.count != MIG_VERSION))
		r = -EPROTO;
	if (!r)
		r = mig_recv(sock, rom, sizeof(rom), MIG_TIMEOUT_MS);
	ram = h.offset;
	for (unsigned int i = 0; i < 8; i++)
		rom_size |= (uint64_t)rom[i] << (8 * i);
	if (!r && (ram < (16ull << 20) || ram > (1ull << 40) || ram % (1u << 20) ||
		   rom_size < 0x10000 || rom_size > (16u << 20) || rom_size % MIG_PAGE))
		r = -EPROTO;
	if (r < 0) {
		snprintf(err, errlen, "migration: %s", r == -EPROTO ? "not a pc migration stream"
								  : strerror(-r));
		close(sock);
		return r;
	}
	r = memory_create(&pc->mem, ram, rom_size);
	if (!r)
		r = map_guest_ram(pc);
	if (r < 0) {
		snprintf(err, errlen, "migration: guest memory: %s", strerror(-r));
		close(sock);
		return r;
	}
	for (;;) {
		r = mig_recv_hdr(sock, &h, MIG_TIMEOUT_MS);
		if (r < 0)
			break;
		if (h.type == MIG_PAGES || h.type == MIG_ZERO) {
			if (h.offset % MIG_PAGE || !h.count || h.count > MIG_MAX_RUN ||
			    h.offset > ram || (uint64_t)h.count * MIG_PAGE > ram - h.offset) {
				r = -EPROTO;
				break;
			}
			if (h.type == MIG_ZERO) {
				memset(pc->ram_map + h.offset, 0, (size_t)h.count * MIG_PAGE);
				continue;
			}
			r = mig_recv(sock, pc->ram_map + h.offset, (size_t)h.count * MIG_PAGE,
				     MIG_TIMEOUT_MS);
			if (r < 0)
				break;
			got_pages += h.count;
			continue;
		}
		if (h.type != MIG_STATE || !h.offset || h.offset > MIG_MAX_STATE)
			r = -EPROTO;
		break;
	}
	if (r < 0) {
		snprintf(err, errlen, "migration: %s",
			 r == -EPROTO ? "bad migration stream" : strerror(-r));
		close(sock);
		return r;
	}
	state_fd = memfd_create("pc-migration-state", MFD_CLOEXEC);
	if (state_fd < 0 || ftruncate(state_fd, (off_t)h.offset) < 0) {
		snprintf(err, errlen, "migration: memfd: %s", strerror(errno));
		close(sock);
		return -ENOMEM;
	}
	state = mmap(NULL, h.offset, PROT_READ | PROT_WRITE, MAP_SHARED, state_fd, 0);
	r = state == MAP_FAILED ? -errno : mig_recv(sock, state, h.offset, MIG_TIMEOUT_MS);
	if (state != MAP_FAILED)
		munmap(state, h.offset);
	if (r < 0) {
		snprintf(err, errlen, "migration: receiving the machine state: %s", strerror(-r));
		close(state_fd);
		close(sock);
		return r;
	}
	snprintf(pc->state_path, sizeof(pc->state_path), "/proc/self/fd/%d", state_fd);
	pc->opt.restore = pc->state_path;
	r = load_snapshot(pc, err, errlen);
	close(state_fd);
	if (r < 0) {
		close(sock);
		return r;
	}
	pc->mig_sock = sock;
	say("migration: %" PRIu64 " pages and the state received in %.3f s", got_pages,
	    now_s() - t0);
	return 0;
}

static int fetch_cpuid(struct pc *pc)
{
	uint32_t cap = 128, n = 0;
	int r;

	for (;;) {
		free(pc->cpuid);
		pc->cpuid = calloc(cap, sizeof(*pc->cpuid));
		if (!pc->cpuid)
			return -ENOMEM;
		r = crosvm_get_supported_cpuid(pc->crosvm, cap, pc->cpuid, &n);
		if (r == -E2BIG && n > cap && cap < 4096) {
			cap = n;
			continue;
		}
		if (r < 0)
			return r;
		pc->ncpuid = n;
		return 0;
	}
}

struct range {
	uint16_t start, len;
	bool fwcfg, disk, dma;
};

static const struct range ranges[] = {
	{ 0x60, 1 },	     { 0x61, 1 },		   { 0x64, 1 },
	{ 0x70, 2 },
	{ 0x92, 1 },	     { 0x3f8, 8 },		   { 0x402, 1 },
	{ 0xcf8, 8 },	     { 0x510, 2, .fwcfg = true }, { 0x514, 8, .dma = true },
	{ 0x1f0, 8, .disk = true },
	{ 0x3f6, 1, .disk = true },
};

static int setup_vm(struct pc *pc, char *err, size_t errlen)
{
	unsigned int i;
	int r;

	while (pc->nvcpus < MAX_VCPUS) {
		struct crosvm_vcpu *v;

		r = crosvm_get_vcpu(pc->crosvm, pc->nvcpus, &v);
		if (r < 0)
			break;
		pc->vcpus[pc->nvcpus].vcpu = v;
		pc->nvcpus++;
	}
	if (!pc->nvcpus) {
		snprintf(err, errlen, "the host gave no vcpus");
		return -ENODEV;
	}
	/* API 0.23: what the host has; a 0.22 host (or --no-extensions) gives no host bits. */
	if (crosvm_get_extensions(pc->crosvm, &pc->ext) < 0)
		pc->ext = 0;
	pc->mem.ro_in_place = pc->ext & CROSVM_EXTENSION_MEMORY_READ_ONLY;
	if (pc->ext & CROSVM_EXTENSION_IO_DETAILS) {
		r = crosvm_enable_io_details(pc->crosvm);
		if (r < 0)
			say("I/O details: %s; string I/O sizes are guessed", strerror(-r));
		pc->io_details = r == 0;
	}
	pc->debugcon_split = !pc->opt.sync_debugcon && (pc->ext & CROSVM_EXTENSION_RANGE_MODE);
	if (pc->debugcon_split)
		pc->debugcon_async = false; /* a snapshot's flag from a 0.22 host means nothing here */

	if (!pc->restoring) {
		cmos_init(&pc->cmos, &pc->env, pc->mem.below_4g, pc->mem.above_4g, pc->nvcpus,
			  pc->have_disk);
		uart_init(&pc->uart, &pc->env);
		ps2_init(&pc->ps2, &pc->env);
		port92_init(&pc->port92, &pc->env);
		pci_init(&pc->pci, &pc->env, pc->have_disk);
	}
	pc->uart.rx_space = input_kick;
	pc->uart.rx_space_opaque = pc;
	if (!pc->opt.no_fwcfg && !pc->restoring) {
		r = setup_fwcfg(pc);
		if (r < 0) {
			snprintf(err, errlen, "fw_cfg setup failed");
			return r;
		}
	}

	r = memory_map(&pc->mem, pc->crosvm);
	if (r < 0) {
		snprintf(err, errlen, "mapping guest memory: %s", strerror(-r));
		return r;
	}
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		if ((ranges[i].fwcfg && pc->opt.no_fwcfg) || (ranges[i].disk && !pc->have_disk) ||
		    (ranges[i].dma && !pc->fwcfg.guest_ptr))
			continue;
		/*
		 * The debug console's reads stop the vcpu (the firmware probes it for
		 * 0xe9), its writes do not.  Without the split mode, a restored debug
		 * console is write-only again at once (see debugcon_go_async).
		 */
		if (ranges[i].start == 0x402 && pc->debugcon_split)
			r = crosvm_reserve_range_mode(pc->crosvm, CROSVM_ADDRESS_SPACE_IOPORT, 0x402,
						      1, CROSVM_RANGE_MODE_ASYNC_WRITE_SYNC_READ);
		else if (ranges[i].start == 0x402 && pc->debugcon_async)
			r = crosvm_reserve_async_write_range(pc->crosvm, CROSVM_ADDRESS_SPACE_IOPORT,
							     0x402, 1);
		else
			r = crosvm_reserve_range(pc->crosvm, CROSVM_ADDRESS_SPACE_IOPORT,
						 ranges[i].start, ranges[i].len);
		if (r < 0) {
			snprintf(err, errlen, "reserving ports 0x%x+%u: %s", ranges[i].start,
				 ranges[i].len, strerror(-r));
			return r;
		}
	}
	r = crosvm_create_irq_event(pc->crosvm, 8, &pc->rtc_irq);
	if (r < 0) {
		snprintf(err, errlen, "irq event for the RTC: %s", strerror(-r));
		return r;
	}
	if (pc->restoring) {
		r = restore_vm(pc, err, errlen);
		if (r < 0)
			return r;
	}
	r = fetch_cpuid(pc);
	if (r < 0) {
		snprintf(err, errlen, "supported CPUID: %s", strerror(-r));
		return r;
	}
	/*
	 * The RTC on vcpu 0's thread needs crosvm_vcpu_wait_timeout() and
	 * crosvm_vcpu_kick(), which the library (API 0.23) provides with any host.
	 */
	if (!pc->opt.rtc_thread) {
		if (pc->ext & CROSVM_EXTENSION_VCPU_KICK)
			pc->rtc_on_vcpu0 = true;
		else
			say("the library cannot kick vcpus: the RTC runs on a thread of its own");
	}
	/*
	 * Reboots need the host's reset extension (API 0.23); without it (crosvm's
	 * host) a reset ends the run and a triple fault ends the VM, as before.
	 */
	if (!pc->opt.no_reboot) {
		if ((pc->ext & CROSVM_EXTENSION_RESET) && crosvm_enable_reset_events(pc->crosvm) == 0)
			pc->can_reboot = true;
		else
			say("the host cannot reset vcpus: a guest reset powers off");
	}
	if (pc->can_reboot) {
		r = crosvm_get_pic_state(pc->crosvm, false, &pc->pic0);
		if (r == 0)
			r = crosvm_get_pic_state(pc->crosvm, true, &pc->pic1);
		if (r == 0)
			r = crosvm_get_ioapic_state(pc->crosvm, &pc->ioapic);
		if (r == 0)
			r = crosvm_get_pit_state(pc->crosvm, &pc->pit);
		if (r < 0)
			say("interrupt controller state: %s; a reset keeps it", strerror(-r));
		pc->have_chip_state = r == 0;
	}
	/* Only Intel without unrestricted guest needs it for real mode; elsewhere it is inert. */
	r = crosvm_set_identity_map_addr(pc->crosvm, IDENTITY_MAP_ADDR);
	if (r < 0)
		say("set_identity_map_addr: %s (ignored)", strerror(-r));

	if (!pc->opt.no_stdin) {
		r = crosvm_new_connection(pc->crosvm, &pc->input_conn);
		if (r < 0) {
			snprintf(err, errlen, "connection for the console input: %s", strerror(-r));
			return r;
		}
	}
	for (i = 0; i < pc->nvcpus; i++) {
		struct vcpu_ctx *v = &pc->vcpus[i];

		v->pc = pc;
		v->id = i;
		r = crosvm_new_connection(pc->crosvm, &v->conn);
		if (r < 0) {
			snprintf(err, errlen, "connection for vcpu %u: %s", i, strerror(-r));
			return r;
		}
	}
	return 0;
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

	for (i = 0; i < PC_CONSOLE_MAX; i++)
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

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pc [--bios FILE] [--mem MIB] [--disk IMAGE [--disk-writable]] [--timeout SECONDS]\n"
		"          [--expect TEXT] [--stay] [--quiet] [--verbose] [--no-fw-cfg]\n"
		"          [--boot-menu] [--sercon] [--sync-debugcon] [--no-stdin] [--no-reboot]\n"
		"          [--rtc-thread]\n"
		"          [--kernel BZIMAGE [--initrd FILE] [--append CMDLINE]]\n"
		"          [--save FILE [--save-after SECONDS]] [--restore FILE]\n"
		"          [--migrate-to PATH [--migrate-after SECONDS]] [--migrate-listen PATH]\n"
		"  --bios FILE       firmware image (default " DEFAULT_BIOS ")\n"
		"  --mem MIB         guest RAM in MiB (default 128, at least 16)\n"
		"  --disk IMAGE      ATA disk on the primary channel (writes stay in memory)\n"
		"  --disk-writable   guest writes to the disk go to IMAGE\n"
		"  --no-stdin        COM1 receives nothing (stdin is not read)\n"
		"  --no-reboot       a guest reset ends the run instead of rebooting\n"
		"  --rtc-thread      time the RTC on a thread of its own, not on vcpu 0's\n"
		"  --kernel BZIMAGE  boot Linux through fw_cfg and the linuxboot option ROM\n"
		"  --initrd FILE     initial ramdisk for --kernel\n"
		"  --append CMDLINE  kernel command line for --kernel\n"
		"  --linuxboot-rom F option ROM (default " DEFAULT_LINUXBOOT_ROM ")\n"
		"  --timeout S       give up after S seconds (exit 1 unless TEXT was seen)\n"
		"  --expect TEXT     success text in the console output (default \"" DEFAULT_EXPECT
		"\")\n"
		"  --stay            keep running after TEXT (until timeout or VM stop)\n"
		"  --quiet           do not copy the console to stdout\n"
		"  --verbose         log PAM changes and timings on stderr\n"
		"  --no-fw-cfg       no fw_cfg: the firmware reads the RAM size from CMOS\n"
		"  --boot-menu       let SeaBIOS offer its boot menu (fw_cfg only)\n"
		"  --sercon          ask SeaBIOS to mirror its screen on COM1 (fw_cfg only)\n"
		"  --sync-debugcon   keep port 0x402 a synchronous range (slower)\n"
		"  --save FILE       on SIGUSR1 (or after --save-after S), write the machine to\n"
		"                    FILE and exit 0\n"
		"  --save-after S    save S seconds after the start\n"
		"  --restore FILE    run the machine saved in FILE (memory size, firmware, kernel\n"
		"                    and disk come from it; the host must give the same --cpus)\n"
		"  --migrate-to PATH on SIGUSR1 (or after --migrate-after S), live-migrate to the\n"
		"                    pc listening on the unix socket PATH and exit 0\n"
		"  --migrate-after S migrate S seconds after the start\n"
		"  --migrate-downtime MS  end the pre-copy once the rest fits in MS (default 50);\n"
		"                    after 20 rounds the guest is stopped regardless\n"
		"  --migrate-listen PATH  wait on PATH for a migrating machine and run it\n");
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "bios", required_argument, NULL, 'b' },
		{ "mem", required_argument, NULL, 'm' },
		{ "disk", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "expect", required_argument, NULL, 'e' },
		{ "stay", no_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-fw-cfg", no_argument, NULL, 'F' },
		{ "boot-menu", no_argument, NULL, 'M' },
		{ "sercon", no_argument, NULL, 'S' },
		{ "sync-debugcon", no_argument, NULL, 'D' },
		{ "no-stdin", no_argument, NULL, 'N' },
		{ "no-reboot", no_argument, NULL, 'r' },
		{ "rtc-thread", no_argument, NULL, 'C' },
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "linuxboot-rom", required_argument, NULL, 'R' },
		{ "disk-writable", no_argument, NULL, 'W' },
		{ "save", required_argument, NULL, 'O' },
		{ "save-after", required_argument, NULL, 'A' },
		{ "restore", required_argument, NULL, 'I' },
		{ "migrate-to", required_argument, NULL, 'T' },
		{ "migrate-after", required_argument, NULL, 'U' },
		{ "migrate-listen", required_argument, NULL, 'L' },
		{ "migrate-downtime", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *machine_opt = NULL; /* the first option that shapes a new machine */
	char *end;
	int c;

	o->bios = DEFAULT_BIOS;
	o->expect = DEFAULT_EXPECT;
	o->mem_mib = 128;
	o->linuxboot_rom = DEFAULT_LINUXBOOT_ROM;
	o->migrate_downtime = MIG_DEFAULT_DOWNTIME_MS;
	/* Sandboxed hosts may start us with argc 0 (docs/protocol.md §7.13). */
	if (argc < 1)
		return 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bios = optarg;
			machine_opt = machine_opt ? machine_opt : "--bios";
			break;
		case 'm':
			machine_opt = machine_opt ? machine_opt : "--mem";
			errno = 0;
			o->mem_mib = strtoull(optarg, &end, 10);
			if (errno || *end || o->mem_mib < 16 || o->mem_mib > (1ull << 20)) {
				fprintf(stderr,
					"pc: --mem: '%s' is not a size in MiB (16..1048576)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'd':
			o->disk = optarg;
			break;
		case 't':
			errno = 0;
			o->timeout = strtod(optarg, &end);
			if (errno || *end || !(o->timeout >= 0) || o->timeout > 1e6) {
				fprintf(stderr, "pc: --timeout: '%s' is not a number of seconds\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'e':
			if (strlen(optarg) >= LINE_MAX_KEEP) {
				fprintf(stderr, "pc: --expect: text too long\n");
				return -EINVAL;
			}
			o->expect = optarg;
			break;
		case 's':
			o->stay = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'F':
			o->no_fwcfg = true;
			break;
		case 'M':
			o->boot_menu = true;
			break;
		case 'S':
			o->sercon = true;
			break;
		case 'D':
			o->sync_debugcon = true;
			break;
		case 'N':
			o->no_stdin = true;
			break;
		case 'r':
			o->no_reboot = true;
			break;
		case 'C':
			o->rtc_thread = true;
			break;
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'a':
			o->append = optarg;
			break;
		case 'R':
			o->linuxboot_rom = optarg;
			break;
		case 'W':
			o->disk_writable = true;
			break;
		case 'O':
			o->save = optarg;
			break;
		case 'A':
		case 'U':
		case 'X': {
			double *d = c == 'A' ? &o->save_after
				    : c == 'U' ? &o->migrate_after : &o->migrate_downtime;

			errno = 0;
			*d = strtod(optarg, &end);
			if (errno || *end || !(*d > 0) || *d > 1e6) {
				fprintf(stderr, "pc: --%s: '%s' is not a positive number\n",
					c == 'A' ? "save-after"
					: c == 'U' ? "migrate-after" : "migrate-downtime", optarg);
				return -EINVAL;
			}
			break;
		}
		case 'T':
			o->migrate_to = optarg;
			break;
		case 'L':
			o->migrate_listen = optarg;
			break;
		case 'I':
			o->restore = optarg;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pc: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if ((o->initrd || o->append) && !o->kernel) {
		fprintf(stderr, "pc: --initrd and --append need --kernel BZIMAGE\n");
		return -EINVAL;
	}
	if (o->kernel && o->no_fwcfg) {
		fprintf(stderr, "pc: --kernel needs fw_cfg (drop --no-fw-cfg)\n");
		return -EINVAL;
	}
	if (o->disk_writable && !o->disk) {
		fprintf(stderr, "pc: --disk-writable needs --disk IMAGE\n");
		return -EINVAL;
	}
	if (o->save_after > 0 && !o->save) {
		fprintf(stderr, "pc: --save-after needs --save FILE\n");
		return -EINVAL;
	}
	if (o->migrate_after > 0 && !o->migrate_to) {
		fprintf(stderr, "pc: --migrate-after needs --migrate-to PATH\n");
		return -EINVAL;
	}
	if (o->migrate_to && o->save) {
		fprintf(stderr, "pc: --save and --migrate-to do not go together\n");
		return -EINVAL;
	}
	if (o->migrate_listen && o->restore) {
		fprintf(stderr, "pc: --restore and --migrate-listen do not go together\n");
		return -EINVAL;
	}
	if (o->restore || o->migrate_listen) {
		if (!machine_opt && o->kernel)
			machine_opt = "--kernel";
		if (!machine_opt && (o->no_fwcfg || o->boot_menu || o->sercon))
			machine_opt = o->no_fwcfg ? "--no-fw-cfg" : o->boot_menu ? "--boot-menu" : "--sercon";
		if (machine_opt) {
			fprintf(stderr, "pc: --%s takes the machine from its %s: drop %s\n",
				o->restore ? "restore" : "migrate-listen",
				o->restore ? "file" : "source", machine_opt);
			return -EINVAL;
		}
	}
	return 0;
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
		say("debug console: %lu writes (%lu stopped the vcpu), %lu reads, %s; "
		    "string I/O: %lu events split into elements (I/O details %s); "
		    "PAM: %lu segment changes in place, %lu remapped",
		    pc->debugcon_writes, pc->debugcon_sync_writes, pc->debugcon_reads,
		    pc->debugcon_split ? "async writes and sync reads"
		    : pc->debugcon_async ? "made async after its first read"
					 : "synchronous",
		    pc->io_strings, pc->io_details ? "on" : "off", pc->mem.pam_in_place,
		    pc->mem.pam_remapped);
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
