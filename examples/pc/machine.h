// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * What the pc example's files share: the options, the machine (struct pc) with
 * its vcpus, and the functions one file calls in another.  The device models
 * have their own header, pc.h, which does not need crosvm.h (tests/pc drive
 * them without a host).
 */
#ifndef PLUGVM_EXAMPLES_PC_MACHINE_H
#define PLUGVM_EXAMPLES_PC_MACHINE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <crosvm.h>

#include "memory.h"
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

/*
 * Console output streams, each assembled into lines of its own: COM1, and
 * the debug console of each vcpu (PC_CONSOLE_DEBUGCON for vcpu 0, then one
 * per further vcpu).  Asynchronous writes of two vcpus reach the plugin on
 * two channels in no common order, so one buffer would mix their lines.
 */
#define CONSOLE_STREAMS (PC_CONSOLE_MAX + MAX_VCPUS - 1)

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
	struct line lines[CONSOLE_STREAMS]; /* output not yet written */
	struct line match[CONSOLE_STREAMS]; /* the current line, for --expect */
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

/* The RTC's periodic timer as vcpu 0's thread keeps it (pc.rtc_on_vcpu0). */
struct rtc_clock {
	unsigned int hz;
	int64_t next; /* CLOCK_MONOTONIC ns of the next tick, when hz */
};

#define MIG_TIMEOUT_MS 10000     /* the longest a peer may stay silent */
#define MIG_DEFAULT_DOWNTIME_MS 50.0

/* main.c */
extern __thread struct crosvm *tls_conn;
extern __thread unsigned int tls_vcpu;
extern int stop_token;
extern int reset_token;
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
double elapsed(const struct pc *pc);
void pc_finish(struct pc *pc, int status);

/* console.c */
void write_out(const void *buf, size_t len);
void flush_line(struct pc *pc, unsigned int stream);
void env_console(void *opaque, enum pc_console_source src, const uint8_t *buf, size_t len);
void tty_restore(void);
int tty_make_raw(void);
void input_kick(void *opaque);
void *input_thread(void *arg);

/* io.c */
void env_set_irq(void *opaque, unsigned int irq, bool level);
void env_pam_changed(void *opaque, const uint8_t pam[7]);
void env_reset(void *opaque, const char *why);
void handle_io(struct pc *pc, struct crosvm_vcpu_event *ev);

/* rtc.c */
void rtc_rate_changed(struct pc *pc);
int vcpu0_wait(struct vcpu_ctx *v, struct rtc_clock *rc, struct crosvm_vcpu_event *ev);
void *rtc_thread(void *arg);

/* reset.c */
void vcpu_join_reset(struct vcpu_ctx *v);
void machine_reset(struct vcpu_ctx *v);

/* vcpu.c */
extern int park_token;
void *vcpu_thread(void *arg);

/* setup.c */
int load_disk(struct pc *pc, char *err, size_t errlen);
void *guest_ram(void *opaque, uint64_t gpa, uint64_t len);
int setup_kernel(struct pc *pc, char *err, size_t errlen);
int setup_vm(struct pc *pc, char *err, size_t errlen);

/* save.c */
extern volatile sig_atomic_t save_signal_fd;
double now_s(void);
int map_guest_ram(struct pc *pc);
int write_machine(struct pc *pc, const struct vm_state *vm, int fd, bool with_ram);
void unpark(struct pc *pc, int how);
int park_vcpus(struct pc *pc, char *err, size_t errlen);
int save_machine(struct pc *pc);
void save_signal(int sig);
int load_snapshot(struct pc *pc, char *err, size_t errlen);
int restore_vm(struct pc *pc, char *err, size_t errlen);

/* migrate.c */
int migrate_machine(struct pc *pc);
void mark_plugin_dirty(struct pc *pc, uint64_t off, uint64_t len);
int receive_migration(struct pc *pc, char *err, size_t errlen);

/* opts.c */
int parse_args(int argc, char **argv, struct options *o);

#endif /* PLUGVM_EXAMPLES_PC_MACHINE_H */
