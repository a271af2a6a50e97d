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
 * text ("No bootable device." by default), and 1 on a timeout, a guest
 * reset or shutdown, or any error before that.
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
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <crosvm.h>

#include "memory.h"
#include "pc.h"

#define MAX_VCPUS 64
#define LINE_MAX_KEEP 512
#define DEFAULT_BIOS "/usr/share/seabios/bios.bin"
#define DEFAULT_EXPECT "No bootable device."
#define IDENTITY_MAP_ADDR 0xfeffc000u
#define MAX_DISK (512ull << 20)

struct options {
	const char *bios;
	const char *disk;
	const char *expect;
	uint64_t mem_mib;
	double timeout;
	bool stay, quiet, verbose, no_fwcfg, boot_menu, sercon, sync_debugcon;
};

struct vcpu_ctx {
	struct pc *pc;
	unsigned int id;
	struct crosvm *conn;
	struct crosvm_vcpu *vcpu;
	pthread_t thread;
	bool started;
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
	struct pci pci;
	struct fwcfg fwcfg;
	struct ata ata;
	struct pc_memory mem;
	bool have_disk, debugcon_async;
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
	pthread_t rtc_thread;
	bool rtc_started;

	int done_fd; /* wakes the main thread when the run is decided */
	atomic_bool stopping;
	atomic_int exit_status; /* -1 until decided */
	atomic_bool matched;
	struct timespec t0;
};

/* The connection of the thread that is handling a guest access (one per vcpu thread). */
static __thread struct crosvm *tls_conn;
/* The pause token that tells vcpu threads to leave. */
static int stop_token;

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
	double t;
	int r;

	if (!tls_conn)
		return;
	t = elapsed(pc);
	r = memory_pam_apply(&pc->mem, tls_conn, pam);
	if (pc->opt.verbose)
		say("PAM %02x %02x %02x %02x %02x %02x %02x at %.3f s, remapped in %.3f s", pam[0],
		    pam[1], pam[2], pam[3], pam[4], pam[5], pam[6], t, elapsed(pc) - t);
	if (r < 0) {
		say("remapping the BIOS shadow area after a PAM change: %s", strerror(-r));
		pc_finish(pc, 1);
	}
}

