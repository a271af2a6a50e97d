// SPDX-License-Identifier: BSD-3-Clause
/* Copyright 2026 The plugvm Authors. */
/*
 * Device models of the "pc" example plugin: a small i440FX/PIIX3 PC that
 * runs SeaBIOS.  The models know nothing about crosvm.h; everything they do
 * to the outside world (interrupt lines, PAM changes, reset requests,
 * console output) goes through struct pc_env, so they can be unit tested
 * without KVM.  All models are driven under one lock held by the caller.
 */
#ifndef PLUGVM_EXAMPLES_PC_PC_H
#define PLUGVM_EXAMPLES_PC_PC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Where console bytes came from. */
enum pc_console_source {
	PC_CONSOLE_DEBUGCON = 0,
	PC_CONSOLE_UART,
	PC_CONSOLE_MAX,
};

struct pc_env {
	void *opaque;
	/* Drive ISA interrupt line `irq` (0..15) to `level`; called only on changes. */
	void (*set_irq)(void *opaque, unsigned int irq, bool level);
	/* The seven i440FX PAM registers (config 0x59..0x5f) changed. */
	void (*pam_changed)(void *opaque, const uint8_t pam[7]);
	/* The guest asked for a reset (keyboard controller, port 0x92, 0xcf9). */
	void (*reset)(void *opaque, const char *why);
	/* Bytes the guest printed. */
	void (*console)(void *opaque, enum pc_console_source src, const uint8_t *buf, size_t len);
};

/*
 * Splits an access of `len` bytes at `port` into byte accesses for models
 * made of 8-bit registers: 2- and 4-byte accesses touch consecutive ports
 * (what "outw" to an 8-bit device does on a PC), longer ones can only be
 * string I/O ("rep insb"/"rep outsb"), which repeats the same port.
 */
typedef uint8_t pc_read8_fn(void *dev, uint16_t port);
typedef void pc_write8_fn(void *dev, uint16_t port, uint8_t val);
void pc_io_bytewise(void *dev, uint16_t port, uint8_t *data, uint32_t len, bool is_write,
		    pc_read8_fn *rd, pc_write8_fn *wr);

/* ---- CMOS / RTC (ports 0x70-0x71) ---- */

#define CMOS_SIZE 128

struct cmos {
	const struct pc_env *env;
	uint8_t index;
	uint8_t ram[CMOS_SIZE];
	/* Guest time = host CLOCK_REALTIME + offset, changed by writes with SET. */
	int64_t offset;
	/* Test hook: when nonzero, used instead of the host clock. */
	time_t fixed_now;
};

/* Memory sizes go into the standard registers; `ncpus` into 0x5f. */
void cmos_init(struct cmos *c, const struct pc_env *env, uint64_t ram_below_4g,
	       uint64_t ram_above_4g, unsigned int ncpus, bool have_disk);
void cmos_io(struct cmos *c, uint16_t port, uint8_t *data, uint32_t len, bool is_write);
/* Periodic interrupt rate in Hz selected by register A, or 0 when PIE is off. */
unsigned int cmos_periodic_hz(const struct cmos *c);
/* A periodic tick elapsed: sets PF (and IRQF when enabled); true if IRQ 8 should fire. */
bool cmos_periodic_tick(struct cmos *c);

/* ---- 8250/16550A UART (COM1, ports 0x3f8-0x3ff, IRQ 4) ---- */

/* The 16550A's receive FIFO; without FIFO mode (FCR bit 0) only one byte is held. */
#define UART_RX_SIZE 16

struct uart {
	const struct pc_env *env;
	uint8_t ier, iir_thri_pending, lcr, mcr, msr, scr, dll, dlm, fcr;
	uint8_t lsr_errors; /* OE, sticky until LSR is read */
	uint8_t rx[UART_RX_SIZE];
	unsigned int rx_head, rx_count;
	bool rx_timeout; /* character timeout indication (FIFO mode, below the trigger level) */
	bool irq_level;
	/* Called (with the models' lock held) when the guest made room in the receive FIFO. */
	void (*rx_space)(void *opaque);
	void *rx_space_opaque;
};