static void env_reset(void *opaque, const char *why)
{
	struct pc *pc = opaque;

	/* No reboot: like QEMU's -no-reboot, a reset ends the run. */
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

static void pc_io(struct pc *pc, uint16_t port, uint8_t *data, uint32_t len, bool is_write)
{
	unsigned int hz;

	if (port >= 0x3f8 && port <= 0x3ff)
		uart_io(&pc->uart, port, data, len, is_write);
	else if (port >= 0xcf8 && port <= 0xcff)
		pci_io(&pc->pci, port, data, len, is_write);
	else if (port == 0x402) {
		debugcon_io(&pc->env, port, data, len, is_write);
		if (!is_write && !pc->debugcon_async && !pc->opt.sync_debugcon)
			debugcon_go_async(pc);
	} else if (port == 0x60 || port == 0x64)
		ps2_io(&pc->ps2, port, data, len, is_write);
	else if (port == 0x70 || port == 0x71) {
		hz = cmos_periodic_hz(&pc->cmos);
		cmos_io(&pc->cmos, port, data, len, is_write);
		if (cmos_periodic_hz(&pc->cmos) != hz) {
			uint64_t one = 1;

			if (write(pc->rtc_kick_fd, &one, sizeof(one)) < 0)
				say("cannot wake the RTC thread: %s", strerror(errno));
		}
	} else if (port == 0x92)
		port92_io(&pc->port92, port, data, len, is_write);
	else if (port == 0x510 || port == 0x511)
		fwcfg_io(&pc->fwcfg, port, data, len, is_write);
	else if (pc->have_disk && ((port >= 0x1f0 && port <= 0x1f7) || port == 0x3f6))
		ata_io(&pc->ata, port, data, len, is_write);
	else if (!is_write)
		memset(data, 0xff, len);
}

static void handle_io(struct pc *pc, struct crosvm_vcpu_event *ev)
{
	uint8_t *data = ev->io_access.data;
	uint32_t len = ev->io_access.length;

	if (ev->io_access.address_space != CROSVM_ADDRESS_SPACE_IOPORT ||
	    ev->io_access.address > 0xffff || !data) {
		/* We trap no MMIO; anything else reads as a floating bus. */
		if (data && !ev->io_access.is_write)
			memset(data, 0xff, len);
		return;
	}
	pthread_mutex_lock(&pc->lock);
	pc_io(pc, (uint16_t)ev->io_access.address, data, len, ev->io_access.is_write);
	pthread_mutex_unlock(&pc->lock);
}

/* ---- vcpus ---- */

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
	free(e);
	return r;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu_ctx *v = arg;
	struct pc *pc = v->pc;
	struct crosvm_vcpu_event ev;
	int r;

	tls_conn = v->conn;
	for (;;) {
		memset(&ev, 0, sizeof(ev));
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
			r = vcpu_init(v);
			if (r < 0) {
				say("vcpu %u: set_cpuid: %s", v->id, strerror(-r));
				pc_finish(pc, 1);
			}
			break;
		case CROSVM_VCPU_EVENT_KIND_IO_ACCESS:
			handle_io(pc, &ev);
			if (ev.io_access.no_resume)
				continue;
			break;
		case CROSVM_VCPU_EVENT_KIND_PAUSED:
			/* Leaving without resuming keeps the vcpu stopped for good. */
			if (ev.user == &stop_token)
				return NULL;
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

/* ---- RTC periodic interrupt ---- */

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
			bool fire;

			if (read(tfd, &n, sizeof(n)) < 0)
				continue;
			pthread_mutex_lock(&pc->lock);
			fire = cmos_periodic_tick(&pc->cmos);
			pthread_mutex_unlock(&pc->lock);
			/* Ticks while the line is still raised are lost, as on real chips. */
			n = 1;
			if (fire && write(crosvm_irq_event_get_fd(pc->rtc_irq), &n, sizeof(n)) < 0)
				say("RTC: irqfd: %s", strerror(errno));
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

/* ---- setup ---- */

static int setup_fwcfg(struct pc *pc)
{
	struct fwcfg *f = &pc->fwcfg;
	uint64_t ram = pc->mem.ram_size;
	uint16_t ncpu = (uint16_t)pc->nvcpus, menu = pc->opt.boot_menu, nographic = pc->opt.sercon;
	uint32_t id = 1, fail_wait = 0xffffffffu;
	struct __attribute__((packed)) {
		uint64_t addr, len;
		uint32_t type;
	} e820[3];
	unsigned int n = 0;
	int r = 0;

	fwcfg_init(f);
	r |= fwcfg_add(f, FWCFG_SIGNATURE, "QEMU", 4);
	r |= fwcfg_add(f, FWCFG_ID, &id, sizeof(id)); /* traditional interface only, no DMA */
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

static int load_disk(struct pc *pc, char *err, size_t errlen)
{
	FILE *fp = fopen(pc->opt.disk, "rb");
	uint64_t size, nsect, cyl = 16 * 63;
	uint8_t *disk;
	long end;

	if (!fp) {
		snprintf(err, errlen, "cannot open %s: %s", pc->opt.disk, strerror(errno));
		return -errno;
	}
	if (fseek(fp, 0, SEEK_END) < 0 || (end = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET) < 0) {
		snprintf(err, errlen, "%s: cannot find its size", pc->opt.disk);
		fclose(fp);
		return -EINVAL;
	}
	size = (uint64_t)end;
	if (!size || size > MAX_DISK) {
		snprintf(err, errlen, "%s: size %" PRIu64 " is not in 1..%llu", pc->opt.disk,
			 size, MAX_DISK);
		fclose(fp);
		return -EINVAL;
	}
	/* Whole cylinders of 16 heads x 63 sectors, so CHS and LBA agree on the size. */
	nsect = (size + ATA_SECTOR - 1) / ATA_SECTOR;
	nsect = (nsect + cyl - 1) / cyl * cyl;
	disk = calloc(nsect, ATA_SECTOR);
	if (!disk) {
		fclose(fp);
		snprintf(err, errlen, "out of memory for the disk");
		return -ENOMEM;
	}
	if (fread(disk, 1, size, fp) != size) {
		snprintf(err, errlen, "%s: short read", pc->opt.disk);
		free(disk);
		fclose(fp);
		return -EIO;
	}
	fclose(fp);
	ata_init(&pc->ata, &pc->env, disk, nsect);
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
	bool fwcfg, disk;
};

static const struct range ranges[] = {
	{ 0x60, 1 },	     { 0x64, 1 },		   { 0x70, 2 },
	{ 0x92, 1 },	     { 0x3f8, 8 },		   { 0x402, 1 },
	{ 0xcf8, 8 },	     { 0x510, 2, .fwcfg = true }, { 0x1f0, 8, .disk = true },
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

	cmos_init(&pc->cmos, &pc->env, pc->mem.below_4g, pc->mem.above_4g, pc->nvcpus,
		  pc->have_disk);
	uart_init(&pc->uart, &pc->env);
	ps2_init(&pc->ps2, &pc->env);
	port92_init(&pc->port92, &pc->env);
	pci_init(&pc->pci, &pc->env, pc->have_disk);
	if (!pc->opt.no_fwcfg) {
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
		if ((ranges[i].fwcfg && pc->opt.no_fwcfg) || (ranges[i].disk && !pc->have_disk))
			continue;
		r = crosvm_reserve_range(pc->crosvm, CROSVM_ADDRESS_SPACE_IOPORT, ranges[i].start,
					 ranges[i].len);
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
	r = fetch_cpuid(pc);
	if (r < 0) {
		snprintf(err, errlen, "supported CPUID: %s", strerror(-r));
		return r;
	}
	/* Only Intel without unrestricted guest needs it for real mode; elsewhere it is inert. */
	r = crosvm_set_identity_map_addr(pc->crosvm, IDENTITY_MAP_ADDR);
	if (r < 0)
		say("set_identity_map_addr: %s (ignored)", strerror(-r));

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

	r = pthread_create(&pc->rtc_thread, NULL, rtc_thread, pc);
	if (r) {
		snprintf(err, errlen, "RTC thread: %s", strerror(r));
		return -r;
	}
	pc->rtc_started = true;
	for (i = 0; i < pc->nvcpus; i++) {
		r = pthread_create(&pc->vcpus[i].thread, NULL, vcpu_thread, &pc->vcpus[i]);
		if (r) {
			snprintf(err, errlen, "vcpu thread %u: %s", i, strerror(r));
			return -r;
		}
		pc->vcpus[i].started = true;
	}
	return 0;
}

/* Waits for the outcome: a decision from a vcpu thread, the host stopping, or the timeout. */
static void wait_outcome(struct pc *pc, int shutdown_fd)
{
	struct pollfd pfd[2] = { { .fd = pc->done_fd, .events = POLLIN },
				 { .fd = shutdown_fd, .events = POLLIN } };
	int timeout_ms;

	for (;;) {
		double left = pc->opt.timeout > 0 ? pc->opt.timeout - elapsed(pc) : -1;

		if (pc->opt.timeout > 0 && left <= 0) {
			if (!atomic_load(&pc->matched))
				say("timed out after %.1f s without seeing \"%s\"", pc->opt.timeout,
				    pc->opt.expect);
			pc_finish(pc, atomic_load(&pc->matched) ? 0 : 1);
			return;
		}
		timeout_ms = left < 0 ? -1 : (int)(left * 1000) + 1;
		if (poll(pfd, 2, timeout_ms) < 0 && errno != EINTR) {
			say("poll: %s", strerror(errno));
			pc_finish(pc, 1);
			return;
		}
		if (pfd[0].revents)
			return;
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
		pc->vcpus[i].started = false;
	}
}

static void teardown(struct pc *pc)
{
	unsigned int i;

	for (i = 0; i < PC_CONSOLE_MAX; i++)
		flush_line(pc, i);
	/* The run may end mid-line (right at the expected text): end it for the terminal. */
	if (pc->mid_line)
		write_out("\n", 1);
	if (pc->crosvm) {
		if (pc->rtc_irq)
			crosvm_destroy_irq_event(pc->crosvm, &pc->rtc_irq);
		memory_unmap(&pc->mem, pc->crosvm);
	}
	for (i = 0; i < pc->nvcpus; i++)
		if (pc->vcpus[i].conn)
			crosvm_destroy_connection(&pc->vcpus[i].conn);
	if (pc->crosvm)
		crosvm_destroy_connection(&pc->crosvm);
	memory_free(&pc->mem);
	fwcfg_free(&pc->fwcfg);
	free(pc->ata.disk);
	free(pc->cpuid);
	if (pc->done_fd >= 0)
		close(pc->done_fd);
	if (pc->rtc_kick_fd >= 0)
		close(pc->rtc_kick_fd);
	pthread_mutex_destroy(&pc->lock);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pc [--bios FILE] [--mem MIB] [--disk IMAGE] [--timeout SECONDS]\n"
		"          [--expect TEXT] [--stay] [--quiet] [--verbose] [--no-fw-cfg]\n"
		"          [--boot-menu] [--sercon] [--sync-debugcon]\n"
		"  --bios FILE       firmware image (default " DEFAULT_BIOS ")\n"
		"  --mem MIB         guest RAM in MiB (default 128, at least 16)\n"
		"  --disk IMAGE      ATA disk on the primary channel (copy-on-write, in memory)\n"
		"  --timeout S       give up after S seconds (exit 1 unless TEXT was seen)\n"
		"  --expect TEXT     success text in the console output (default \"" DEFAULT_EXPECT
		"\")\n"
		"  --stay            keep running after TEXT (until timeout, reset or VM stop)\n"
		"  --quiet           do not copy the console to stdout\n"
		"  --verbose         log PAM changes and timings on stderr\n"
		"  --no-fw-cfg       no fw_cfg: the firmware reads the RAM size from CMOS\n"
		"  --boot-menu       let SeaBIOS offer its boot menu (fw_cfg only)\n"
		"  --sercon          ask SeaBIOS to mirror its screen on COM1 (fw_cfg only)\n"
		"  --sync-debugcon   keep port 0x402 a synchronous range (slower)\n");
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	o->bios = DEFAULT_BIOS;
	o->expect = DEFAULT_EXPECT;
	o->mem_mib = 128;
	/* Sandboxed hosts may start us with argc 0 (docs/protocol.md §7.13). */
	if (argc < 1)
		return 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bios = optarg;
			break;
		case 'm':
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
	pc->done_fd = pc->rtc_kick_fd = -1;
	r = parse_args(argc, argv, &pc->opt);
	if (r)
		return r > 0 ? 0 : 2;

	/* A vanished stdout reader must not kill the plugin with SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&pc->lock, NULL);
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
	if (pc->done_fd < 0 || pc->rtc_kick_fd < 0) {
		say("eventfd: %s", strerror(errno));
		status = 1;
		goto out;
	}
	r = memory_init(&pc->mem, pc->opt.mem_mib << 20, pc->opt.bios, err, sizeof(err));
	if (r < 0)
		goto fail;
	if (pc->opt.disk) {
		r = load_disk(pc, err, sizeof(err));
		if (r < 0)
			goto fail;
		pc->have_disk = true;
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
	if (r < 0) {
		say("%s", err);
		pc_finish(pc, 1);
	} else {
		wait_outcome(pc, shutdown_fd);
	}
	stop_threads(pc);
	status = atomic_load(&pc->exit_status);
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