void uart_init(struct uart *u, const struct pc_env *env);
void uart_io(struct uart *u, uint16_t port, uint8_t *data, uint32_t len, bool is_write);
/*
 * Bytes from the line (the host's terminal or pipe): queues what fits in the
 * receive FIFO and returns how many that was; the rest waits for rx_space.
 * Nothing is received while the UART is in loopback mode.
 */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);
/* No byte came for four character times: FIFO mode reports a timeout if data waits. */
void uart_rx_idle(struct uart *u);
/* Free room in the receive FIFO for uart_receive(). */
size_t uart_rx_room(const struct uart *u);

/* ---- i8042 PS/2 controller with keyboard and mouse (ports 0x60, 0x64) ---- */

#define PS2_QUEUE_SIZE 16

struct ps2_queue {
	uint8_t buf[PS2_QUEUE_SIZE];
	unsigned int head, count;
};

struct ps2 {
	const struct pc_env *env;
	uint8_t ctr;     /* controller command byte */
	uint8_t status;  /* SYS and CMD bits; OBF/AUX are computed */
	uint8_t outport; /* output port: bit 0 reset (active low), bit 1 A20 */
	uint8_t pending_cmd; /* controller command waiting for its data byte */
	uint8_t kbd_cmd;     /* keyboard command waiting for its parameter */
	uint8_t aux_cmd;     /* mouse command waiting for its parameter */
	bool obf, obf_aux;
	uint8_t out;         /* byte in the output buffer */
	struct ps2_queue ctl, kbd, aux;
	bool kbd_scanning, aux_reporting;
	uint8_t scancode_set;
	bool irq1, irq12;
};

void ps2_init(struct ps2 *p, const struct pc_env *env);
void ps2_io(struct ps2 *p, uint16_t port, uint8_t *data, uint32_t len, bool is_write);

/* ---- port 0x92 (PS/2 system control port A: A20 gate, fast reset) ---- */

struct port92 {
	const struct pc_env *env;
	uint8_t val;
};

void port92_init(struct port92 *p, const struct pc_env *env);
void port92_io(struct port92 *p, uint16_t port, uint8_t *data, uint32_t len, bool is_write);

/* ---- port 0x61 (system control port B: PIT channel 2 gate, speaker, its output) ---- */

/* PIT channel 2 as the in-kernel PIT reports it (KVM_GET_PIT2), for port B's bit 5. */
struct pit_channel {
	uint8_t mode;
	uint32_t count;    /* 0 means 65536 */
	int64_t load_ns;   /* when the count was loaded, CLOCK_MONOTONIC */
};

struct port61 {
	uint8_t ctl; /* bit 0 timer 2 gate, bit 1 speaker data: the writable bits */
};

/* The 8254's output of a channel `now_ns` into its count, for modes 0-5. */
bool pit_channel_out(const struct pit_channel *ch, int64_t now_ns);
/* Port B as read: gate and speaker bits, refresh toggle (bit 4), timer 2 output (bit 5). */
uint8_t port61_read(const struct port61 *p, const struct pit_channel *ch2, int64_t now_ns);
void port61_write(struct port61 *p, uint8_t val);

/* ---- QEMU debug console (port 0x402) ---- */

/* What a read of the debug console port returns, so firmware knows it exists. */
#define DEBUGCON_READBACK 0xe9

void debugcon_io(const struct pc_env *env, uint16_t port, uint8_t *data, uint32_t len,
		 bool is_write);

/* ---- ATA disk (primary channel, ports 0x1f0-0x1f7 and 0x3f6, IRQ 14) ---- */

#define ATA_SECTOR 512

struct ata {
	const struct pc_env *env;
	uint8_t *disk; /* nsectors * 512 bytes, private to the plugin */
	uint64_t nsectors;
	uint16_t cyls, heads, spt;
	/* Task file; each register keeps its previous value for LBA48 ("HOB"). */
	uint8_t feature, nsect, lbal, lbam, lbah;
	uint8_t hob_nsect, hob_lbal, hob_lbam, hob_lbah;
	uint8_t select, status, error, control;
	/* PIO data phase. */
	uint8_t buf[ATA_SECTOR];
	unsigned int pos;       /* bytes transferred in buf */
	bool data_in, data_out; /* a data phase is active */
	uint64_t lba;           /* next sector */
	uint32_t remaining;     /* sectors left after the one in buf */
	uint32_t block_left;    /* of those, still in the current DRQ block (READ/WRITE MULTIPLE) */
	uint32_t block;         /* sectors per DRQ block of the command in progress */
	uint8_t multiple;       /* SET MULTIPLE MODE count, 0 = off */
	bool irq_pending, irq_level;
	/*
	 * Optional: called for every sector the guest wrote (already in `disk`), to
	 * persist it; a negative return fails the command with ABRT.
	 */
	int (*sector_written)(void *opaque, uint64_t lba, const uint8_t *data);
	void *sector_written_opaque;
};

/* Most sectors a READ/WRITE MULTIPLE block may have (IDENTIFY word 47). */
#define ATA_MAX_MULTIPLE 16

/* Takes ownership of `disk` (malloc'd, nsectors * 512 bytes). */
void ata_init(struct ata *a, const struct pc_env *env, uint8_t *disk, uint64_t nsectors);
void ata_io(struct ata *a, uint16_t port, uint8_t *data, uint32_t len, bool is_write);

/* ---- QEMU fw_cfg, traditional I/O interface (ports 0x510 selector, 0x511 data) ---- */

#define FWCFG_SIGNATURE 0x0000
#define FWCFG_ID 0x0001
#define FWCFG_RAM_SIZE 0x0003
#define FWCFG_NOGRAPHIC 0x0004
#define FWCFG_NB_CPUS 0x0005
#define FWCFG_BOOT_MENU 0x000e
#define FWCFG_MAX_CPUS 0x000f
#define FWCFG_FILE_DIR 0x0019
#define FWCFG_FILE_FIRST 0x0020
#define FWCFG_MAX_ITEMS 64
#define FWCFG_NAME_MAX 56

struct fwcfg_item {
	uint16_t key;
	char name[FWCFG_NAME_MAX]; /* empty for fixed keys */
	uint8_t *data;
	uint32_t size;
};

struct fwcfg {
	struct fwcfg_item items[FWCFG_MAX_ITEMS];
	unsigned int nitems;
	uint16_t next_file_key;
	uint16_t selector;
	uint32_t offset;
	uint8_t *dir; /* built on first selection of FILE_DIR */
	uint32_t dir_size;
	/*
	 * DMA interface (ports 0x514-0x51b), when guest_ptr is set: the guest
	 * writes a descriptor's address there, big-endian, low half last.
	 * guest_ptr gives the plugin's view of guest RAM [gpa, gpa + len), or
	 * NULL if that is not all RAM.
	 */
	void *(*guest_ptr)(void *opaque, uint64_t gpa, uint64_t len);
	void *guest_ptr_opaque;
	uint8_t dma_addr[8];
};

/* FW_CFG_ID feature bits. */
#define FWCFG_ID_TRADITIONAL 0x01
#define FWCFG_ID_DMA 0x02

void fwcfg_init(struct fwcfg *f);
void fwcfg_free(struct fwcfg *f);
/* Adds a fixed-key item (copying `data`); -EEXIST, -ENOSPC, -ENOMEM. */
int fwcfg_add(struct fwcfg *f, uint16_t key, const void *data, uint32_t size);
/* Adds a named file with the next free key; same errors plus -ENAMETOOLONG. */
int fwcfg_add_file(struct fwcfg *f, const char *name, const void *data, uint32_t size);
void fwcfg_io(struct fwcfg *f, uint16_t port, uint8_t *data, uint32_t len, bool is_write);
/* Ports 0x514-0x51b; a write of the address's last byte runs the transfer. */
void fwcfg_dma_io(struct fwcfg *f, uint16_t port, uint8_t *data, uint32_t len, bool is_write);

/* fw_cfg keys of the kernel loaded by the linuxboot option ROM. */
#define FWCFG_KERNEL_ADDR 0x0007
#define FWCFG_KERNEL_SIZE 0x0008
#define FWCFG_INITRD_ADDR 0x000a
#define FWCFG_INITRD_SIZE 0x000b
#define FWCFG_KERNEL_DATA 0x0011
#define FWCFG_INITRD_DATA 0x0012
#define FWCFG_CMDLINE_ADDR 0x0013
#define FWCFG_CMDLINE_SIZE 0x0014
#define FWCFG_CMDLINE_DATA 0x0015
#define FWCFG_SETUP_ADDR 0x0016
#define FWCFG_SETUP_SIZE 0x0017
#define FWCFG_SETUP_DATA 0x0018

/* ---- Linux bzImage layout for the linuxboot option ROM (linux.c) ---- */

struct linux_layout {
	uint16_t version; /* boot protocol */
	uint32_t setup_addr, setup_size;   /* real-mode part: the file's first setup_size bytes */
	uint32_t kernel_addr, kernel_size; /* protected-mode part: the rest of the file */
	uint32_t cmdline_addr;
	uint32_t initrd_addr, initrd_size;
};

/*
 * Checks a bzImage of `size` bytes and fills in its setup header as a boot
 * loader does (loader type, heap, command line and initrd addresses), for
 * an initrd of `initrd_size` bytes (0: none), a command line of
 * `cmdline_len` bytes without its NUL, and `ram_below_4g` bytes of RAM.
 * Returns 0, or -EINVAL (not a loadable bzImage) or -E2BIG (does not fit)
 * with one line in `err`.
 */
int linux_prepare(uint8_t *image, size_t size, size_t initrd_size, size_t cmdline_len,
		  uint64_t ram_below_4g, struct linux_layout *out, char *err, size_t errlen);

/* ---- PCI configuration mechanism #1 (0xcf8/0xcfc) and the functions on bus 0 ---- */

#define PCI_MAX_FUNCS 8

struct pci_func {
	uint8_t devfn;
	uint8_t cfg[256];
	uint8_t wmask[256]; /* bits the guest may change */
	void (*written)(struct pci_func *fn, void *opaque, unsigned int off, unsigned int len);
	void *opaque;
};

struct pci {
	const struct pc_env *env;
	uint32_t addr; /* 0xcf8 */
	uint8_t rcr;   /* PIIX reset control register, 0xcf9 */
	struct pci_func funcs[PCI_MAX_FUNCS];
	unsigned int nfuncs;
	uint8_t pam[7]; /* copy of host bridge 0x59..0x5f as last reported */
};

/* i440FX host bridge at 00:00.0, PIIX3 ISA bridge at 00:01.0, and with `ide` PIIX3 IDE 00:01.1. */
void pci_init(struct pci *p, const struct pc_env *env, bool ide);
void pci_io(struct pci *p, uint16_t port, uint8_t *data, uint32_t len, bool is_write);
struct pci_func *pci_find(struct pci *p, uint8_t devfn);

/* i440FX PAM register layout (config offset 0x59 + i). */
#define PAM_REG0 0x59
#define PAM_RE 0x1 /* read enable, low nibble; high nibble for the upper half */
#define PAM_WE 0x2

#endif /* PLUGVM_EXAMPLES_PC_PC_H */
